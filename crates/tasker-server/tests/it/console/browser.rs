//! The console in a real headless Chromium against a real `tasker-server` process: signing in
//! (a wrong key gets an error and no session), a diamond's DAG going from running to complete
//! without a reload, resolving a DLQ'd step and seeing the task resume, a reader offered no
//! resolve action and refused a forged POST, a POST without CSRF token refused, and logout
//! ending the session. A screenshot of each page is saved under the target directory.

use reqwest::StatusCode;
use serde_json::json;

use super::webdriver::Browser;
use super::*;

/// A diamond whose branches take a moment, so the browser sees it running.
const SLOW_DIAMOND: &str = r#"name: slow_diamond
namespace: ops
version: 1.0.0
description: A diamond with sleeping branches.
steps:
  - name: start
    handler: { callable: builtin.echo }
  - name: left
    handler: { callable: builtin.sleep, initialization: { ms: 1500 } }
    depends_on: [start]
  - name: right
    handler: { callable: builtin.sleep, initialization: { ms: 1500 } }
    depends_on: [start]
  - name: join
    handler: { callable: builtin.echo }
    depends_on: [left, right]
"#;

async fn sign_in(browser: &Browser, console: &Console, key: &str) {
    browser.goto(&console.url("/ui/login")).await;
    browser.find("#credential").await.send_keys(key).await;
    browser.find("#signin").await.click().await;
}

#[tokio::test]
async fn the_console_in_a_real_browser() {
    let console = Console::start_process(
        None,
        &role_file(true, ""),
        &[("slow_diamond.yaml", SLOW_DIAMOND)],
    );
    let browser = Browser::start().await;

    // A wrong key: an error on the page and no session cookie.
    browser.goto(&console.url("/ui/tasks")).await;
    browser.wait_for("#credential").await;
    browser.screenshot("signin").await;
    sign_in(&browser, &console, "sk-wrong").await;
    let error = browser.find("#signin-error").await.text().await;
    assert!(error.contains("Sign-in failed"), "{error}");
    assert_eq!(browser.cookie("tasker_console").await, None);

    sign_in(&browser, &console, ADMIN_KEY).await;
    browser.wait_for("table#tasks").await;
    let cookie = format!(
        "tasker_console={}",
        browser.cookie("tasker_console").await.unwrap()
    );

    // A diamond goes from running to complete on the open page.
    let task = console
        .create_task(
            json!({"namespace": "ops", "name": "slow_diamond", "context": {"note": "diamond"}}),
        )
        .await;
    browser
        .goto(&console.url(&format!("/ui/tasks/{task}")))
        .await;
    browser.wait_for("#dag svg g[data-step='join']").await;
    let join = browser.find("g[data-step='join']").await;
    assert_ne!(
        join.attribute("data-state").await.as_deref(),
        Some("complete")
    );
    browser
        .execute("document.body.setAttribute('data-probe', 'no-reload'); return 1;")
        .await;
    browser.screenshot("task-running").await;
    browser
        .wait_for("g[data-step='join'][data-state='complete']")
        .await;
    browser
        .wait_for("#task-status[data-status='complete']")
        .await;
    assert_eq!(
        browser
            .find("body")
            .await
            .attribute("data-probe")
            .await
            .as_deref(),
        Some("no-reload"),
        "the page updated in place"
    );
    browser.screenshot("task").await;
    browser.find("g[data-step='left']").await;
    browser.goto(&console.url("/ui/tasks")).await;
    browser.screenshot("tasks").await;

    // A DLQ'd step resolved from the console; the task resumes.
    let broken = console.create_task(broken_task()).await;
    console.wait_for(&broken, "blocked_by_failures").await;
    browser.goto(&console.url("/ui/dlq")).await;
    browser.wait_for("table#dlq").await;
    browser.screenshot("dlq").await;
    browser
        .goto(&console.url(&format!("/ui/dlq/task/{broken}")))
        .await;
    browser.screenshot("dlq-entry").await;
    browser
        .find("form.resolve input[name='reason']")
        .await
        .send_keys("checked by hand")
        .await;
    browser.find("form.resolve button").await.click().await;
    console.wait_for(&broken, "complete").await;
    browser
        .goto(&console.url(&format!("/ui/tasks/{broken}")))
        .await;
    browser
        .wait_for("#task-status[data-status='complete']")
        .await;
    let step = browser.find("g[data-step='explode']").await;
    assert_eq!(
        step.attribute("data-state").await.as_deref(),
        Some("resolved_manually")
    );
    browser.find("#steps a").await.click().await;
    browser.wait_for("#audit").await;
    browser.screenshot("step").await;

    for (page, name) in [
        ("/ui/templates/ops/slow_diamond/1.0.0", "template"),
        ("/ui/system", "system"),
    ] {
        browser.goto(&console.url(page)).await;
        browser.wait_for("main h1").await;
        browser.screenshot(name).await;
    }

    // Without the CSRF token a POST is refused, with the browser's own session.
    let refused = console
        .post(&format!("/ui/tasks/{task}/cancel"), Some(&cookie), &[])
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Logout ends the session: the old cookie no longer works.
    browser.goto(&console.url("/ui/tasks")).await;
    browser.find("header form button").await.click().await;
    browser.wait_for("#credential").await;
    let old = console.get("/ui/tasks", Some(&cookie)).await;
    assert_eq!(old.status(), StatusCode::SEE_OTHER);

    // A reader is offered no resolve action, and its forged POST is refused.
    let another = console.create_task(broken_task()).await;
    console.wait_for(&another, "blocked_by_failures").await;
    browser.clear_cookies().await;
    sign_in(&browser, &console, READER_KEY).await;
    browser.wait_for("table#tasks").await;
    browser
        .goto(&console.url(&format!("/ui/dlq/task/{another}")))
        .await;
    browser.wait_for("section.entry").await;
    assert!(browser.find_all("form.resolve").await.is_empty());
    assert!(browser.find_all("form.update").await.is_empty());
    let reader = format!(
        "tasker_console={}",
        browser.cookie("tasker_console").await.unwrap()
    );
    let csrf = csrf_of(&browser.source().await);
    let step = console.dlq_entries(&another).await[0]["step_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = console
        .post(
            &format!("/ui/dlq/task/{another}/steps/{step}/resolve"),
            Some(&reader),
            &[("csrf", &csrf), ("reason", "forged")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(console.task_status(&another).await, "blocked_by_failures");
    browser.quit().await;
}
