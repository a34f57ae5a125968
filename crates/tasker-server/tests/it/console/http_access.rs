//! Who gets into the console and what they may do: sign-in with an API key or a bearer token,
//! the session cookie and what the store keeps of it, logout, foreign and forged cookies,
//! CSRF and `Origin` checks, pages and actions by permission, the open console.

use reqwest::StatusCode;
use serde_json::json;
use tasker_testkit::Token;

use super::*;

tasker_testkit::on_each_backend!(super::with_database =>
    signing_in_opens_a_session_and_signing_out_ends_it,
    cookies_of_other_databases_and_forged_cookies_are_refused,
    a_bearer_session_ends_no_later_than_its_token,
    csrf_and_origin_guard_every_post,
    pages_and_actions_follow_the_apis_permissions,
);

async fn signing_in_opens_a_session_and_signing_out_ends_it(database: Option<String>) {
    let console = Console::start(database.as_deref(), &role_file(true, "")).await;

    let anonymous = console.get("/ui/tasks?status=complete", None).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&anonymous),
        "/ui/login?next=/ui/tasks%3Fstatus%3Dcomplete"
    );

    let wrong = console
        .post(
            "/ui/login",
            None,
            &[("kind", "api_key"), ("credential", "sk-wrong")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(session_cookie(wrong.headers()), None);
    let body = wrong.text().await.unwrap();
    assert!(body.contains("Sign-in failed: Invalid API key"), "{body}");
    assert!(
        !body.contains("sk-wrong"),
        "the refused credential is echoed back: {body}"
    );

    let response = console
        .post(
            "/ui/login",
            None,
            &[
                ("kind", "api_key"),
                ("credential", ADMIN_KEY),
                ("next", "/ui/dlq"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/ui/dlq");
    let set = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set.contains("; Path=/ui; HttpOnly; SameSite=Strict; Max-Age="),
        "{set}"
    );
    assert!(!set.contains("Secure"), "no TLS, no Secure flag: {set}");
    let cookie = session_cookie(response.headers()).unwrap();
    assert!(!cookie.contains(ADMIN_KEY));

    let page = console.get("/ui/tasks", Some(&cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.headers()["content-security-policy"],
        "default-src 'self'; frame-ancestors 'none'"
    );
    let body = page.text().await.unwrap();
    assert!(
        body.contains("Signed in as <strong>Console admin</strong>"),
        "{body}"
    );
    assert!(!body.contains("<script>"), "no inline script");

    if database.is_none() {
        // The SQLite file holds neither the key nor the session id.
        let id = cookie.trim_start_matches("tasker_console=");
        for file in ["tasker.db", "tasker.db-wal"] {
            let bytes = std::fs::read(console.config.root().join(file)).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(ADMIN_KEY) && !text.contains(id),
                "{file} leaks"
            );
        }
    }

    let csrf = console.csrf("/ui/tasks", &cookie).await;
    let out = console
        .post("/ui/logout", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = console.get("/ui/tasks", Some(&cookie)).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert!(location(&after).starts_with("/ui/login"));
}

async fn cookies_of_other_databases_and_forged_cookies_are_refused(database: Option<String>) {
    let here = Console::start(database.as_deref(), &role_file(true, "")).await;
    let elsewhere = Console::start(None, &role_file(true, "")).await;
    let foreign = elsewhere.sign_in(ADMIN_KEY).await;
    assert_eq!(
        elsewhere.get("/ui/tasks", Some(&foreign)).await.status(),
        StatusCode::OK
    );
    let forged = format!("tasker_console={}", "A".repeat(43));
    for cookie in [foreign.as_str(), forged.as_str(), "tasker_console=short"] {
        let response = here.get("/ui/tasks", Some(cookie)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{cookie}");
        assert!(location(&response).starts_with("/ui/login"));
    }
}

async fn a_bearer_session_ends_no_later_than_its_token(database: Option<String>) {
    let console = Console::start(database.as_deref(), &role_file(true, "")).await;
    let exp = chrono::Utc::now().timestamp() + 600;
    let token = Token::with_permissions(&["tasks:list"])
        .claim("sub", json!("console-jwt"))
        .claim("exp", json!(exp))
        .sign();
    let response = console
        .post(
            "/ui/login",
            None,
            &[("kind", "bearer"), ("credential", &token)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let max_age: i64 = set
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age <= 600 && max_age > 0, "{set}");
    let cookie = session_cookie(response.headers()).unwrap();
    let body = console
        .get("/ui/tasks", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("console-jwt"), "{body}");

    let expired = Token::with_permissions(&["*"])
        .claim("exp", json!(chrono::Utc::now().timestamp() - 3600))
        .sign();
    let refused = console
        .post(
            "/ui/login",
            None,
            &[("kind", "bearer"), ("credential", &expired)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(session_cookie(refused.headers()), None);
}

async fn csrf_and_origin_guard_every_post(database: Option<String>) {
    let console = Console::start(database.as_deref(), &role_file(true, "")).await;
    let task = console.create_task(broken_task()).await;
    console.wait_for(&task, "blocked_by_failures").await;
    let cookie = console.sign_in(ADMIN_KEY).await;
    let csrf = console.csrf(&format!("/ui/tasks/{task}"), &cookie).await;
    let cancel = format!("/ui/tasks/{task}/cancel");

    let without = console.post(&cancel, Some(&cookie), &[]).await;
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    assert!(
        without
            .text()
            .await
            .unwrap()
            .contains("CSRF token is missing or wrong")
    );
    let wrong = console
        .post(&cancel, Some(&cookie), &[("csrf", &"0".repeat(64))])
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let other_site = console
        .post_from(
            &cancel,
            Some(&cookie),
            &[("csrf", &csrf)],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(other_site.status(), StatusCode::FORBIDDEN);
    let no_origin = console
        .post_from(&cancel, Some(&cookie), &[("csrf", &csrf)], None)
        .await;
    assert_eq!(no_origin.status(), StatusCode::FORBIDDEN);
    let foreign_login = console
        .post_from(
            "/ui/login",
            None,
            &[("kind", "api_key"), ("credential", ADMIN_KEY)],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(foreign_login.status(), StatusCode::FORBIDDEN);
    assert_eq!(session_cookie(foreign_login.headers()), None);
    assert_eq!(console.task_status(&task).await, "blocked_by_failures");

    let ok = console
        .post(&cancel, Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(console.task_status(&task).await, "cancelled");
}

async fn pages_and_actions_follow_the_apis_permissions(database: Option<String>) {
    let console = Console::start(database.as_deref(), &role_file(true, "")).await;
    let task = console.create_task(broken_task()).await;
    console.wait_for(&task, "blocked_by_failures").await;
    let entries = console.dlq_entries(&task).await;
    let entry = entries[0]["dlq_entry_uuid"].as_str().unwrap().to_owned();
    let step = entries[0]["step_uuid"].as_str().unwrap().to_owned();
    let page = format!("/ui/dlq/task/{task}");
    let resolve = format!("/ui/dlq/task/{task}/steps/{step}/resolve");

    let narrow = console.sign_in(NARROW_KEY).await;
    let list = console.get("/ui/tasks", Some(&narrow)).await;
    assert_eq!(list.status(), StatusCode::FORBIDDEN);
    assert!(
        list.text()
            .await
            .unwrap()
            .contains("Missing required permission: tasks:list")
    );
    assert_eq!(
        console
            .get(&format!("/ui/tasks/{task}"), Some(&narrow))
            .await
            .status(),
        StatusCode::OK
    );

    let reader = console.sign_in(READER_KEY).await;
    let body = console
        .get(&page, Some(&reader))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("max_retries_exceeded"), "{body}");
    assert!(
        !body.contains("/resolve") && !body.contains("Update entry"),
        "{body}"
    );
    let csrf = csrf_of(&body);
    let forged = console
        .post(&resolve, Some(&reader), &[("csrf", &csrf), ("reason", "x")])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        forged
            .text()
            .await
            .unwrap()
            .contains("Missing required permission: dlq:update")
    );
    let update = format!("/ui/dlq/entry/{entry}");
    let forged = console
        .post(
            &update,
            Some(&reader),
            &[("csrf", &csrf), ("resolution_status", "cancelled")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        console.dlq_entries(&task).await[0]["resolution_status"],
        "pending"
    );

    let admin = console.sign_in(ADMIN_KEY).await;
    let body = console.get(&page, Some(&admin)).await.text().await.unwrap();
    assert!(
        body.contains(&resolve) && body.contains("Update entry"),
        "{body}"
    );
    let csrf = csrf_of(&body);
    let done = console
        .post(
            &resolve,
            Some(&admin),
            &[("csrf", &csrf), ("reason", "checked")],
        )
        .await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap()
    );
    console.wait_for(&task, "complete").await;
    let entries = console.dlq_entries(&task).await;
    assert_eq!(entries[0]["resolution_status"], "manually_resolved");
}

#[tokio::test]
async fn with_auth_disabled_the_console_is_open_and_says_so() {
    let console = Console::start(None, &role_file(false, "")).await;
    let first = console.get("/ui/tasks", None).await;
    assert_eq!(location(&first), "/ui/login?next=/ui/tasks");
    let entered = console.get(&location(&first), None).await;
    assert_eq!(entered.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(entered.headers()).unwrap();
    let body = console
        .get("/ui/tasks", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("Authentication is disabled"), "{body}");
    assert!(!body.contains("Sign out"));
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let console = Console::start(None, &role_file(true, "enabled = false")).await;
    let response = console.get("/ui/login", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        console.get("/ui/assets/console.js", None).await.status(),
        StatusCode::NOT_FOUND
    );
}
