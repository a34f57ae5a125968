//! The newer console pages in a real headless Chromium against a real `tasker-server`
//! process: schedules (pause, trigger; a reader offered no action and refused a forged
//! POST), a running step's log growing in place without a reload, and run DAGs with a road
//! not taken and a collapsed batch that expands. Screenshots of each page are saved.

use reqwest::StatusCode;
use serde_json::json;

use super::webdriver::Browser;
use super::*;

/// A program that logs a line, works a moment, logs another and succeeds.
const TALKER: &str = r#"name: talker
namespace: ops
version: 1.0.0
steps:
  - name: talk
    handler:
      callable: builtin.command
      initialization:
        program: sh
        args: ["-c", "echo 'first line' >&2; sleep 3; echo 'second line' >&2; echo '{}'"]
"#;

async fn sign_in(browser: &Browser, console: &Console, key: &str) {
    browser.goto(&console.url("/ui/login")).await;
    browser.find("#credential").await.send_keys(key).await;
    browser.find("#signin").await.click().await;
    browser.wait_for("header .who").await;
}

#[tokio::test]
async fn schedules_step_logs_and_dynamic_runs_in_a_real_browser() {
    let console = Console::start_process(None, &role_file(true, ""), &[("talker.yaml", TALKER)]);
    let browser = Browser::start().await;
    sign_in(&browser, &console, ADMIN_KEY).await;

    // Schedules: pause, then trigger, from the schedule's page.
    let schedule = console.create_schedule("nightly sums").await;
    browser.goto(&console.url("/ui/schedules")).await;
    browser.wait_for("table#schedules").await;
    browser.screenshot("schedules").await;
    browser
        .find(&format!("a[href='/ui/schedules/{schedule}']"))
        .await
        .click()
        .await;
    browser
        .wait_for("#schedule-state[data-paused='false']")
        .await;
    browser.find("form.pause button").await.click().await;
    browser
        .wait_for("#schedule-state[data-paused='true']")
        .await;
    let api = console.api_get(&format!("/v1/schedules/{schedule}")).await;
    assert_eq!(api["paused"], true);
    browser.find("form.trigger button").await.click().await;
    browser.wait_for("table#runs tbody tr").await;
    let runs = browser.find("table#runs").await.text().await;
    assert!(runs.contains("triggered"), "{runs}");
    browser.screenshot("schedule").await;

    // A running step's log grows on the open page.
    let task = console
        .create_task(json!({"namespace": "ops", "name": "talker", "context": {}}))
        .await;
    let step = tasker_testkit::eventually("talk running", tasker_testkit::HANG_GUARD, async || {
        let steps = console
            .api_get(&format!("/v1/tasks/{task}/workflow_steps"))
            .await;
        match steps[0]["status"].as_str() {
            Some("in_progress") => Ok(steps[0]["step_uuid"].as_str().unwrap().to_owned()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    browser
        .goto(&console.url(&format!("/ui/tasks/{task}/steps/{step}")))
        .await;
    browser.wait_for("#log-state").await;
    browser
        .execute("document.body.setAttribute('data-probe', 'no-reload'); return 1;")
        .await;
    browser.wait_for("#step-log .line").await;
    browser.screenshot("step-log-running").await;
    browser.wait_for("#log-state[data-running='false']").await;
    let log = browser.find("#step-log").await.text().await;
    assert!(
        log.contains("first line") && log.contains("second line"),
        "{log}"
    );
    assert_eq!(
        browser
            .find("body")
            .await
            .attribute("data-probe")
            .await
            .as_deref(),
        Some("no-reload"),
        "the log updated in place"
    );
    browser.screenshot("step-log").await;

    // A decision's road not taken, and a batch of 25 copies as one box that expands.
    let routed = console
        .create_task(json!({"namespace": "examples", "name": "order_routing", "context": {"shipping": "express"}}))
        .await;
    console.wait_for(&routed, "complete").await;
    browser
        .goto(&console.url(&format!("/ui/tasks/{routed}")))
        .await;
    browser
        .wait_for("g[data-step='ship_standard'][data-state='not_created']")
        .await;
    browser.screenshot("task-decision").await;
    let summed = console
        .create_task(json!({"namespace": "examples", "name": "batch_sum", "context": {"from": 1, "to": 100, "parts": 25}}))
        .await;
    console.wait_for(&summed, "complete").await;
    browser
        .goto(&console.url(&format!("/ui/tasks/{summed}")))
        .await;
    browser
        .wait_for("g.k-batch-group[data-step='sum_part']")
        .await;
    assert!(
        browser
            .find_all("g[data-step='sum_part_00']")
            .await
            .is_empty()
    );
    browser.screenshot("task-batch").await;
    browser
        .find("g.k-batch-group[data-step='sum_part']")
        .await
        .click()
        .await;
    browser.wait_for("g[data-step='sum_part_24']").await;
    assert!(browser.current_url().await.contains("expand=sum_part"));
    assert_eq!(
        browser.find_all("g[data-step^='sum_part_']").await.len(),
        25
    );

    // A schedule reader is offered no action, and its forged POST is refused.
    browser.clear_cookies().await;
    sign_in(&browser, &console, SCHEDULE_READER_KEY).await;
    browser
        .goto(&console.url(&format!("/ui/schedules/{schedule}")))
        .await;
    browser.wait_for("#schedule-state").await;
    for form in ["form.pause", "form.resume", "form.trigger"] {
        assert!(browser.find_all(form).await.is_empty(), "{form} offered");
    }
    let reader = format!(
        "tasker_console={}",
        browser.cookie("tasker_console").await.unwrap()
    );
    let csrf = csrf_of(&browser.source().await);
    let forged = console
        .post(
            &format!("/ui/schedules/{schedule}/resume"),
            Some(&reader),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let api = console.api_get(&format!("/v1/schedules/{schedule}")).await;
    assert_eq!(api["paused"], true);
    browser.quit().await;
}
