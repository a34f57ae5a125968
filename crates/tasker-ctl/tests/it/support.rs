//! Running the binary, the committed fixture keys, and config trees.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, TokenData, Validation};
use tasker_jwt::Claims;
use tasker_testkit::{fixture, fixture_text};

/// Variables the binary reads; cleared so the caller's environment cannot leak in.
const CLEARED: &[&str] = &[
    "TASKER_CONFIG_ROOT",
    "TASKER_ENV",
    "TASKER_CONFIG_PATH",
    "TASKER_JWT_PRIVATE_KEY_PATH",
    "TASKER_JWT_PUBLIC_KEY_PATH",
    "TASKER_JWT_PUBLIC_KEY",
    "DATABASE_URL",
    "TASKER_WEB_BIND_ADDRESS",
    "TASKER_ALLOW_INSECURE",
    "TASKER_ORCHESTRATION_URL",
    "TASKER_WORKER_URL",
    "TASKER_ORCHESTRATION_AUTH_TOKEN",
    "TASKER_WORKER_AUTH_TOKEN",
    "TASKER_AUTH_TOKEN",
    "TASKER_API_KEY",
    "TASKER_API_KEY_HEADER",
];

pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    /// Panics with both streams unless the exit code is `code`.
    pub(crate) fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A `tasker-ctl` invocation running in `cwd`.
pub(crate) struct Ctl {
    command: Command,
    stdin: Option<String>,
}

impl Ctl {
    pub(crate) fn new(cwd: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tasker-ctl"));
        command.current_dir(cwd);
        for name in CLEARED {
            command.env_remove(name);
        }
        command.env("RUST_BACKTRACE", "1");
        Self {
            command,
            stdin: None,
        }
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command.args(args);
        self
    }

    pub(crate) fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    pub(crate) fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_owned());
        self
    }

    /// The prepared command, for a test that drives the process itself.
    pub(crate) fn command(self) -> Command {
        self.command
    }

    /// Runs under the testkit's hang guard (stdin closed, stdout discarded): exit code and
    /// stderr. For inputs that could block the binary.
    pub(crate) fn run_guarded(self) -> (Option<i32>, String) {
        tasker_testkit::run_guarded(self.command)
    }

    pub(crate) fn run(mut self) -> Output {
        self.command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn().unwrap();
        if let Some(text) = &self.stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let output = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        };
        assert!(
            !output.stderr.contains("panicked") && !output.stderr.contains("stack backtrace"),
            "the binary panicked:\n{}",
            output.stderr
        );
        output
    }
}

/// A committed fixture key pair.
pub(crate) struct KeyFiles {
    pub(crate) private_path: PathBuf,
    pub(crate) public_path: PathBuf,
    pub(crate) private_pem: String,
    pub(crate) public_pem: String,
}

fn key_files(name: &str) -> KeyFiles {
    let private_path = fixture(&format!("{name}-private.pem"));
    let public_path = fixture(&format!("{name}-public.pem"));
    KeyFiles {
        private_pem: fixture_text(&format!("{name}-private.pem")),
        public_pem: fixture_text(&format!("{name}-public.pem")),
        private_path,
        public_path,
    }
}

/// The pair most tests sign and verify with (fixture `rsa-a`).
pub(crate) fn keys() -> &'static KeyFiles {
    static KEYS: OnceLock<KeyFiles> = OnceLock::new();
    KEYS.get_or_init(|| key_files("rsa-a"))
}

/// A second, unrelated pair (fixture `rsa-b`).
pub(crate) fn other_keys() -> &'static KeyFiles {
    static KEYS: OnceLock<KeyFiles> = OnceLock::new();
    KEYS.get_or_init(|| key_files("rsa-b"))
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims signed with `keys`, valid from `now` for `lifetime_secs` (negative: already past).
pub(crate) fn mint(
    keys: &KeyFiles,
    sub: &str,
    permissions: &[&str],
    start: i64,
    hours: u64,
) -> String {
    let claims = Claims::new(
        sub,
        "tasker-core",
        "tasker-api",
        permissions.iter().map(|p| (*p).to_owned()).collect(),
        Duration::from_secs(hours * 3600),
        start,
    )
    .unwrap();
    tasker_jwt::mint_token(&keys.private_pem, &claims, None).unwrap()
}

/// Verifies `token` with `keys`' public key for `issuer` and `audience`.
pub(crate) fn decode(
    token: &str,
    keys: &KeyFiles,
    issuer: &str,
    audience: &str,
) -> TokenData<Claims> {
    let key = DecodingKey::from_rsa_pem(keys.public_pem.as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Claims>(token, &key, &validation).unwrap()
}

#[cfg(unix)]
pub(crate) fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
