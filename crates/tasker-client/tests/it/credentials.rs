//! Each level of the priority table is used when set, and higher levels win — separately for
//! the orchestration and worker endpoints.

use tasker_client::{Api, ClientEnv, ClientError, Credential, TaskerClient};
use tasker_testkit::{ServerProcess, TestConfig, Token, binary, fixture};

fn role_file(extra: &str) -> String {
    format!(
        "[web]\nconfig_endpoint_enabled = true\n[web.auth]\nenabled = true\njwt_public_key_path = \"{}\"\njwt_leeway_seconds = 0\n{extra}\n[[web.auth.api_keys]]\nkey = \"sk-client-key\"\npermissions = [\"*\"]\ndescription = \"client key\"\n",
        fixture("rsa-a-public.pem").display()
    )
}

struct Pair {
    orchestration: ServerProcess,
    worker: ServerProcess,
    _configs: (TestConfig, TestConfig),
}

fn servers(extra: &str) -> Pair {
    let o = TestConfig::new();
    o.write("base/orchestration.toml", &role_file(extra));
    let w = TestConfig::new();
    w.write("base/worker.toml", &role_file(extra));
    Pair {
        orchestration: ServerProcess::start(&binary("tasker-server"), &o, &[]),
        worker: ServerProcess::start(&binary("tasker-worker"), &w, &[]),
        _configs: (o, w),
    }
}

fn client(pair: &Pair, vars: &[(&str, &str)]) -> TaskerClient {
    let mut all: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.push((
        "TASKER_ORCHESTRATION_URL".into(),
        pair.orchestration.base_url.clone(),
    ));
    all.push(("TASKER_WORKER_URL".into(), pair.worker.base_url.clone()));
    TaskerClient::from_client_env(&ClientEnv::from_pairs(all)).unwrap()
}

async fn status(client: &TaskerClient, api: Api) -> u16 {
    match client.config(api).await {
        Ok(_) => 200,
        Err(ClientError::Api { status, .. }) => status,
        Err(other) => panic!("{other}"),
    }
}

#[tokio::test]
async fn every_level_works_and_higher_levels_win_per_endpoint() {
    let pair = servers("");
    let good = Token::with_permissions(&["*"]).sign();
    let bad = "not-a-token";
    let key_path = fixture("rsa-a-private.pem");
    let key_path = key_path.to_str().unwrap();

    // Level 4 alone: minted from the private key.
    let c = client(&pair, &[("TASKER_JWT_PRIVATE_KEY_PATH", key_path)]);
    assert_eq!(
        (
            status(&c, Api::Orchestration).await,
            status(&c, Api::Worker).await
        ),
        (200, 200)
    );
    // Level 3 alone, and level 3 beats level 4 (a wrong key is refused even with a good private key).
    let c = client(&pair, &[("TASKER_API_KEY", "sk-client-key")]);
    assert_eq!(
        (
            status(&c, Api::Orchestration).await,
            status(&c, Api::Worker).await
        ),
        (200, 200)
    );
    let c = client(
        &pair,
        &[
            ("TASKER_API_KEY", "sk-wrong"),
            ("TASKER_JWT_PRIVATE_KEY_PATH", key_path),
        ],
    );
    assert_eq!(
        (
            status(&c, Api::Orchestration).await,
            status(&c, Api::Worker).await
        ),
        (401, 401)
    );
    // Level 2 alone, and level 2 beats level 3.
    let c = client(&pair, &[("TASKER_AUTH_TOKEN", &good)]);
    assert_eq!(
        (
            status(&c, Api::Orchestration).await,
            status(&c, Api::Worker).await
        ),
        (200, 200)
    );
    let c = client(
        &pair,
        &[
            ("TASKER_AUTH_TOKEN", bad),
            ("TASKER_API_KEY", "sk-client-key"),
        ],
    );
    assert_eq!(
        (
            status(&c, Api::Orchestration).await,
            status(&c, Api::Worker).await
        ),
        (401, 401)
    );
    // Level 1 is per endpoint and beats level 2.
    let c = client(
        &pair,
        &[
            ("TASKER_ORCHESTRATION_AUTH_TOKEN", &good),
            ("TASKER_AUTH_TOKEN", bad),
        ],
    );
    assert_eq!(
        (
            status(&c, Api::Orchestration).await,
            status(&c, Api::Worker).await
        ),
        (200, 401)
    );
    let c = client(
        &pair,
        &[
            ("TASKER_WORKER_AUTH_TOKEN", &good),
            ("TASKER_AUTH_TOKEN", bad),
        ],
    );
    assert_eq!(
        (
            status(&c, Api::Orchestration).await,
            status(&c, Api::Worker).await
        ),
        (401, 200)
    );
    let c = client(
        &pair,
        &[
            ("TASKER_ORCHESTRATION_AUTH_TOKEN", bad),
            ("TASKER_WORKER_AUTH_TOKEN", &good),
            ("TASKER_AUTH_TOKEN", &good),
        ],
    );
    assert_eq!(
        (
            status(&c, Api::Orchestration).await,
            status(&c, Api::Worker).await
        ),
        (401, 200)
    );
    // Empty variables count as unset.
    let c = client(
        &pair,
        &[
            ("TASKER_ORCHESTRATION_AUTH_TOKEN", ""),
            ("TASKER_AUTH_TOKEN", &good),
        ],
    );
    assert_eq!(status(&c, Api::Orchestration).await, 200);
    // Nothing at all: 401 with the typed envelope.
    let c = client(&pair, &[]);
    match c.config(Api::Orchestration).await {
        Err(ClientError::Api {
            status,
            code,
            message,
        }) => {
            assert_eq!(
                (status, code.as_str(), message.as_str()),
                (401, "unauthorized", "Missing authentication credentials")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn custom_api_key_header_is_honoured() {
    let pair = servers("api_key_header = \"X-Tasker-Key\"");
    let c = client(&pair, &[("TASKER_API_KEY", "sk-client-key")]);
    assert_eq!(
        status(&c, Api::Orchestration).await,
        401,
        "default header is not the configured one"
    );
    let c = client(
        &pair,
        &[
            ("TASKER_API_KEY", "sk-client-key"),
            ("TASKER_API_KEY_HEADER", "X-Tasker-Key"),
        ],
    );
    assert_eq!(
        (
            status(&c, Api::Orchestration).await,
            status(&c, Api::Worker).await
        ),
        (200, 200)
    );
}

#[tokio::test]
async fn minted_tokens_are_renewed_across_expiry() {
    let pair = servers("");
    let key_path = fixture("rsa-a-private.pem");
    let c = client(
        &pair,
        &[
            ("TASKER_JWT_PRIVATE_KEY_PATH", key_path.to_str().unwrap()),
            ("TASKER_JWT_EXPIRY_SECONDS", "2"),
            ("TASKER_JWT_SUBJECT", "ci-bot"),
            (
                "TASKER_JWT_PERMISSIONS",
                "system:config_read,worker:config_read",
            ),
        ],
    );
    for _ in 0..3 {
        assert_eq!(status(&c, Api::Orchestration).await, 200);
        assert_eq!(status(&c, Api::Worker).await, 200);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    }
    let limited = client(
        &pair,
        &[
            ("TASKER_JWT_PRIVATE_KEY_PATH", key_path.to_str().unwrap()),
            ("TASKER_JWT_PERMISSIONS", "tasks:read"),
        ],
    );
    assert_eq!(
        status(&limited, Api::Orchestration).await,
        403,
        "minted permissions come from TASKER_JWT_PERMISSIONS"
    );
}

#[test]
fn credentials_never_show_in_debug_and_bad_settings_are_clear() {
    let env = ClientEnv::from_pairs([
        ("TASKER_AUTH_TOKEN", "tok-SECRET-123"),
        ("TASKER_API_KEY", "sk-SECRET-456"),
    ]);
    let credential = Credential::resolve(Api::Worker, &env).unwrap();
    let client = TaskerClient::from_client_env(&env).unwrap();
    let debug = format!("{credential:?} {client:?} {env:?}");
    assert!(!debug.contains("SECRET"), "{debug}");
    let key = ClientEnv::from_pairs([
        ("TASKER_API_KEY", "k"),
        ("TASKER_API_KEY_HEADER", "bad header"),
    ]);
    assert!(
        Credential::resolve(Api::Orchestration, &key)
            .unwrap_err()
            .to_string()
            .contains("TASKER_API_KEY_HEADER")
    );
    let missing = ClientEnv::from_pairs([("TASKER_JWT_PRIVATE_KEY_PATH", "/nonexistent/key.pem")]);
    assert!(
        Credential::resolve(Api::Orchestration, &missing)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/key.pem")
    );
    let minted = ClientEnv::from_pairs([(
        "TASKER_JWT_PRIVATE_KEY_PATH",
        fixture("rsa-a-private.pem").to_str().unwrap().to_owned(),
    )]);
    let debug = format!(
        "{:?}",
        Credential::resolve(Api::Orchestration, &minted).unwrap()
    );
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error() {
    let port = tasker_testkit::closed_port();
    let env = ClientEnv::from_pairs([(
        "TASKER_ORCHESTRATION_URL",
        format!("http://127.0.0.1:{port}"),
    )]);
    let client = TaskerClient::from_client_env(&env).unwrap();
    let err = client.health(Api::Orchestration).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains(&port.to_string()));
}

/// A private key path that is not a regular file of at most 1 MiB is refused at once, by name.
#[test]
fn hostile_private_key_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.pem");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let fifo = fifo.to_str().unwrap().to_owned();
    for (path, reason) in [
        ("/dev/zero", "it is a device, not a regular file"),
        (fifo.as_str(), "it is a FIFO, not a regular file"),
    ] {
        let (tx, rx) = std::sync::mpsc::channel();
        let env = ClientEnv::from_pairs([("TASKER_JWT_PRIVATE_KEY_PATH", path)]);
        std::thread::spawn(move || {
            let _ = tx.send(Credential::resolve(Api::Orchestration, &env).map(drop));
        });
        let result = rx
            .recv_timeout(tasker_testkit::HANG_GUARD)
            .expect("hang guard: resolving did not return");
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("TASKER_JWT_PRIVATE_KEY_PATH")
                && err.contains(path)
                && err.contains(reason),
            "{err}"
        );
    }
}
