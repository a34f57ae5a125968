//! Integration tests of the orchestration server: the application in process (`inproc`) for
//! the API's behaviour, the real binary where the process matters; real ports, real keys.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod api;
mod api_docs;
mod api_fuzz;
mod auth_matrix;
mod canaries;
mod config_endpoint;
mod console;
mod database_unreachable;
mod health;
mod hostile_files;
mod inproc;
mod load;
mod migration_race;
mod otlp_receiver;
mod reload;
mod rotation;
mod route_table;
mod schedules_process;
mod scopes;
mod seed_pattern;
mod slow_clients;
mod startup;
mod state_schemas;
mod template_limits;
mod token_hygiene;
mod traces;
mod waiting;
mod worker_process;

use std::future::Future;

use reqwest::{Client, Response, StatusCode};
use serde_json::Value;
use tasker_testkit::{Backend, PgSchema, ServerProcess, TestConfig, fixture};

pub(crate) const SERVER: &str = env!("CARGO_BIN_EXE_tasker-server");

/// Both roles' binaries and the permission their `/config` needs.
pub(crate) fn binaries() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (SERVER, "orchestration", "system:config_read"),
        (worker_binary(), "worker", "worker:config_read"),
    ]
}

/// Path of the worker binary.
pub(crate) fn worker_binary_path() -> String {
    worker_binary().to_owned()
}

fn worker_binary() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| tasker_testkit::binary("tasker-worker"))
}

/// A role file enabling auth with the fixture key and two API keys.
pub(crate) fn auth_config(extra_auth: &str, extra_top: &str) -> String {
    format!(
        r#"{extra_top}
[web]
config_endpoint_enabled = true
[web.auth]
enabled = true
jwt_verification_method = "public_key"
jwt_public_key_path = "{}"
{extra_auth}
[[web.auth.api_keys]]
key = "sk-test-admin-key"
permissions = ["*"]
description = "Admin key"
[[web.auth.api_keys]]
key = "sk-test-monitor-key"
permissions = ["tasks:read", "dlq:stats"]
description = "Monitor key"
[[web.auth.api_keys]]
key = "sk-test-expired-key"
permissions = ["*"]
description = "Expired key"
expires_at = "2020-01-01T00:00:00Z"
"#,
        fixture("rsa-a-public.pem").display()
    )
}

/// Starts `binary` with `role_file` as its role configuration.
pub(crate) fn start(binary: &str, role: &str, role_file: &str) -> (ServerProcess, TestConfig) {
    let config = TestConfig::new();
    config.write(&format!("base/{role}.toml"), role_file);
    let server = ServerProcess::start(binary, &config, &[]);
    (server, config)
}

pub(crate) async fn get(server: &ServerProcess, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = Client::new().get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// Asserts status, the error envelope and the challenge header.
pub(crate) async fn assert_error(
    response: Response,
    status: StatusCode,
    code: &str,
    message: &str,
    challenge: Option<&str>,
) {
    assert_eq!(response.status(), status);
    let header = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(header.as_deref(), challenge);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["message"], message, "{body}");
}

pub(crate) const NO_TOKEN_CHALLENGE: &str = r#"Bearer realm="tasker""#;
pub(crate) const BAD_TOKEN_CHALLENGE: &str = r#"Bearer realm="tasker", error="invalid_token""#;
pub(crate) const SCOPE_CHALLENGE: &str = r#"Bearer realm="tasker", error="insufficient_scope""#;

/// Runs `test` with the database URL of `backend`: `None` for the SQLite file of each config
/// root, or a PostgreSQL schema of its own reached through a URL carrying `password` (trust
/// authentication ignores it, so the server really connects with a secret in its URL).
pub(crate) async fn on_database<F, Fut>(backend: Backend, password: &str, test: F)
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: Future<Output = ()>,
{
    match backend {
        Backend::Sqlite => test(None).await,
        Backend::Postgres => {
            let schema = PgSchema::create();
            test(Some(with_password(&schema.url, password))).await;
            schema.drop_now().await;
        }
    }
}

/// `url` with its user's password replaced by `password`.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let user = userinfo.split(':').next().unwrap();
    format!("{scheme}://{user}:{password}@{host}")
}
