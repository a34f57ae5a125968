//! Secret-leak canaries: distinctive secrets planted everywhere a secret can live (API keys,
//! the private key, the database password, client tokens and keys in the CLI's environment),
//! then every route, CLI commands and error paths are driven; no response, log line or CLI
//! output, exported span (received by a real OTLP receiver) may contain any of them. The sweep
//! runs on SQLite with JSON log lines and on PostgreSQL, where the database URL carries the
//! planted password, with text lines.

use std::process::Command;

use reqwest::Method;
use serde_json::Value;
use tasker_testkit::{Backend, ServerProcess, TestConfig, Token, binary};

use crate::*;

const ADMIN_KEY: &str = "sk-CANARY-ADMIN-7f3a";
const PRIVATE: &str = "CANARY-PRIVATE-KEY-91b2";
const DB_PASSWORD: &str = "CANARY-DB-PASSWORD-4c8d";

/// Spans go to `otlp_endpoint`; log lines are `log_format`.
fn role_file(otlp_endpoint: &str, log_format: &str) -> String {
    format!(
        r#"[telemetry]
otlp_endpoint = "{otlp_endpoint}"
[logging]
format = "{log_format}"
[web]
config_endpoint_enabled = true
[web.auth]
enabled = true
jwt_public_key_path = "{}"
jwt_private_key = "-----BEGIN PRIVATE KEY-----{PRIVATE}-----END PRIVATE KEY-----"
[[web.auth.api_keys]]
key = "{ADMIN_KEY}"
permissions = ["*"]
description = "Canary admin"
[[web.auth.api_keys]]
key = "${{CANARY_ENV_KEY}}"
permissions = ["tasks:read"]
description = "Canary env key"
"#,
        tasker_testkit::fixture("rsa-a-public.pem").display()
    )
}

/// A step whose program prints its environment to stderr and fails.
const ENV_DUMP: &str = r#"name: env_dump
namespace: canary
version: 1.0.0
steps:
  - name: dump
    handler: { callable: builtin.command, initialization: { program: sh, args: ["-c", "env >&2; exit 2"] } }
"#;

tasker_testkit::on_each_backend!(crate::canaries::with_database => planted_secrets_never_leak_anywhere);

/// On PostgreSQL the database URL carries the planted password.
pub(crate) async fn with_database<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    on_database(backend, DB_PASSWORD, test).await;
}

async fn planted_secrets_never_leak_anywhere(database: Option<String>) {
    let planted_db = database.is_some();
    let mut config = TestConfig::new()
        .with_examples()
        .with_template("env_dump.yaml", ENV_DUMP);
    if let Some(url) = &database {
        config = config.database(url);
    }
    let receiver = crate::otlp_receiver::OtlpReceiver::start().await;
    let log_format = if planted_db { "text" } else { "json" };
    config.write(
        "base/orchestration.toml",
        &role_file(&receiver.url, log_format),
    );
    let env_key = "sk-CANARY-ENV-KEY-55e1";
    let mut server = ServerProcess::start(SERVER, &config, &[("CANARY_ENV_KEY", env_key)]);
    let token = Token::with_permissions(&["*"])
        .claim("jti", serde_json::json!("CANARY-JTI"))
        .sign();
    let weak = Token::with_permissions(&["tasks:read"]).sign();
    let forged = Token::with_permissions(&["*"])
        .signed_by("rsa-b-private.pem")
        .sign();
    let secrets = [
        ADMIN_KEY,
        PRIVATE,
        DB_PASSWORD,
        env_key,
        &token[..],
        &weak[..],
        &forged[..],
    ];

    let doc: Value = get(&server, "/api-docs/openapi.json", &[])
        .await
        .json()
        .await
        .unwrap();
    let mut seen = String::new();
    let (mut operations, mut past_auth, mut successes) = (0, 0, 0);
    let http = reqwest::Client::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let url = server.url(
                &path
                    .replace("{task_uuid}", "6f1d2c3e-0000-4000-8000-000000000001")
                    .replace("{step_uuid}", "6f1d2c3e-0000-4000-8000-000000000002")
                    .replace("{dlq_entry_uuid}", "6f1d2c3e-0000-4000-8000-000000000003")
                    .replace("{namespace}", "examples")
                    .replace("{name}", "linear_math")
                    .replace("{version}", "1.0.0"),
            );
            let credentials: [(&str, &str); 6] = [
                ("authorization", &format!("Bearer {token}")),
                ("authorization", &format!("Bearer {weak}")),
                ("authorization", &format!("Bearer {forged}")),
                ("x-api-key", ADMIN_KEY),
                ("x-api-key", env_key),
                ("x-api-key", &format!("{ADMIN_KEY}-wrong")),
            ];
            for (i, (header, value)) in credentials.into_iter().enumerate() {
                let response = http
                    .request(
                        Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                        &url,
                    )
                    .header(header, value)
                    .header("content-type", "application/json")
                    .body(format!("{{\"echo\": \"{ADMIN_KEY}\"}}"))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                // The admin token and the admin key (the first and fourth credentials) must
                // get past authentication and authorization, so the handlers' own answers are
                // swept too.
                if i == 0 || i == 3 {
                    assert!(
                        ![401, 403].contains(&status),
                        "{method} {path} as admin: {status}"
                    );
                    past_auth += 1;
                    successes += usize::from((200..300).contains(&status));
                }
                let headers = format!("{:?}", response.headers());
                seen.push_str(&headers);
                seen.push_str(&response.text().await.unwrap());
            }
        }
    }
    assert!(operations > 20, "only {operations} operations were swept");
    assert_eq!(past_auth, 2 * operations);
    assert!(successes > 0, "no admin request succeeded");
    if planted_db {
        // The server knows the password is a secret of its database URL.
        let response = get(&server, "/config", &[("x-api-key", ADMIN_KEY)]).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let paths = body["redacted_paths"].as_array().unwrap();
        assert!(paths.contains(&Value::from("database.url")), "{body}");
    }
    // The request body above echoes a key on purpose; only a response quoting it back would leak.
    for secret in secrets {
        assert!(
            !seen.contains(secret),
            "a response contains a planted secret"
        );
    }

    let ctl = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(binary("tasker-ctl"));
        command
            .args(args)
            .arg("--url")
            .arg(&server.base_url)
            .current_dir(config.root());
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    let mut cli = String::new();
    for env in [
        vec![("TASKER_AUTH_TOKEN", token.as_str())],
        vec![("TASKER_AUTH_TOKEN", forged.as_str())],
        vec![("TASKER_API_KEY", ADMIN_KEY)],
        vec![("TASKER_API_KEY", "sk-CANARY-ADMIN-7f3a-wrong")],
        vec![("TASKER_ORCHESTRATION_AUTH_TOKEN", weak.as_str())],
    ] {
        for args in [
            &["task", "list"][..],
            &["task", "list", "--format", "json"],
            &[
                "task",
                "create",
                "--namespace",
                "examples",
                "--name",
                "linear_math",
                "--context",
                "{\"value\": 1}",
                "--wait",
            ],
            &["task", "get", "6f1d2c3e-0000-4000-8000-000000000001"],
            &["dlq", "stats"],
            &["template", "list"],
            &["system", "health"],
            &["system", "analytics"],
        ] {
            cli.push_str(&ctl(args, &env));
        }
    }
    cli.push_str(&ctl(
        &[
            "--config-root",
            config.root().to_str().unwrap(),
            "config",
            "show",
            "--role",
            "orchestration",
        ],
        &[("CANARY_ENV_KEY", env_key)],
    ));
    cli.push_str(&ctl(
        &[
            "--config-root",
            config.root().to_str().unwrap(),
            "config",
            "validate",
            "--role",
            "orchestration",
        ],
        &[("CANARY_ENV_KEY", env_key)],
    ));
    cli.push_str(&ctl(
        &[
            "auth",
            "validate-token",
            "--token",
            &forged,
            "--public-key",
            tasker_testkit::fixture("rsa-a-public.pem")
                .to_str()
                .unwrap(),
        ],
        &[],
    ));
    // A program printing its whole environment to stderr: its step log, through the API and
    // the CLI, holds what it printed and none of the server's secrets.
    let dump = http
        .post(server.url("/v1/tasks"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"namespace": "canary", "name": "env_dump"}))
        .send()
        .await
        .unwrap();
    assert_eq!(dump.status(), 201);
    let dump: Value = dump.json().await.unwrap();
    let dump = dump["task_uuid"].as_str().unwrap().to_owned();
    server
        .wait_for_task(&dump, &["blocked_by_failures"], Some(&token))
        .await;
    let steps = server
        .get_json(&format!("/v1/tasks/{dump}/workflow_steps"), Some(&token))
        .await;
    let step = steps[0]["step_uuid"].as_str().unwrap().to_owned();
    let log = server
        .get_json(
            &format!("/v1/tasks/{dump}/workflow_steps/{step}/logs"),
            Some(&token),
        )
        .await
        .to_string();
    assert!(
        log.contains("PATH="),
        "the program's environment was logged: {log}"
    );
    cli.push_str(&log);
    cli.push_str(&ctl(
        &["task", "logs", &dump, &step],
        &[("TASKER_AUTH_TOKEN", token.as_str())],
    ));
    for secret in secrets {
        assert!(
            !cli.contains(secret),
            "CLI output or a step log contains a planted secret"
        );
    }
    assert!(
        cli.contains("***REDACTED***"),
        "config show ran and redacted"
    );
    assert!(cli.contains("complete"), "task create --wait ran");

    // Stopped with SIGTERM, the server exports every span it still holds.
    server.signal("TERM");
    assert_eq!(server.wait_for_exit().await, Some(0), "{}", server.logs());
    let spans = receiver.spans();
    assert!(
        spans.iter().any(|s| s.name == "auth"),
        "the sweep's spans were exported"
    );
    let exported = format!("{spans:?}{}", String::from_utf8_lossy(&receiver.raw()));
    for secret in secrets {
        assert!(
            !exported.contains(secret),
            "an exported span contains a planted secret"
        );
    }
    let logs = server.logs();
    if !planted_db {
        assert!(
            logs.lines()
                .any(|l| l.starts_with('{') && l.contains("\"trace_id\"")),
            "JSON log lines with trace ids were swept"
        );
    }
    for secret in secrets {
        assert!(
            !logs.contains(secret),
            "server logs contain a planted secret"
        );
    }
    assert!(
        logs.contains("Canary admin"),
        "the key's description, not the key, names it in logs"
    );
}
