//! `GET /config`: absent unless enabled, guarded by the role's permission, secrets redacted.

use reqwest::StatusCode;
use serde_json::Value;
use tasker_testkit::Token;

use crate::*;

#[tokio::test]
async fn config_endpoint_is_404_unless_enabled() {
    for (binary, role, _) in binaries() {
        let (server, _config) = start(binary, role, "[web.auth]\nenabled = false\n");
        let response = get(&server, "/config", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{role}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
    }
}

/// The test PostgreSQL URL with the password `PLANTED-DB-PASSWORD` (trust authentication
/// ignores it), so the server really connects with a secret in its URL.
fn database_with_planted_password() -> Option<String> {
    let url = std::env::var("TASKER_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let (scheme, rest) = url.split_once("://")?;
    let (userinfo, host) = rest.rsplit_once('@')?;
    let user = userinfo.split(':').next()?;
    Some(format!("{scheme}://{user}:PLANTED-DB-PASSWORD@{host}"))
}

#[tokio::test]
async fn config_body_is_redacted_and_lists_redacted_paths() {
    for (binary, role, permission) in binaries() {
        let extra_top = "";
        let role_file = format!(
            "{}\n",
            auth_config(
                "jwt_private_key = \"-----BEGIN PRIVATE KEY-----PLANTED-PRIVATE-----END PRIVATE KEY-----\"",
                extra_top
            )
        );
        let config = tasker_testkit::TestConfig::new();
        let database = database_with_planted_password().unwrap_or_else(|| {
            eprintln!("SKIPPED (part): database password redaction needs TASKER_TEST_DATABASE_URL (PostgreSQL)");
            format!("sqlite://{}/tasker.db", config.root().display())
        });
        let planted_db = database.contains("PLANTED-DB-PASSWORD");
        config.write(
            "base/common.toml",
            &format!("[database]\nurl = \"{database}\"\n[templates]\nsearch_paths = []\n"),
        );
        config.write(&format!("base/{role}.toml"), &role_file);
        let server = tasker_testkit::ServerProcess::start(binary, &config, &[]);
        let token = Token::with_permissions(&[permission]).sign();
        let response = get(
            &server,
            "/config",
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        for secret in [
            "sk-test-admin-key",
            "sk-test-monitor-key",
            "PLANTED-PRIVATE",
            "PLANTED-DB-PASSWORD",
        ] {
            assert!(!text.contains(secret), "{role}: /config leaks {secret}");
        }
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            body["config"]["web"]["auth"]["api_keys"][0]["key"],
            "***REDACTED***"
        );
        assert_eq!(
            body["config"]["web"]["auth"]["api_keys"][0]["description"],
            "Admin key"
        );
        assert_eq!(body["config"]["web"]["auth"]["jwt_issuer"], "tasker-core");
        let paths: Vec<&str> = body["redacted_paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        let mut expected = vec!["web.auth.jwt_private_key", "web.auth.api_keys[0].key"];
        if planted_db {
            expected.push("database.url");
        }
        for path in expected {
            assert!(paths.contains(&path), "{role}: {path} not in {paths:?}");
        }
        let logs = server.logs();
        for secret in [
            "sk-test-admin-key",
            "PLANTED-PRIVATE",
            "PLANTED-DB-PASSWORD",
            &token[..],
        ] {
            assert!(!logs.contains(secret), "{role}: logs leak a secret");
        }
    }
}
