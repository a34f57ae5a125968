//! SIGHUP on the real binaries: the role file and an API key file are read again, the auth
//! state is swapped (old key refused, new key accepted), an invalid configuration keeps the
//! old state and counts a failure, and nothing secret reaches the log.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tasker_testkit::{ServerProcess, TestConfig};

use crate::*;

/// Only guards against a hang: a reload not counted by then never will be.
const RELOAD_GUARD: Duration = Duration::from_secs(20);

/// A role file with auth on, an inline API key and a key read from `key_file`.
fn role_file(inline_key: &str, key_file: &str) -> String {
    format!(
        r#"[web]
config_endpoint_enabled = true
[web.auth]
enabled = true
jwt_public_key_path = "{}"
[[web.auth.api_keys]]
key = "{inline_key}"
permissions = ["*"]
description = "Inline key"
[[web.auth.api_keys]]
key_file = "{key_file}"
permissions = ["*"]
description = "File key"
"#,
        fixture("rsa-a-public.pem").display()
    )
}

/// The value of `tasker_config_reloads_total{result}` on `/metrics`.
pub(crate) async fn reloads(server: &ServerProcess, result: &str) -> u64 {
    let text = get(server, "/metrics", &[]).await.text().await.unwrap();
    let series = format!("tasker_config_reloads_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().unwrap())
}

/// Sends SIGHUP and waits until `/metrics` counts `result` once more.
pub(crate) async fn sighup(server: &ServerProcess, result: &str) {
    let before = reloads(server, result).await;
    server.signal("HUP");
    let deadline = Instant::now() + RELOAD_GUARD;
    while reloads(server, result).await == before {
        assert!(
            Instant::now() < deadline,
            "no reload counted as {result}:\n{}",
            server.logs()
        );
        tokio::task::yield_now().await;
    }
}

async fn status_with_key(server: &ServerProcess, key: &str) -> StatusCode {
    get(server, "/config", &[("X-API-Key", key)]).await.status()
}

#[tokio::test]
async fn sighup_swaps_api_keys_and_an_invalid_configuration_keeps_the_old_ones() {
    for (binary, role, _) in binaries() {
        let config = TestConfig::new();
        let key_file = config.write("secrets/api-key", "sk-file-old\n");
        let key_file = key_file.display().to_string();
        let role_path = format!("base/{role}.toml");
        config.write(&role_path, &role_file("sk-inline-old", &key_file));
        let server = ServerProcess::start(binary, &config, &[]);
        assert_eq!(reloads(&server, "success").await, 0, "{role}");
        assert_eq!(reloads(&server, "failure").await, 0, "{role}");
        for key in ["sk-inline-old", "sk-file-old"] {
            assert_eq!(
                status_with_key(&server, key).await,
                StatusCode::OK,
                "{role} {key}"
            );
        }

        config.write(&role_path, &role_file("sk-inline-new", &key_file));
        config.write("secrets/api-key", "sk-file-new\n");
        sighup(&server, "success").await;
        for key in ["sk-inline-new", "sk-file-new"] {
            assert_eq!(
                status_with_key(&server, key).await,
                StatusCode::OK,
                "{role} {key}"
            );
        }
        for key in ["sk-inline-old", "sk-file-old"] {
            let response = get(&server, "/config", &[("X-API-Key", key)]).await;
            assert_error(
                response,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Invalid API key",
                Some(NO_TOKEN_CHALLENGE),
            )
            .await;
        }

        // Invalid: an unknown permission under strict validation, then a missing key file.
        let invalid = role_file("sk-inline-bad", &key_file).replace(
            "permissions = [\"*\"]\ndescription = \"Inline key\"",
            "permissions = [\"tasks:fly\"]\ndescription = \"Inline key\"",
        );
        config.write(&role_path, &invalid);
        sighup(&server, "failure").await;
        let missing = format!("{key_file}.gone");
        config.write(&role_path, &role_file("sk-inline-bad", &missing));
        sighup(&server, "failure").await;
        assert_eq!(reloads(&server, "failure").await, 2, "{role}");
        assert_eq!(reloads(&server, "success").await, 1, "{role}");
        for key in ["sk-inline-new", "sk-file-new"] {
            assert_eq!(
                status_with_key(&server, key).await,
                StatusCode::OK,
                "{role}: {key} still works after failed reloads"
            );
        }
        assert_eq!(
            status_with_key(&server, "sk-inline-bad").await,
            StatusCode::UNAUTHORIZED,
            "{role}"
        );

        let logs = server.logs();
        assert!(
            logs.contains("SIGHUP: configuration reload failed; keeping the previous auth state"),
            "{logs}"
        );
        assert!(logs.contains("web.auth.api_keys[0].permissions"), "{logs}");
        assert!(
            logs.contains(&missing),
            "the failure names the file: {logs}"
        );
        for secret in [
            "sk-inline-old",
            "sk-inline-new",
            "sk-inline-bad",
            "sk-file-old",
            "sk-file-new",
        ] {
            assert!(!logs.contains(secret), "{role}: the log leaks {secret}");
        }
    }
}

#[tokio::test]
async fn turning_auth_off_by_sighup_is_refused() {
    let config = TestConfig::new();
    let key_file = config.write("secrets/api-key", "sk-file-old\n");
    let key_file = key_file.display().to_string();
    config.write(
        "base/orchestration.toml",
        &role_file("sk-inline-old", &key_file),
    );
    let server = ServerProcess::start(SERVER, &config, &[]);
    config.write(
        "base/orchestration.toml",
        "[web]\nconfig_endpoint_enabled = true\n[web.auth]\nenabled = false\n",
    );
    sighup(&server, "failure").await;
    let response = get(&server, "/config", &[]).await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Missing authentication credentials",
        Some(NO_TOKEN_CHALLENGE),
    )
    .await;
    assert!(
        server
            .logs()
            .contains("turning authentication on or off needs a restart"),
        "{}",
        server.logs()
    );
}
