//! `Authenticator::reload`: the whole auth state is replaced, a JWKS at the same URL keeps
//! its loaded keys (no 503 window), a new URL is fetched afresh, and a refused reload changes
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use tasker_auth::Authenticator;
use tasker_config::{ApiKeyConfig, AuthConfig, Secret, VerificationMethod};
use tasker_testkit::Token;

use crate::jwks_server::JwksServer;

fn config(url: &str, api_key: &str) -> AuthConfig {
    AuthConfig {
        enabled: true,
        jwt_verification_method: VerificationMethod::Jwks,
        jwks_url: url.to_owned(),
        api_keys: vec![ApiKeyConfig {
            key: Some(Secret::new(api_key)),
            permissions: vec!["*".into()],
            description: "api key".into(),
            ..ApiKeyConfig::default()
        }],
        ..AuthConfig::default()
    }
}

fn bearer(kid: &str, key: &str) -> HeaderMap {
    let token = Token::with_permissions(&["tasks:read"])
        .header(|h| h.kid = Some(kid.into()))
        .signed_by(key)
        .sign();
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

fn api_key(key: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_str(key).unwrap());
    headers
}

async fn wait_until(auth: &Authenticator, headers: &HeaderMap) {
    for _ in 0..400 {
        if auth.authenticate(headers).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never accepted");
}

#[tokio::test]
async fn a_jwks_at_the_same_url_keeps_its_keys_and_api_keys_are_swapped() {
    let server = JwksServer::start(&["rsa-a"]).await;
    let auth = Arc::new(Authenticator::from_config(&config(&server.url(), "sk-old")).unwrap());
    auth.start_background();
    let token = bearer("rsa-a", "rsa-a-private.pem");
    wait_until(&auth, &token).await;

    // The provider is down during the reload: the loaded keys carry over.
    server.set_status(503);
    auth.reload(&config(&server.url(), "sk-new")).unwrap();
    assert_eq!(auth.jwks_status(), Some((true, 1)));
    assert!(auth.authenticate(&token).await.is_ok());
    assert!(auth.authenticate(&api_key("sk-new")).await.is_ok());
    assert_eq!(
        auth.authenticate(&api_key("sk-old"))
            .await
            .unwrap_err()
            .to_string(),
        "Invalid API key"
    );
}

#[tokio::test]
async fn a_new_jwks_url_is_fetched_and_the_old_keys_stop_verifying() {
    let first = JwksServer::start(&["rsa-a"]).await;
    let second = JwksServer::start(&["rsa-b"]).await;
    let auth = Arc::new(Authenticator::from_config(&config(&first.url(), "sk")).unwrap());
    auth.start_background();
    let old = bearer("rsa-a", "rsa-a-private.pem");
    wait_until(&auth, &old).await;

    auth.reload(&config(&second.url(), "sk")).unwrap();
    let new = bearer("rsa-b", "rsa-b-private.pem");
    wait_until(&auth, &new).await;
    assert_eq!(
        auth.authenticate(&old).await.unwrap_err().to_string(),
        "Token signing key is unknown"
    );
}

#[tokio::test]
async fn a_refused_reload_changes_nothing() {
    let server = JwksServer::start(&["rsa-a"]).await;
    let auth = Authenticator::from_config(&config(&server.url(), "sk-old")).unwrap();
    let mut renamed = config(&server.url(), "sk-new");
    renamed.api_key_header = "X-Other-Key".into();
    let err = auth.reload(&renamed).unwrap_err();
    assert_eq!(err.key, "web.auth.api_key_header");
    let mut off = config(&server.url(), "sk-new");
    off.enabled = false;
    assert_eq!(auth.reload(&off).unwrap_err().key, "web.auth.enabled");
    let mut bad = config(&server.url(), "sk-new");
    bad.jwt_allowed_algorithms = vec!["HS256".into()];
    assert_eq!(
        auth.reload(&bad).unwrap_err().key,
        "web.auth.jwt_allowed_algorithms"
    );
    assert!(auth.authenticate(&api_key("sk-old")).await.is_ok());
    assert!(auth.authenticate(&api_key("sk-new")).await.is_err());
}
