//! Hostile input: HTML planted in a template's description, a task's context, reason and tags,
//! a step's result and its error message is escaped on every page; oversized, mistyped and
//! malformed posts and bad addresses get 400 and 413 pages, never a 5xx.

use reqwest::StatusCode;
use serde_json::json;

use super::*;

tasker_testkit::on_each_backend!(super::with_database =>
    html_in_every_field_is_escaped_on_every_page,
    bad_forms_and_addresses_get_4xx_pages,
);

const PLANTED: &str = "<script>alert('planted')</script>";

async fn html_in_every_field_is_escaped_on_every_page(database: Option<String>) {
    let console = Console::start(database.as_deref(), &role_file(true, "")).await;
    let task = console
        .create_task(json!({
            "namespace": "ops", "name": "hostile",
            "context": {"note": PLANTED},
            "reason": PLANTED, "tags": [PLANTED],
        }))
        .await;
    console.wait_for(&task, "blocked_by_failures").await;
    let cookie = console.sign_in(ADMIN_KEY).await;
    let steps = console
        .api_get(&format!("/v1/tasks/{task}/workflow_steps"))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut pages = vec![
        "/ui/tasks".to_owned(),
        format!("/ui/tasks/{task}"),
        format!("/ui/tasks/{task}/live"),
        format!("/ui/dlq/task/{task}"),
        "/ui/dlq".to_owned(),
        "/ui/templates".to_owned(),
        "/ui/templates/ops/hostile/1.0.0".to_owned(),
        "/ui/system".to_owned(),
    ];
    for step in &steps {
        pages.push(format!(
            "/ui/tasks/{task}/steps/{}",
            step["step_uuid"].as_str().unwrap()
        ));
    }
    let mut escaped_seen = 0;
    for page in &pages {
        let response = console.get(page, Some(&cookie)).await;
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("<script>alert"),
            "{page} is not escaped:\n{body}"
        );
        escaped_seen += body.matches("&lt;script&gt;alert").count();
    }
    // Description (2 pages), reason, tags, context, result, error, snapshot: each shown.
    assert!(
        escaped_seen >= 8,
        "the planted values are shown escaped ({escaped_seen})"
    );
    let step_pages: Vec<String> = futures_bodies(&console, &pages[8..], &cookie).await;
    assert!(
        step_pages
            .iter()
            .any(|b| b.contains("&lt;script&gt;alert('error')")),
        "error message"
    );
    assert!(
        step_pages
            .iter()
            .any(|b| b.contains("&lt;script&gt;alert('planted')")),
        "result"
    );
}

async fn futures_bodies(console: &Console, pages: &[String], cookie: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    for page in pages {
        bodies.push(console.get(page, Some(cookie)).await.text().await.unwrap());
    }
    bodies
}

async fn bad_forms_and_addresses_get_4xx_pages(database: Option<String>) {
    let console = Console::start(database.as_deref(), &role_file(true, "")).await;
    let task = console.create_task(broken_task()).await;
    console.wait_for(&task, "blocked_by_failures").await;
    let cookie = console.sign_in(ADMIN_KEY).await;
    let step = console.dlq_entries(&task).await[0]["step_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let csrf = console.csrf(&format!("/ui/tasks/{task}"), &cookie).await;
    let action = format!("/ui/tasks/{task}/steps/{step}/action");

    let huge = "x".repeat(20 * 1024);
    let big = console
        .post(
            &action,
            Some(&cookie),
            &[("csrf", &csrf), ("reason", &huge)],
        )
        .await;
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        big.text()
            .await
            .unwrap()
            .contains("larger than 16384 bytes")
    );
    let big_login = console
        .post("/ui/login", None, &[("credential", &huge)])
        .await;
    assert_eq!(big_login.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let not_json = console
        .post(
            &action,
            Some(&cookie),
            &[
                ("csrf", &csrf),
                ("action", "complete_manually"),
                ("result", "{nope"),
            ],
        )
        .await;
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert!(
        not_json
            .text()
            .await
            .unwrap()
            .contains("The result is not JSON")
    );
    let unknown = console
        .post(
            &action,
            Some(&cookie),
            &[("csrf", &csrf), ("action", "explode")],
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let missing = console
        .post(&action, Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert!(
        missing.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    let json_body = reqwest::Client::new()
        .post(console.url(&action))
        .header("cookie", &cookie)
        .header("origin", console.origin())
        .header("content-type", "application/json")
        .body(r#"{"csrf":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), StatusCode::BAD_REQUEST);

    for (path, status) in [
        ("/ui/tasks/not-a-uuid", StatusCode::BAD_REQUEST),
        ("/ui/tasks?status=exploded", StatusCode::BAD_REQUEST),
        ("/ui/tasks?page=-1", StatusCode::BAD_REQUEST),
        (
            "/ui/tasks/00000000-0000-0000-0000-000000000000",
            StatusCode::NOT_FOUND,
        ),
        ("/ui/nowhere", StatusCode::NOT_FOUND),
    ] {
        let response = console.get(path, Some(&cookie)).await;
        assert_eq!(response.status(), status, "{path}");
        assert!(
            response.text().await.unwrap().contains("<h1>"),
            "{path} is an HTML page"
        );
    }
    assert_eq!(console.task_status(&task).await, "blocked_by_failures");
}
