//! A real OpenID Connect provider for the OIDC sign-in test: the npm package `oidc-provider`
//! run under the machine's Node.js from `.ci/oidc-provider/` (`.ci/run` installs it with
//! `npm ci`). Started on a port of its own, killed with its process group on drop.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The console's client id at the provider.
pub(crate) const CLIENT_ID: &str = "tasker-console";
/// The `aud` of the provider's access tokens (Tasker's default `jwt_audience`).
pub(crate) const AUDIENCE: &str = "tasker-api";

/// A running provider.
pub(crate) struct Provider {
    child: Child,
    /// `http://127.0.0.1:PORT`, also its issuer.
    pub(crate) issuer: String,
}

fn directory() -> PathBuf {
    tasker_testkit::repo_root().join(".ci/oidc-provider")
}

/// Why the provider cannot run here, when it cannot.
pub(crate) fn missing() -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(node, Ok(s) if s.success()) {
        return Some("Node.js (`node`) is not installed".to_owned());
    }
    let package = directory().join("node_modules/oidc-provider/package.json");
    if !package.exists() {
        return Some(format!(
            "the OIDC provider is not installed: run `npm ci` in {}",
            directory().display()
        ));
    }
    None
}

impl Provider {
    /// Starts the provider for a console whose callback is `redirect_uri`, issuing access
    /// tokens that carry `permissions`.
    pub(crate) fn start(redirect_uri: &str, permissions: &[&str]) -> Self {
        let issuer = format!("http://127.0.0.1:{}", tasker_testkit::closed_port());
        let mut child = Command::new("node")
            .arg("provider.js")
            .current_dir(directory())
            .process_group(0)
            .env("OIDC_ISSUER", &issuer)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_REDIRECT_URI", redirect_uri)
            .env("OIDC_AUDIENCE", AUDIENCE)
            .env("OIDC_PERMISSIONS", permissions.join(","))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node provider.js");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.trim() == "ready" {
                    let _ = tx.send(());
                }
            }
        });
        let provider = Self { child, issuer };
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the OIDC provider did not print `ready` within 30 s");
        provider
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
