//! Signing in with a real OpenID Connect provider (`oidc-provider` under Node.js, started by
//! the test): in headless Chromium the operator signs in at the provider's login form,
//! consents, comes back to the console and sees the tasks as that subject, with the
//! permissions of the provider's access token (verified by the API's JWKS authenticator) and
//! a session ending no later than the token. Over HTTP: a callback with a wrong `state` is
//! refused and opens no session, a pending sign-in is used once, and a callback without one
//! is refused.

use reqwest::StatusCode;
use serde_json::json;

use super::provider::{AUDIENCE, CLIENT_ID, Provider};
use super::webdriver::Browser;
use super::*;

/// What the provider's access tokens allow: the task pages, not the DLQ.
const PERMISSIONS: [&str; 3] = ["tasks:list", "tasks:read", "steps:read"];

/// The role file of a console trusting the provider: its JWKS for bearer tokens and its
/// issuer for the console's OIDC sign-in; an admin API key for the test's own API calls.
fn oidc_role(issuer: &str, redirect: &str) -> String {
    format!(
        r#"[orchestration]
poll_interval_ms = 50
[worker]
poll_interval_ms = 50
[web.ui]
oidc_issuer = "{issuer}"
oidc_client_id = "{CLIENT_ID}"
oidc_redirect_url = "{redirect}"
[web.auth]
enabled = true
jwt_verification_method = "jwks"
jwks_url = "{issuer}/jwks"
jwt_issuer = "{issuer}"
jwt_audience = "{AUDIENCE}"
[[web.auth.api_keys]]
key = "{ADMIN_KEY}"
permissions = ["*"]
description = "Console admin"
"#
    )
}

/// A provider and a console (a real `tasker-server` process) that trust each other.
fn start() -> Option<(Provider, Console)> {
    if let Some(why) = super::provider::missing() {
        tasker_testkit::skip_or_fail("console OIDC sign-in", &why);
        return None;
    }
    let port = tasker_testkit::closed_port();
    let redirect = format!("http://127.0.0.1:{port}/ui/oidc/callback");
    let provider = Provider::start(&redirect, &PERMISSIONS);
    let bind = format!("127.0.0.1:{port}");
    let console = Console::start_process_env(
        None,
        &oidc_role(&provider.issuer, &redirect),
        &[],
        &[("TASKER_WEB_BIND_ADDRESS", &bind)],
    );
    Some((provider, console))
}

/// `name=value` of a `Set-Cookie` header naming `name`, unless it removes the cookie.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")) && !v.starts_with(&format!("{name}=;")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// The value of a query parameter of a URL.
fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn signing_in_with_a_real_oidc_provider_in_a_browser() {
    let Some((provider, console)) = start() else {
        return;
    };
    let task = console
        .create_task(json!({"namespace": "ops", "name": "broken", "context": {"who": "oidc"}}))
        .await;
    let browser = Browser::start().await;

    browser.goto(&console.url("/ui/tasks")).await;
    browser.wait_for("#oidc-signin").await;
    let button = browser.find("#oidc-signin").await.text().await;
    assert!(button.contains("127.0.0.1"), "{button}");
    browser.find("#oidc-signin").await.click().await;

    // The provider's own login form, then its consent page.
    browser.wait_for("input[name='login']").await;
    assert!(
        browser.current_url().await.starts_with(&provider.issuer),
        "{}",
        browser.current_url().await
    );
    browser.screenshot("oidc-provider-login").await;
    browser
        .find("input[name='login']")
        .await
        .send_keys("alice@example.com")
        .await;
    browser
        .find("input[name='password']")
        .await
        .send_keys("any password")
        .await;
    browser.find("button[type='submit']").await.click().await;
    browser
        .wait_for("input[name='prompt'][value='consent']")
        .await;
    browser.screenshot("oidc-provider-consent").await;
    browser.find("button[type='submit']").await.click().await;

    // Back in the console as the provider's subject.
    browser.wait_for("table#tasks").await;
    assert!(
        browser
            .current_url()
            .await
            .starts_with(&console.url("/ui/tasks")),
        "{}",
        browser.current_url().await
    );
    let who = browser.find("header .who strong").await.text().await;
    assert_eq!(who, "alice@example.com");
    let rows = browser.find("table#tasks").await.text().await;
    assert!(rows.contains("broken"), "{rows}");
    browser.screenshot("oidc-signed-in").await;

    // The session ends no later than the provider's access token (one hour), well before
    // the twelve hours of `session_hours`.
    let expiry = browser
        .cookie_expiry("tasker_console")
        .await
        .expect("the session cookie expires");
    let now = chrono::Utc::now().timestamp();
    assert!(expiry <= now + 3600 + 5, "expires at {expiry}, now {now}");
    assert!(expiry > now + 3000, "expires at {expiry}, now {now}");

    // The token's permissions are the operator's: the task opens, the DLQ is refused.
    browser
        .goto(&console.url(&format!("/ui/tasks/{task}")))
        .await;
    browser.wait_for("#task-status").await;
    let cookie = format!(
        "tasker_console={}",
        browser.cookie("tasker_console").await.unwrap()
    );
    let dlq = console.get("/ui/dlq", Some(&cookie)).await;
    assert_eq!(dlq.status(), StatusCode::FORBIDDEN);
    let page = console.get("/ui/tasks", Some(&cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);

    // Signing out ends it like any session.
    browser.goto(&console.url("/ui/tasks")).await;
    browser.find("header form button").await.click().await;
    browser.wait_for("#oidc-signin").await;
    let old = console.get("/ui/tasks", Some(&cookie)).await;
    assert_eq!(old.status(), StatusCode::SEE_OTHER);
    browser.quit().await;
}

#[tokio::test]
async fn a_callback_with_a_wrong_state_is_refused_and_a_pending_sign_in_is_used_once() {
    let Some((provider, console)) = start() else {
        return;
    };

    // No pending sign-in in this browser.
    let stray = console
        .get("/ui/oidc/callback?code=abc&state=def", None)
        .await;
    assert_eq!(stray.status(), StatusCode::BAD_REQUEST);
    assert_eq!(session_cookie(stray.headers()), None);

    // Starting: a pending-sign-in cookie for the callback only, and the provider's
    // authorization request with state, nonce and an S256 challenge.
    let started = console
        .post("/ui/oidc/start", None, &[("next", "/ui/templates")])
        .await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let target = location(&started);
    assert!(
        target.starts_with(&format!("{}/auth?", provider.issuer)),
        "{target}"
    );
    assert_eq!(
        query_param(&target, "client_id").as_deref(),
        Some(CLIENT_ID)
    );
    assert_eq!(
        query_param(&target, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_param(&target, "response_type").as_deref(),
        Some("code")
    );
    assert!(query_param(&target, "nonce").is_some_and(|n| n.len() >= 43));
    assert!(query_param(&target, "code_challenge").is_some_and(|c| c.len() == 43));
    let state = query_param(&target, "state").unwrap();
    let raw = started.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        raw.contains("Path=/ui/oidc/callback; HttpOnly; SameSite=Lax"),
        "{raw}"
    );
    assert!(
        !raw.contains(&state),
        "the state stays on the server: {raw}"
    );
    let pending = set_cookie(&started, "tasker_console_oidc").unwrap();

    // A wrong state: refused, no session, and the pending sign-in is spent.
    let forged = console
        .get(
            "/ui/oidc/callback?code=stolen&state=forged-state",
            Some(&pending),
        )
        .await;
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert_eq!(session_cookie(forged.headers()), None);
    let body = forged.text().await.unwrap();
    assert!(body.contains("state does not match"), "{body}");
    let replay = console
        .get(
            &format!("/ui/oidc/callback?code=stolen&state={state}"),
            Some(&pending),
        )
        .await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert_eq!(session_cookie(replay.headers()), None);

    // The provider refusing (the operator cancelled): a sign-in page, no session.
    let started = console.post("/ui/oidc/start", None, &[]).await;
    let state = query_param(&location(&started), "state").unwrap();
    let pending = set_cookie(&started, "tasker_console_oidc").unwrap();
    let denied = console
        .get(
            &format!(
                "/ui/oidc/callback?error=access_denied&state={state}&iss={}",
                provider.issuer
            ),
            Some(&pending),
        )
        .await;
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(session_cookie(denied.headers()), None);
    let body = denied.text().await.unwrap();
    assert!(
        body.contains("did not sign you in: access_denied"),
        "{body}"
    );

    // A forged code with the right state: the provider refuses the exchange.
    let started = console.post("/ui/oidc/start", None, &[]).await;
    let state = query_param(&location(&started), "state").unwrap();
    let pending = set_cookie(&started, "tasker_console_oidc").unwrap();
    let bad_code = console
        .get(
            &format!("/ui/oidc/callback?code=made-up&state={state}"),
            Some(&pending),
        )
        .await;
    assert_eq!(bad_code.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(session_cookie(bad_code.headers()), None);
    let body = bad_code.text().await.unwrap();
    assert!(body.contains("refused the code: invalid_grant"), "{body}");

    // Starting from another site's page is refused like every console POST.
    let cross = console
        .post_from("/ui/oidc/start", None, &[], Some("http://evil.example"))
        .await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
}
