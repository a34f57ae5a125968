//! The configuration reference's "Development (Auth Enabled, Static Key)" pattern, end to end:
//! keys and a token from `tasker-ctl`, the pattern pasted verbatim, requests with the token and
//! with `X-API-Key: dev-key`.

use std::process::Command;

use reqwest::StatusCode;
use tasker_testkit::{ServerProcess, TestConfig, binary};

use crate::*;

const PATTERN: &str = r#"[web.auth]
enabled = true
jwt_verification_method = "public_key"
jwt_public_key_path = "./keys/jwt-public-key.pem"
jwt_issuer = "tasker-core"
jwt_audience = "tasker-api"
strict_validation = false
[[web.auth.api_keys]]
key = "dev-key"
permissions = ["*"]
description = "Dev superuser key"
"#;

fn ctl(config: &TestConfig, args: &[&str]) -> String {
    let output = Command::new(binary("tasker-ctl"))
        .args(args)
        .current_dir(config.root())
        .env_remove("TASKER_CONFIG_ROOT")
        .env_remove("TASKER_JWT_PRIVATE_KEY_PATH")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn development_static_key_pattern_end_to_end() {
    let config = TestConfig::new();
    ctl(
        &config,
        &[
            "auth",
            "generate-keys",
            "--output-dir",
            "./keys",
            "--key-size",
            "2048",
        ],
    );
    config.write(
        "base/orchestration.toml",
        "[web]\nconfig_endpoint_enabled = true\n",
    );
    config.write("environments/development/orchestration.toml", PATTERN);
    let server = ServerProcess::start(SERVER, &config, &[]);

    let token = ctl(
        &config,
        &[
            "--config-root",
            config.root().to_str().unwrap(),
            "auth",
            "generate-token",
            "--private-key",
            "./keys/jwt-private-key.pem",
            "--permissions",
            "system:config_read",
            "--subject",
            "alice",
        ],
    );
    let token = token.trim();
    let response = get(
        &server,
        "/config",
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    let weak = ctl(
        &config,
        &[
            "auth",
            "generate-token",
            "--private-key",
            "./keys/jwt-private-key.pem",
            "--permissions",
            "tasks:read",
        ],
    );
    let response = get(
        &server,
        "/config",
        &[("Authorization", &format!("Bearer {}", weak.trim()))],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let response = get(&server, "/config", &[("X-API-Key", "dev-key")]).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the pattern's key works without api_keys_enabled"
    );
    let response = get(&server, "/config", &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(server.logs().contains("Dev superuser key"));
    assert!(!server.logs().contains(token));
}
