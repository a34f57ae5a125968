//! Runs a server binary as a real process on `127.0.0.1:0` with a temporary config root, keeps
//! its stderr in a file so tests can scan the logs, and reads its API as JSON.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::config::TestConfig;
use crate::poll::{HANG_GUARD, try_eventually};

/// A running server process, killed on drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// File receiving the process's stderr (its logs).
    pub log_path: PathBuf,
    _log_dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts `binary` with `config` and extra environment variables; panics with the log if it
    /// does not report its address within 30 s.
    pub fn start(binary: &str, config: &TestConfig, env: &[(&str, &str)]) -> Self {
        match Self::try_start(binary, config, env) {
            Ok(server) => server,
            Err(log) => panic!("{binary} did not start:\n{log}"),
        }
    }

    /// Starts `binary`; `Err(log)` when it exits or stays silent.
    pub fn try_start(
        binary: &str,
        config: &TestConfig,
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let log_dir = tempfile::tempdir().unwrap();
        let log_path = log_dir.path().join("stderr.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut command = server_command(binary, config, env);
        command.stdout(Stdio::piped()).stderr(log);
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if let Some((_, url)) = line.split_once(" listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base_url) => Ok(Self {
                child,
                base_url,
                log_path,
                _log_dir: log_dir,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(std::fs::read_to_string(&log_path).unwrap_or_default())
            }
        }
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The process id (for signals: `kill -HUP`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (a name `kill` understands, e.g. `HUP`) with the `kill` command.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits until the process has exited and returns its exit code (`None` when a signal
    /// ended it); panics with the log once [`HANG_GUARD`] has passed.
    pub async fn wait_for_exit(&mut self) -> Option<i32> {
        let child = &mut self.child;
        let exited = try_eventually(HANG_GUARD, async || match child.try_wait() {
            Ok(Some(status)) => Ok(status.code()),
            Ok(None) => Err(()),
            Err(e) => panic!("waiting for the process: {e}"),
        })
        .await;
        match exited {
            Ok(code) => code,
            Err(()) => panic!(
                "hang guard ({HANG_GUARD:?}) passed waiting for the process to exit; log:\n{}",
                self.logs()
            ),
        }
    }

    /// Everything the process logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `GET path` (with `bearer` when auth is on): the status and the body as JSON (`Null`
    /// when it is not JSON).
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .get(self.url(path))
            .timeout(Duration::from_secs(30));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}\nserver log:\n{}", self.logs()));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET path` as JSON; panics unless the answer is a success.
    pub async fn get_json(&self, path: &str, bearer: Option<&str>) -> Value {
        let (status, body) = self.get(path, bearer).await;
        assert!((200..300).contains(&status), "GET {path}: {status} {body}");
        body
    }

    /// Polls `GET /v1/tasks/{task}` until its status is one of `finals` and returns the task;
    /// panics with the task and the server log once [`HANG_GUARD`] has passed.
    pub async fn wait_for_task(&self, task: &str, finals: &[&str], bearer: Option<&str>) -> Value {
        let path = format!("/v1/tasks/{task}");
        let found = try_eventually(HANG_GUARD, async || {
            let view = self.get_json(&path, bearer).await;
            if finals.iter().any(|s| view["status"] == *s) {
                Ok(view)
            } else {
                Err(view)
            }
        })
        .await;
        found.unwrap_or_else(|view| {
            panic!(
                "hang guard ({HANG_GUARD:?}) passed waiting for task {task} to be one of \
                 {finals:?}:\n{view:#}\nserver log:\n{}",
                self.logs()
            )
        })
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `binary` to completion (for startup failures): exit code and stderr.
pub fn run_to_exit(
    binary: &str,
    config: &TestConfig,
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let mut command = Command::new(binary);
    command
        .arg("--config-root")
        .arg(config.root())
        .env("TASKER_WEB_BIND_ADDRESS", "127.0.0.1:0")
        .current_dir(config.root())
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `binary` with `config` as its config root on a free loopback port, stdin closed, the
/// variables that would override the test's files removed, then `env` applied.
pub(crate) fn server_command(binary: &str, config: &TestConfig, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("--config-root")
        .arg(config.root())
        .env_remove("TASKER_ENV")
        .env_remove("TASKER_CONFIG_PATH")
        .env_remove("DATABASE_URL")
        .env_remove("TASKER_JWT_PUBLIC_KEY_PATH")
        .env_remove("TASKER_JWT_PUBLIC_KEY")
        .env("TASKER_WEB_BIND_ADDRESS", "127.0.0.1:0")
        .current_dir(config.root())
        .stdin(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Path of a workspace binary next to the running test. `cargo test --workspace` builds every
/// binary first; when a narrower run (`cargo test -p tasker-server`) did not, the binary is
/// built here, once per process, with the cargo that runs the tests.
pub fn binary(name: &str) -> String {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let path = dir.join(name);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !path.exists() && !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let status = std::process::Command::new(cargo)
            .args(["build", "--workspace", "--bins"])
            .current_dir(workspace)
            .status();
        built.push(name.to_owned());
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("building the workspace binaries for {name} failed: {status:?}");
        }
    }
    if !path.exists() {
        // Not a panic message to decode: say what is missing and how to get it.
        panic!(
            "the {name} binary is not at {} and could not be built; run `cargo build --workspace --bins`",
            path.display()
        );
    }
    path.display().to_string()
}
