//! The authentication matrix, on both servers, against `/config` (a protected route).

use reqwest::StatusCode;
use serde_json::json;
use tasker_testkit::Token;

use crate::*;

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn credentials_and_permissions_decide_on_both_servers() {
    for (binary, role, permission) in binaries() {
        let (server, _config) = start(binary, role, &auth_config("", ""));
        let resource = permission.split(':').next().unwrap();

        let none = get(&server, "/config", &[]).await;
        assert_error(
            none,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing authentication credentials",
            Some(NO_TOKEN_CHALLENGE),
        )
        .await;

        for grant in [
            permission.to_owned(),
            format!("{resource}:*"),
            "*".to_owned(),
        ] {
            let token = Token::with_permissions(&[&grant]).sign();
            let response = get(&server, "/config", &[("Authorization", &bearer(&token))]).await;
            assert_eq!(response.status(), StatusCode::OK, "{role}: {grant}");
        }

        let token = Token::with_permissions(&["tasks:read", "dlq:*"]).sign();
        let response = get(&server, "/config", &[("authorization", &bearer(&token))]).await;
        let message = format!("Missing required permission: {permission}");
        assert_error(
            response,
            StatusCode::FORBIDDEN,
            "forbidden",
            &message,
            Some(SCOPE_CHALLENGE),
        )
        .await;

        let response = get(&server, "/config", &[("X-API-Key", "sk-test-admin-key")]).await;
        assert_eq!(response.status(), StatusCode::OK, "{role}: admin API key");
        let response = get(&server, "/config", &[("x-api-key", "sk-test-monitor-key")]).await;
        assert_error(
            response,
            StatusCode::FORBIDDEN,
            "forbidden",
            &message,
            Some(SCOPE_CHALLENGE),
        )
        .await;

        for path in ["/health", "/health/live", "/health/ready", "/metrics"] {
            assert_eq!(
                get(&server, path, &[]).await.status(),
                StatusCode::OK,
                "{role}: {path} is public"
            );
        }
    }
}

#[tokio::test]
async fn bad_tokens_are_401_never_5xx() {
    let (server, _config) = start(SERVER, "orchestration", &auth_config("", ""));
    let good = Token::with_permissions(&["*"]);
    let now = chrono::Utc::now().timestamp();
    let valid = good.sign();
    let mut tampered = valid.clone();
    tampered.push('A');
    let public_pem = tasker_testkit::fixture_text("rsa-a-public.pem");
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &good.claims,
        &jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes()),
    )
    .unwrap();
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(serde_json::Value::Object(good.claims.clone()))
    );
    let oversized = good
        .clone()
        .claim("padding", json!("x".repeat(9000)))
        .sign();
    let cases: Vec<(String, &str)> = vec![
        (
            good.clone().claim("exp", json!(now - 3600)).sign(),
            "Token has expired",
        ),
        (
            good.clone().claim("nbf", json!(now + 3600)).sign(),
            "Token is not yet valid",
        ),
        (
            good.clone().claim("iat", json!(now + 3600)).sign(),
            "Token was issued in the future",
        ),
        (
            good.clone().claim("iss", json!("someone-else")).sign(),
            "Invalid token issuer",
        ),
        (
            good.clone().claim("aud", json!("other-api")).sign(),
            "Invalid token audience",
        ),
        (
            good.clone().claim("aud", json!(["a", "b"])).sign(),
            "Invalid token audience",
        ),
        (
            good.clone().without("exp").sign(),
            "Token is missing the `exp` claim",
        ),
        (
            good.clone().without("sub").sign(),
            "Token is missing the `sub` claim",
        ),
        (
            good.clone().signed_by("rsa-b-private.pem").sign(),
            "Invalid token signature",
        ),
        (tampered, "Invalid token signature"),
        (hs256, "Token algorithm HS256 is not allowed"),
        (alg_none, "Malformed token"),
        (
            good.clone().header(|h| h.typ = Some("foo".into())).sign(),
            "Token type is not accepted",
        ),
        (
            good.clone()
                .claim("permissions", json!(["tasks:read", "tasks:fly", "bogus"]))
                .sign(),
            "Unknown permissions: tasks:fly, bogus",
        ),
        (
            good.clone()
                .claim(
                    "permissions",
                    json!([
                        "tasks:read@payments",
                        "tasks:read@",
                        "tasks:read@Payments",
                        "system:config_read@x",
                        "*@"
                    ]),
                )
                .sign(),
            "Unknown permissions: tasks:read@, tasks:read@Payments, system:config_read@x, *@",
        ),
        (
            good.clone().claim("permissions", json!({"a": 1})).sign(),
            "Claim `permissions` must be an array of strings or a space-delimited string",
        ),
        (oversized, "Token exceeds 8 KiB"),
        ("garbage".into(), "Malformed token"),
        ("a.b.c".into(), "Malformed token"),
        (valid[..valid.len() / 2].to_owned(), "Malformed token"),
    ];
    for (token, message) in cases {
        let response = get(&server, "/config", &[("Authorization", &bearer(&token))]).await;
        assert_error(
            response,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            message,
            Some(BAD_TOKEN_CHALLENGE),
        )
        .await;
    }
    for (header, message) in [
        (
            "Basic dXNlcjpwYXNz",
            "Unsupported Authorization scheme (expected Bearer)",
        ),
        ("Bearer", "Empty bearer token"),
        ("Bearer    ", "Empty bearer token"),
    ] {
        let response = get(&server, "/config", &[("Authorization", header)]).await;
        assert_error(
            response,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            message,
            Some(BAD_TOKEN_CHALLENGE),
        )
        .await;
    }
    // Non-ASCII bytes in the header.
    let response = reqwest::Client::new()
        .get(server.url("/config"))
        .header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Malformed Authorization header",
        Some(BAD_TOKEN_CHALLENGE),
    )
    .await;

    // Accepted shapes: array audience containing ours, access-token typ, scheme case.
    for token in [
        good.clone()
            .claim("aud", json!(["other", "tasker-api"]))
            .sign(),
        good.clone()
            .header(|h| h.typ = Some("at+jwt".into()))
            .sign(),
        good.clone().header(|h| h.typ = None).sign(),
        good.clone().claim("nbf", json!(now + 30)).sign(),
    ] {
        let response = get(
            &server,
            "/config",
            &[("Authorization", &format!("bearer {token}"))],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn bearer_decides_over_api_key_and_api_key_rules_hold() {
    let (server, _config) = start(SERVER, "orchestration", &auth_config("", ""));
    assert_eq!(
        get(&server, "/config", &[("X-API-Key", " sk-test-admin-key ")])
            .await
            .status(),
        StatusCode::OK
    );
    let response = get(
        &server,
        "/config",
        &[
            ("Authorization", "Bearer garbage"),
            ("X-API-Key", "sk-test-admin-key"),
        ],
    )
    .await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Malformed token",
        Some(BAD_TOKEN_CHALLENGE),
    )
    .await;
    let response = get(&server, "/config", &[("X-API-Key", "sk-wrong")]).await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Invalid API key",
        Some(NO_TOKEN_CHALLENGE),
    )
    .await;
    let response = get(&server, "/config", &[("X-API-Key", "sk-test-expired-key")]).await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "API key has expired",
        Some(NO_TOKEN_CHALLENGE),
    )
    .await;
    // Two API key headers, even both valid, are refused before either is looked at.
    let response = get(
        &server,
        "/config",
        &[
            ("X-API-Key", "sk-test-admin-key"),
            ("X-API-Key", "sk-test-admin-key"),
        ],
    )
    .await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Multiple API key headers",
        Some(NO_TOKEN_CHALLENGE),
    )
    .await;

    let logs = server.logs();
    for secret in ["sk-test-admin-key", "sk-wrong", "sk-test-expired-key"] {
        assert!(!logs.contains(secret), "log leaks {secret}");
    }
    assert!(
        logs.contains("Admin key"),
        "success is logged with the key description"
    );
}

#[tokio::test]
async fn custom_header_lenient_permissions_and_claim_paths() {
    let extra = "api_key_header = \"X-Tasker-Key\"\nstrict_validation = false\npermissions_claim = \"realm_access.roles\"";
    let (server, _config) = start(SERVER, "orchestration", &auth_config(extra, ""));
    let response = get(&server, "/config", &[("x-tasker-key", "sk-test-admin-key")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = get(&server, "/config", &[("X-API-Key", "sk-test-admin-key")]).await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Missing authentication credentials",
        Some(NO_TOKEN_CHALLENGE),
    )
    .await;

    let nested = Token::with_permissions(&[])
        .without("permissions")
        .claim(
            "realm_access",
            json!({"roles": ["system:config_read", "made:up"]}),
        )
        .sign();
    let response = get(&server, "/config", &[("Authorization", &bearer(&nested))]).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "unknown permissions are ignored when not strict"
    );
    assert!(
        server.logs().contains("made:up"),
        "unknown permissions are logged"
    );

    let scope = "permissions_claim = \"scope\"";
    let (server, _config) = start(SERVER, "orchestration", &auth_config(scope, ""));
    let token = Token::with_permissions(&[])
        .claim("scope", json!("tasks:read system:config_read"))
        .sign();
    let response = get(&server, "/config", &[("Authorization", &bearer(&token))]).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn pkcs1_public_key_and_disabled_auth() {
    let pkcs1 = tasker_testkit::fixture("rsa-a-public-pkcs1.pem");
    let role = auth_config("", "").replace(
        &tasker_testkit::fixture("rsa-a-public.pem")
            .display()
            .to_string(),
        &pkcs1.display().to_string(),
    );
    let (server, _config) = start(SERVER, "orchestration", &role);
    let token = Token::with_permissions(&["*"]).sign();
    assert_eq!(
        get(&server, "/config", &[("Authorization", &bearer(&token))])
            .await
            .status(),
        StatusCode::OK
    );

    for (binary, role, _) in binaries() {
        let (server, _config) = start(
            binary,
            role,
            "[web]\nconfig_endpoint_enabled = true\n[web.auth]\nenabled = false\n",
        );
        assert_eq!(
            get(&server, "/config", &[]).await.status(),
            StatusCode::OK,
            "{role}: disabled auth opens everything"
        );
        let response = get(&server, "/config", &[("Authorization", "Bearer garbage")]).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{role}: credentials are not even looked at"
        );
    }
}

#[tokio::test]
async fn metrics_count_successes_failures_and_denials() {
    let (server, _config) = start(SERVER, "orchestration", &auth_config("", ""));
    let ok = Token::with_permissions(&["*"]).sign();
    let weak = Token::with_permissions(&["tasks:read"]).sign();
    let expired = Token::with_permissions(&["*"])
        .claim("exp", json!(0))
        .sign();
    get(&server, "/config", &[("Authorization", &bearer(&ok))]).await;
    get(&server, "/config", &[("Authorization", &bearer(&ok))]).await;
    get(&server, "/config", &[("X-API-Key", "sk-test-admin-key")]).await;
    get(&server, "/config", &[]).await;
    get(&server, "/config", &[("Authorization", &bearer(&expired))]).await;
    get(&server, "/config", &[("Authorization", "Bearer x.y")]).await;
    get(&server, "/config", &[("Authorization", &bearer(&weak))]).await;
    let body = get(&server, "/metrics", &[]).await.text().await.unwrap();
    let value = |series: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{series} not in:\n{body}"))
    };
    assert_eq!(
        value(r#"tasker_auth_requests_total{method="jwt",result="success"}"#),
        3.0
    );
    assert_eq!(
        value(r#"tasker_auth_requests_total{method="api_key",result="success"}"#),
        1.0
    );
    assert_eq!(
        value(r#"tasker_auth_requests_total{method="jwt",result="failure"}"#),
        2.0
    );
    assert_eq!(
        value(r#"tasker_auth_failures_total{reason="missing"}"#),
        1.0
    );
    assert_eq!(
        value(r#"tasker_auth_failures_total{reason="expired"}"#),
        1.0
    );
    assert_eq!(
        value(r#"tasker_auth_failures_total{reason="malformed"}"#),
        1.0
    );
    assert_eq!(
        value(r#"tasker_permission_denials_total{permission="system:config_read"}"#),
        1.0
    );
    assert!(
        value("tasker_auth_jwt_verification_duration_seconds_count") >= 2.0,
        "cold verifications are timed"
    );
}

#[tokio::test]
async fn unreachable_jwks_gives_503_with_retry_after_and_api_keys_still_work() {
    let port = tasker_testkit::closed_port();
    let role = format!(
        "[web]\nconfig_endpoint_enabled = true\n[web.auth]\nenabled = true\njwt_verification_method = \"jwks\"\njwks_url = \"http://127.0.0.1:{port}/jwks\"\n[[web.auth.api_keys]]\nkey = \"sk-jwks-api\"\npermissions = [\"*\"]\ndescription = \"ops\"\n"
    );
    for (binary, role_name, _) in binaries() {
        let (server, _config) = start(binary, role_name, &role);
        let token = Token::with_permissions(&["*"])
            .header(|h| h.kid = Some("k1".into()))
            .sign();
        let response = get(&server, "/config", &[("Authorization", &bearer(&token))]).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "5");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "service_unavailable");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("not available yet")
        );
        assert_eq!(
            get(&server, "/config", &[("X-API-Key", "sk-jwks-api")])
                .await
                .status(),
            StatusCode::OK
        );
        let ready: serde_json::Value = get(&server, "/health/ready", &[])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            ready["checks"]["jwks"],
            json!({"loaded": false, "keys": 0}),
            "{role_name}"
        );
        let metrics = get(&server, "/metrics", &[]).await.text().await.unwrap();
        assert!(
            metrics.contains(r#"tasker_auth_failures_total{reason="jwks_unavailable"} 1"#),
            "{metrics}"
        );
        assert!(
            metrics.contains(r#"tasker_jwks_refresh_total{result="failure"}"#),
            "{metrics}"
        );
    }
}
