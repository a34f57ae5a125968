//! Public health says little: on both binaries `/health` answers status and checks only, and
//! the role's details (worker id, namespaces, handlers, running steps, the embedded worker)
//! are at `/health/detailed` behind the role's config permission.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasker_testkit::Token;

use crate::*;

#[tokio::test]
async fn public_health_is_status_and_checks_and_details_need_the_config_permission() {
    for (binary, role, permission) in binaries() {
        let (server, _config) = start(binary, role, &auth_config("", ""));
        let health: Value = get(&server, "/health", &[]).await.json().await.unwrap();
        assert_eq!(
            health,
            json!({"status": "healthy", "checks": {"store": "ok"}}),
            "{role}"
        );

        let none = get(&server, "/health/detailed", &[]).await;
        assert_error(
            none,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing authentication credentials",
            Some(NO_TOKEN_CHALLENGE),
        )
        .await;
        let monitor = get(
            &server,
            "/health/detailed",
            &[("X-API-Key", "sk-test-monitor-key")],
        )
        .await;
        assert_error(
            monitor,
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!("Missing required permission: {permission}"),
            Some(SCOPE_CHALLENGE),
        )
        .await;

        let token = Token::with_permissions(&[permission]).sign();
        let response = get(
            &server,
            "/health/detailed",
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{role}");
        let detail: Value = response.json().await.unwrap();
        assert_eq!(detail["status"], "healthy", "{role}");
        assert_eq!(detail["checks"], json!({"store": "ok"}), "{role}");
        assert_eq!(detail["role"], role);
        let worker = if role == "worker" {
            &detail
        } else {
            &detail["embedded_worker"]
        };
        assert!(worker["worker_id"].is_string(), "{role}: {detail}");
        assert!(worker["running_steps"].is_array(), "{role}: {detail}");
        assert!(
            worker["handlers"]
                .as_array()
                .is_some_and(|h| h.iter().any(|h| h == "builtin.command")),
            "{role}: {detail}"
        );
    }
}
