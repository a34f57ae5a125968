//! Zero-downtime static key rotation on the real binary, following the runbook of
//! docs/auth.md while clients send requests without pause: tokens signed by the old key, then
//! by both, then by the new one (with and without the thumbprint `kid`), across the SIGHUP
//! that adds the new key and the one that drops the old. No request may fail.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tasker_testkit::{ServerProcess, TestConfig, Token, fixture_text};

use crate::reload::sighup;
use crate::*;

/// Only guards against a hang while waiting for the clients to make progress.
const PROGRESS_GUARD: Duration = Duration::from_secs(60);
const CLIENTS: usize = 4;

/// Which tokens the clients send.
const OLD_ONLY: usize = 0;
const BOTH: usize = 1;
const NEW_ONLY: usize = 2;

fn role_file(current: &str, previous: &[&str]) -> String {
    let previous = previous
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[web]\nconfig_endpoint_enabled = true\n[web.auth]\nenabled = true\n\
         jwt_public_key_path = {current:?}\njwt_previous_public_key_paths = [{previous}]\n"
    )
}

/// Tokens signed by `key`, half of them naming it by its thumbprint, all distinct (so the
/// verified-token cache does not answer for a later key set).
fn tokens(key: &str, public: &str, count: usize) -> Vec<String> {
    let kid = tasker_auth::rsa_thumbprint(&fixture_text(public)).unwrap();
    (0..count)
        .map(|i| {
            let token = Token::with_permissions(&["system:config_read"])
                .claim("jti", json!(format!("{key}-{i}")))
                .signed_by(key);
            if i.is_multiple_of(2) {
                token.header(|h| h.kid = Some(kid.clone())).sign()
            } else {
                token.sign()
            }
        })
        .collect()
}

struct Load {
    phase: AtomicUsize,
    stop: AtomicBool,
    sent: [AtomicU64; 3],
    failures: Mutex<Vec<String>>,
}

impl Load {
    fn sent(&self, phase: usize) -> u64 {
        self.sent[phase].load(Ordering::SeqCst)
    }

    /// Waits until the clients have sent `more` requests in the current phase.
    async fn progress(&self, more: u64) {
        let phase = self.phase.load(Ordering::SeqCst);
        let target = self.sent(phase) + more;
        let deadline = Instant::now() + PROGRESS_GUARD;
        while self.sent(phase) < target {
            assert!(Instant::now() < deadline, "the clients stopped sending");
            tokio::task::yield_now().await;
        }
    }
}

async fn client(url: String, load: Arc<Load>, old: Arc<Vec<String>>, new: Arc<Vec<String>>) {
    let http = reqwest::Client::new();
    let mut i = 0usize;
    while !load.stop.load(Ordering::SeqCst) {
        let phase = load.phase.load(Ordering::SeqCst);
        let token = match phase {
            OLD_ONLY => &old[i % old.len()],
            BOTH if i.is_multiple_of(2) => &old[i % old.len()],
            _ => &new[i % new.len()],
        };
        i += 1;
        let outcome = http.get(&url).bearer_auth(token).send().await;
        match outcome {
            Ok(response) if response.status() == StatusCode::OK => {}
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                load.failures
                    .lock()
                    .unwrap()
                    .push(format!("phase {phase}: {status} {body}"));
            }
            Err(err) => load
                .failures
                .lock()
                .unwrap()
                .push(format!("phase {phase}: {err}")),
        }
        load.sent[phase].fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_static_key_rotation_under_load_drops_no_request() {
    let config = TestConfig::new();
    // The deployment's key files: `current.pem` holds the old key (rsa-a) at first.
    let current = config.write("keys/current.pem", &fixture_text("rsa-a-public.pem"));
    let current = current.display().to_string();
    config.write("base/orchestration.toml", &role_file(&current, &[]));
    let server = ServerProcess::start(SERVER, &config, &[]);

    let old = Arc::new(tokens("rsa-a-private.pem", "rsa-a-public.pem", 40));
    let new = Arc::new(tokens("rsa-b-private.pem", "rsa-b-public.pem", 40));
    let load = Arc::new(Load {
        phase: AtomicUsize::new(OLD_ONLY),
        stop: AtomicBool::new(false),
        sent: Default::default(),
        failures: Mutex::new(Vec::new()),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(client(
                server.url("/config"),
                load.clone(),
                old.clone(),
                new.clone(),
            ))
        })
        .collect();
    load.progress(50).await;

    // 1. A new pair exists (rsa-b). 2. The old key moves to a previous path. 3. The current
    // path gets the new key. 4. SIGHUP: both keys verify.
    let previous = config.write("keys/previous-1.pem", &fixture_text("rsa-a-public.pem"));
    let previous = previous.display().to_string();
    config.write(
        "base/orchestration.toml",
        &role_file(&current, &[&previous]),
    );
    config.write("keys/current.pem", &fixture_text("rsa-b-public.pem"));
    sighup(&server, "success").await;
    load.progress(50).await;
    load.phase.store(BOTH, Ordering::SeqCst);
    load.progress(100).await;
    load.phase.store(NEW_ONLY, Ordering::SeqCst);
    load.progress(50).await;

    // 5. Once old tokens have expired: drop the previous key, SIGHUP.
    config.write("base/orchestration.toml", &role_file(&current, &[]));
    sighup(&server, "success").await;
    load.progress(50).await;

    // An invalid reload keeps serving with the keys in place.
    let junk = config
        .write("keys/junk.pem", "not a key\n")
        .display()
        .to_string();
    config.write("base/orchestration.toml", &role_file(&junk, &[]));
    sighup(&server, "failure").await;
    load.progress(50).await;

    load.stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let failures = load.failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        (0..3).map(|p| load.sent(p)).sum::<u64>(),
        &failures[..failures.len().min(5)]
    );

    // The old key is gone now, with or without its kid.
    for token in &old[..2] {
        let response = get(
            &server,
            "/config",
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await;
        assert_error(
            response,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Invalid token signature",
            Some(BAD_TOKEN_CHALLENGE),
        )
        .await;
    }
}

#[tokio::test]
async fn with_several_keys_a_kid_naming_none_of_them_is_refused() {
    let config = TestConfig::new();
    let current = config.write("keys/current.pem", &fixture_text("rsa-b-public.pem"));
    let previous = config.write("keys/previous.pem", &fixture_text("rsa-a-public.pem"));
    config.write(
        "base/orchestration.toml",
        &role_file(
            &current.display().to_string(),
            &[&previous.display().to_string()],
        ),
    );
    let server = ServerProcess::start(SERVER, &config, &[]);
    let stray = Token::with_permissions(&["*"])
        .header(|h| h.kid = Some("key-7".into()))
        .sign();
    let response = get(
        &server,
        "/config",
        &[("Authorization", &format!("Bearer {stray}"))],
    )
    .await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Token signing key is unknown",
        Some(BAD_TOKEN_CHALLENGE),
    )
    .await;
    // A kid names its key: a token signed by the other key is not tried against it.
    let unrelated = Token::with_permissions(&["*"])
        .signed_by("rsa-b-private.pem")
        .header(|h| {
            h.kid = Some(tasker_auth::rsa_thumbprint(&fixture_text("rsa-a-public.pem")).unwrap())
        })
        .sign();
    let response = get(
        &server,
        "/config",
        &[("Authorization", &format!("Bearer {unrelated}"))],
    )
    .await;
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Invalid token signature",
        Some(BAD_TOKEN_CHALLENGE),
    )
    .await;
}

#[tokio::test]
async fn more_than_four_previous_keys_stop_the_server_at_start() {
    let config = TestConfig::new();
    let key = config.write("keys/k.pem", &fixture_text("rsa-a-public.pem"));
    let key = key.display().to_string();
    config.write(
        "base/orchestration.toml",
        &role_file(&key, &[&key, &key, &key, &key, &key]),
    );
    let (code, stderr) = tasker_testkit::run_to_exit(SERVER, &config, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("`web.auth.jwt_previous_public_key_paths`: lists 5 keys; at most 4 previous keys are accepted"),
        "{stderr}"
    );
}
