//! Token hygiene on the real binary: a `crit` header, an `iss` array, a repeated claim or
//! header member, and (with `jwt_max_lifetime_seconds`) a missing `iat` or a lifetime over the
//! limit are each refused with 401 and its own message. A non-Bearer `Authorization` header
//! decides the request even next to a valid API key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::json;
use tasker_testkit::{Token, fixture_text};

use crate::*;

/// A compact token over exactly these header and payload bytes, signed by fixture `rsa-a`
/// (the JWT library would never serialize a repeated member).
fn sign_raw(header: &str, payload: &str) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = EncodingKey::from_rsa_pem(fixture_text("rsa-a-private.pem").as_bytes()).unwrap();
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::RS256).unwrap();
    format!("{message}.{signature}")
}

async fn assert_refused(server: &ServerProcess, token: &str, message: &str) {
    let response = get(
        server,
        "/config",
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        message,
        Some(BAD_TOKEN_CHALLENGE),
    )
    .await;
}

async fn assert_accepted(server: &ServerProcess, token: &str) {
    let response = get(
        server,
        "/config",
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Valid claims granting `permissions` (a JSON array), then `extra` members.
fn payload(now: i64, permissions: &str, extra: &str) -> String {
    format!(
        r#"{{"sub":"test-user","iss":"tasker-core","aud":"tasker-api","iat":{now},"exp":{},"permissions":{permissions}{extra}}}"#,
        now + 600
    )
}

#[tokio::test]
async fn a_crit_header_is_refused() {
    let (server, _config) = start(SERVER, "orchestration", &auth_config("", ""));
    let good = Token::with_permissions(&["*"]);
    let crit = good
        .clone()
        .header(|h| h.crit = Some(vec!["exp".into()]))
        .sign();
    assert_refused(
        &server,
        &crit,
        "Token header has critical parameters (crit) this server does not understand",
    )
    .await;
    assert_accepted(&server, &good.sign()).await;
}

#[tokio::test]
async fn an_issuer_array_is_refused_even_when_it_holds_only_the_issuer() {
    let (server, _config) = start(SERVER, "orchestration", &auth_config("", ""));
    let array = Token::with_permissions(&["*"])
        .claim("iss", json!(["tasker-core"]))
        .sign();
    assert_refused(&server, &array, "Token claim `iss` must be a string").await;
}

#[tokio::test]
async fn repeated_claims_and_header_members_are_refused() {
    let (server, _config) = start(SERVER, "orchestration", &auth_config("", ""));
    let now = chrono::Utc::now().timestamp();
    let header = r#"{"alg":"RS256","typ":"JWT"}"#;
    // Signed this way without a repeat, the claims are accepted.
    assert_accepted(&server, &sign_raw(header, &payload(now, r#"["*"]"#, ""))).await;
    // Last-one-wins parsing would grant `*` here.
    let escalated = payload(now, r#"["tasks:read"]"#, r#","permissions":["*"]"#);
    assert_refused(
        &server,
        &sign_raw(header, &escalated),
        "Token has duplicate claims",
    )
    .await;
    let escaped = payload(now, r#"["*"]"#, r#","\u0073ub":"admin""#);
    assert_refused(
        &server,
        &sign_raw(header, &escaped),
        "Token has duplicate claims",
    )
    .await;
    let nested = payload(now, r#"["*"]"#, r#","ctx":{"a":1,"a":2}"#);
    assert_refused(
        &server,
        &sign_raw(header, &nested),
        "Token has duplicate claims",
    )
    .await;
    assert_refused(
        &server,
        &sign_raw(
            r#"{"alg":"RS256","typ":"JWT","typ":"at+jwt"}"#,
            &payload(now, r#"["*"]"#, ""),
        ),
        "Token header has duplicate members",
    )
    .await;
}

#[tokio::test]
async fn max_lifetime_refuses_longer_tokens_and_requires_iat() {
    let (server, _config) = start(
        SERVER,
        "orchestration",
        &auth_config("jwt_max_lifetime_seconds = 3600", ""),
    );
    let now = chrono::Utc::now().timestamp();
    let good = Token::with_permissions(&["*"]);
    assert_accepted(
        &server,
        &good.clone().claim("exp", json!(now + 3600)).sign(),
    )
    .await;
    assert_refused(
        &server,
        &good.clone().claim("exp", json!(now + 3601)).sign(),
        "Token lifetime (exp - iat) exceeds 3600 seconds",
    )
    .await;
    assert_refused(
        &server,
        &good.clone().without("iat").sign(),
        "Token is missing the `iat` claim",
    )
    .await;
    assert_refused(
        &server,
        &good.clone().claim("iat", json!("yesterday")).sign(),
        "Token claim `iat` has an invalid format",
    )
    .await;
}

#[tokio::test]
async fn without_a_lifetime_limit_iat_stays_optional() {
    let (server, _config) = start(SERVER, "orchestration", &auth_config("", ""));
    let now = chrono::Utc::now().timestamp();
    let long = Token::with_permissions(&["*"])
        .without("iat")
        .claim("exp", json!(now + 30 * 86_400))
        .sign();
    assert_accepted(&server, &long).await;
}

#[tokio::test]
async fn a_non_bearer_authorization_header_decides_even_next_to_a_valid_api_key() {
    let (server, _config) = start(SERVER, "orchestration", &auth_config("", ""));
    let response = get(
        &server,
        "/config",
        &[
            ("Authorization", "Basic dXNlcjpwYXNz"),
            ("X-API-Key", "sk-test-admin-key"),
        ],
    )
    .await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unsupported Authorization scheme (expected Bearer)",
        Some(BAD_TOKEN_CHALLENGE),
    )
    .await;
}
