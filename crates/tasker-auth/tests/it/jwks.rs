//! JWKS verification: key types, rotation, unknown-kid storms, outages, provider token shapes,
//! and bad documents — against a real key server over loopback.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use jsonwebtoken::Algorithm;
use serde_json::json;
use tasker_auth::{AuthError, Authenticator, FailureReason};
use tasker_config::{ApiKeyConfig, AuthConfig, Secret, VerificationMethod};
use tasker_testkit::{HANG_GUARD, JwksServer, Token, eventually};

fn jwks_config(url: &str) -> AuthConfig {
    AuthConfig {
        enabled: true,
        jwt_verification_method: VerificationMethod::Jwks,
        jwks_url: url.to_owned(),
        jwks_min_refresh_interval_seconds: 30,
        jwt_allowed_algorithms: ["RS256", "ES256", "ES384", "EdDSA"]
            .map(String::from)
            .to_vec(),
        api_keys: vec![ApiKeyConfig {
            key: Some(Secret::new("sk-jwks-test")),
            permissions: vec!["*".into()],
            description: "api key".into(),
            ..ApiKeyConfig::default()
        }],
        ..AuthConfig::default()
    }
}

fn token(kid: &str, alg: Algorithm, key: &str) -> String {
    Token::with_permissions(&["tasks:read"])
        .header(|h| {
            h.alg = alg;
            h.kid = Some(kid.into());
        })
        .signed_by(key)
        .sign()
}

fn rsa(kid: &str, key: &str) -> String {
    token(kid, Algorithm::RS256, key)
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

async fn started(config: AuthConfig) -> Arc<Authenticator> {
    let auth = Arc::new(Authenticator::from_config(&config).unwrap());
    auth.start_background();
    auth
}

async fn wait_loaded(auth: &Authenticator) {
    eventually("the JWKS to load", HANG_GUARD, async || {
        match auth.jwks_status() {
            Some((true, keys)) => Ok(keys),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

fn message(result: Result<Arc<tasker_auth::Principal>, AuthError>) -> String {
    result.unwrap_err().to_string()
}

#[tokio::test]
async fn every_supported_key_type_verifies_and_alg_must_match() {
    let server = JwksServer::start(&["rsa-a", "ec-p256", "ec-p384", "ed25519"]);
    let auth = started(jwks_config(&server.url())).await;
    wait_loaded(&auth).await;
    for (kid, alg, key) in [
        ("rsa-a", Algorithm::RS256, "rsa-a-private.pem"),
        ("ec-p256", Algorithm::ES256, "ec-p256-private.pem"),
        ("ec-p384", Algorithm::ES384, "ec-p384-private.pem"),
        ("ed25519", Algorithm::EdDSA, "ed25519-private.pem"),
    ] {
        let principal = auth.authenticate(&bearer(&token(kid, alg, key))).await;
        assert!(principal.is_ok(), "{kid}: {principal:?}");
    }
    // RSA token presented under an EC key's kid.
    let mismatched = rsa("ec-p256", "rsa-a-private.pem");
    assert_eq!(
        message(auth.authenticate(&bearer(&mismatched)).await),
        "Token algorithm does not match the signing key"
    );
    // The JWK says RS256; a PS256 token under it is refused even though the key is RSA.
    let mut strict = jwks_config(&server.url());
    strict.jwt_allowed_algorithms = vec!["RS256".into(), "PS256".into()];
    let auth = started(strict).await;
    wait_loaded(&auth).await;
    let ps = token("rsa-a", Algorithm::PS256, "rsa-a-private.pem");
    assert_eq!(
        message(auth.authenticate(&bearer(&ps)).await),
        "Token algorithm does not match the signing key"
    );
    let es = token("ec-p256", Algorithm::ES256, "ec-p256-private.pem");
    assert_eq!(
        message(auth.authenticate(&bearer(&es)).await),
        "Token algorithm ES256 is not allowed"
    );
}

#[tokio::test]
async fn rotation_new_kid_triggers_refresh_and_removed_keys_stop_verifying() {
    let server = JwksServer::start(&["rsa-a"]);
    let mut config = jwks_config(&server.url());
    config.jwks_min_refresh_interval_seconds = 0;
    let auth = started(config).await;
    wait_loaded(&auth).await;
    let old = rsa("rsa-a", "rsa-a-private.pem");
    assert!(auth.authenticate(&bearer(&old)).await.is_ok());
    let fetches = server.fetches();

    server.serve_keys(&["rsa-a", "rsa-b"]);
    let new = rsa("rsa-b", "rsa-b-private.pem");
    assert!(
        auth.authenticate(&bearer(&new)).await.is_ok(),
        "unknown kid refreshes at once"
    );
    assert_eq!(server.fetches(), fetches + 1);

    server.serve_keys(&["rsa-b"]);
    // The next refresh (here triggered by another unknown kid) drops rsa-a.
    let forged = rsa("nobody", "rsa-a-private.pem");
    assert!(auth.authenticate(&bearer(&forged)).await.is_err());
    let result = auth.authenticate(&bearer(&old)).await;
    assert!(
        result.is_err(),
        "a token cached under a removed key must not verify"
    );
    assert!(auth.authenticate(&bearer(&new)).await.is_ok());
}

#[tokio::test]
async fn unknown_kid_storm_costs_one_fetch_per_cooldown() {
    let server = JwksServer::start(&["rsa-a"]);
    let auth = started(jwks_config(&server.url())).await;
    wait_loaded(&auth).await;
    let before = server.fetches();
    server.set_delay(Duration::from_millis(200));
    let known = rsa("rsa-a", "rsa-a-private.pem");
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let auth = auth.clone();
        let forged = rsa(
            &format!("forged-{}-{}", i, rand::random::<u32>()),
            "rsa-a-private.pem",
        );
        tasks.push(tokio::spawn(async move {
            auth.authenticate(&bearer(&forged)).await.is_ok()
        }));
    }
    for _ in 0..50 {
        assert!(
            auth.authenticate(&bearer(&known)).await.is_ok(),
            "known kids keep working during a storm"
        );
    }
    for task in tasks {
        assert!(!task.await.unwrap(), "forged kids are refused");
    }
    // The first forged kid refreshes once (the cooldown has not started: only the start-up
    // fetch happened); every other one shares that fetch or meets the cooldown.
    assert_eq!(
        server.fetches() - before,
        1,
        "fetches for one storm of 1000 unknown kids"
    );
}

#[tokio::test]
async fn provider_down_at_startup_gives_503_then_recovers_without_restart() {
    let server = JwksServer::start(&["rsa-a"]);
    server.set_status(500);
    let auth = started(jwks_config(&server.url())).await;
    // The provider has been asked (and answered 500) before the first request is judged.
    eventually("the start-up fetch", HANG_GUARD, async || {
        let fetches = server.fetches();
        if fetches > 0 {
            Ok(())
        } else {
            Err("no fetch yet")
        }
    })
    .await;
    let token = rsa("rsa-a", "rsa-a-private.pem");
    let err = auth.authenticate(&bearer(&token)).await.unwrap_err();
    assert!(matches!(err, AuthError::Unavailable(_)), "{err:?}");
    assert_eq!(err.reason(), Some(FailureReason::JwksUnavailable));
    let mut api = HeaderMap::new();
    api.insert("x-api-key", HeaderValue::from_static("sk-jwks-test"));
    assert!(
        auth.authenticate(&api).await.is_ok(),
        "API keys work while the JWKS is down"
    );
    assert_eq!(auth.jwks_status(), Some((false, 0)));

    server.set_status(200);
    wait_loaded(&auth).await;
    assert!(auth.authenticate(&bearer(&token)).await.is_ok());
}

#[tokio::test]
async fn provider_down_mid_run_and_bad_documents_keep_the_last_good_set() {
    let server = JwksServer::start(&["rsa-a"]);
    let mut config = jwks_config(&server.url());
    config.jwks_min_refresh_interval_seconds = 0;
    let auth = started(config).await;
    wait_loaded(&auth).await;
    let token = rsa("rsa-a", "rsa-a-private.pem");
    let bad_documents: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        br#"{"keys": {}}"#.to_vec(),
        br#"{"keys": []}"#.to_vec(),
        br#"{"keys": [{"kty": "RSA", "kid": "x", "n": "%%%", "e": "AQAB"}]}"#.to_vec(),
        format!(r#"{{"keys": [], "pad": "{}"}}"#, "x".repeat(300 * 1024)).into_bytes(),
    ];
    for (i, body) in bad_documents.into_iter().enumerate() {
        server.serve_raw(body);
        let forged = rsa(&format!("trigger-{i}"), "rsa-a-private.pem");
        assert!(auth.authenticate(&bearer(&forged)).await.is_err());
        assert!(
            auth.authenticate(&bearer(&token)).await.is_ok(),
            "document {i} replaced the good set"
        );
        assert_eq!(auth.jwks_status(), Some((true, 1)));
    }
    server.set_status(503);
    let forged = rsa("trigger-down", "rsa-a-private.pem");
    assert!(auth.authenticate(&bearer(&forged)).await.is_err());
    let fresh = Token::with_permissions(&["tasks:list"])
        .header(|h| h.kid = Some("rsa-a".into()))
        .sign();
    assert!(
        auth.authenticate(&bearer(&fresh)).await.is_ok(),
        "known keys verify while the provider is down"
    );
}

#[tokio::test]
async fn real_provider_token_shapes() {
    let server = JwksServer::start(&["rsa-a"]);
    let mut okta = jwks_config(&server.url());
    okta.permissions_claim = "scp".into();
    okta.jwt_issuer = "https://dev-1.okta.com/oauth2/default".into();
    let auth = started(okta).await;
    wait_loaded(&auth).await;
    let token = Token::with_permissions(&[])
        .without("permissions")
        .claim("iss", json!("https://dev-1.okta.com/oauth2/default"))
        .claim("aud", json!(["api://default", "tasker-api"]))
        .claim("scp", json!("tasks:read tasks:list"))
        .header(|h| {
            h.kid = Some("rsa-a".into());
            h.typ = Some("at+jwt".into());
        })
        .sign();
    let principal = auth.authenticate(&bearer(&token)).await.unwrap();
    assert!(principal.allows(tasker_proto::Permission::TasksList));
    assert!(!principal.allows(tasker_proto::Permission::TasksCreate));

    let mut keycloak = jwks_config(&server.url());
    keycloak.permissions_claim = "realm_access.roles".into();
    let auth = started(keycloak).await;
    wait_loaded(&auth).await;
    let token = Token::with_permissions(&[])
        .claim("realm_access", json!({"roles": ["dlq:*"]}))
        .header(|h| h.kid = Some("rsa-a".into()))
        .sign();
    let principal = auth.authenticate(&bearer(&token)).await.unwrap();
    assert!(principal.allows(tasker_proto::Permission::DlqUpdate));
}

#[tokio::test]
async fn kid_is_required_when_the_set_has_several_keys() {
    let server = JwksServer::start(&["rsa-a", "rsa-b"]);
    let auth = started(jwks_config(&server.url())).await;
    wait_loaded(&auth).await;
    let token = Token::with_permissions(&["tasks:read"]).sign();
    assert_eq!(
        message(auth.authenticate(&bearer(&token)).await),
        "Token has no key id (kid) and the key set has several keys"
    );
}

#[tokio::test]
async fn a_flapping_provider_never_fails_requests_signed_by_known_keys() {
    let server = Arc::new(JwksServer::start(&["rsa-a", "rsa-b"]));
    let mut config = jwks_config(&server.url());
    config.jwks_min_refresh_interval_seconds = 0;
    config.jwks_refresh_interval_seconds = 1;
    let auth = started(config).await;
    wait_loaded(&auth).await;
    let flapper = {
        let server = server.clone();
        tokio::spawn(async move {
            for round in 0..60u32 {
                match round % 4 {
                    0 => server.set_status(503),
                    1 => server.serve_raw(b"{\"keys\": \"garbage\"}".to_vec()),
                    2 => server.set_status(200),
                    _ => server.serve_keys(&["rsa-a", "rsa-b"]),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            server.set_status(200);
            server.serve_keys(&["rsa-a", "rsa-b"]);
        })
    };
    let mut clients = Vec::new();
    for client in 0..8u32 {
        let auth = auth.clone();
        clients.push(tokio::spawn(async move {
            for i in 0..60u32 {
                let kid = if (client + i) % 2 == 0 {
                    ("rsa-a", "rsa-a-private.pem")
                } else {
                    ("rsa-b", "rsa-b-private.pem")
                };
                // A fresh token each time, so the verified-token cache cannot hide a failure.
                let token = Token::with_permissions(&["tasks:read"])
                    .claim("jti", json!(format!("{client}-{i}")))
                    .header(|h| h.kid = Some(kid.0.into()))
                    .signed_by(kid.1)
                    .sign();
                assert!(
                    auth.authenticate(&bearer(&token)).await.is_ok(),
                    "known key {} refused during flapping",
                    kid.0
                );
                // Unknown kids keep forcing refreshes into the flapping provider.
                let forged = rsa(&format!("forged-{client}-{i}"), "rsa-a-private.pem");
                assert!(auth.authenticate(&bearer(&forged)).await.is_err());
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    flapper.await.unwrap();
}
