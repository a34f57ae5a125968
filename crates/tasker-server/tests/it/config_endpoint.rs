//! `GET /config`: absent unless enabled, guarded by the role's permission, secrets redacted.

use reqwest::StatusCode;
use serde_json::Value;
use tasker_testkit::{Backend, Token};

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

tasker_testkit::on_each_backend!(
    crate::config_endpoint::with_database => config_body_is_redacted_and_lists_redacted_paths
);

/// On PostgreSQL the database URL carries the password `PLANTED-DB-PASSWORD`.
pub(crate) async fn with_database<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    on_database(backend, "PLANTED-DB-PASSWORD", test).await;
}

async fn config_body_is_redacted_and_lists_redacted_paths(database: Option<String>) {
    for (binary, role, permission) in binaries() {
        let extra_top = "";
        let role_file = format!(
            "{}\n",
            auth_config(
                "jwt_private_key = \"-----BEGIN PRIVATE KEY-----PLANTED-PRIVATE-----END PRIVATE KEY-----\"",
                extra_top
            )
        );
        let mut config = tasker_testkit::TestConfig::new();
        if let Some(url) = &database {
            config = config.database(url);
        }
        let planted_db = database.is_some();
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
        for path in ["web.auth.jwt_private_key", "web.auth.api_keys[0].key"] {
            assert!(paths.contains(&path), "{role}: {path} not in {paths:?}");
        }
        // A database URL is redacted when it carries a password, and only then.
        assert_eq!(
            paths.contains(&"database.url"),
            planted_db,
            "{role}: {paths:?}"
        );
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
