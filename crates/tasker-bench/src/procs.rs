//! The processes a benchmark runs: `tasker-server` and `tasker-worker` found next to this
//! executable, started with a temporary config root on `127.0.0.1:0`, and killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// How long a process may take to print its listening address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of a workspace binary built next to the running executable (`target/release` for
/// `target/release/tasker-bench`; the parent directory for test executables in `deps/`).
pub(crate) fn sibling_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the running executable")?;
    let mut dir = exe
        .parent()
        .ok_or_else(|| anyhow!("executable has no directory"))?;
    if dir.ends_with("deps") {
        dir = dir.parent().unwrap_or(dir);
    }
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build it first, e.g. `cargo build --release -p tasker-server -p tasker-worker -p tasker-bench`",
            path.display()
        );
    }
    Ok(path)
}

/// A temporary config root (`base/` + `environments/`) written by the benchmark.
pub(crate) struct ConfigRoot {
    dir: tempfile::TempDir,
}

impl ConfigRoot {
    /// An empty root with the `development` environment directory.
    pub(crate) fn new() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tasker-bench-")
            .tempdir()
            .context("cannot create a temporary config root")?;
        let root = Self { dir };
        root.write("environments/development/.keep", "")?;
        Ok(root)
    }

    /// Writes `text` at `relative` under the root and returns the absolute path.
    pub(crate) fn write(&self, relative: &str, text: &str) -> Result<PathBuf> {
        let path = self.dir.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// The root directory.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A running `tasker-server` or `tasker-worker`, killed (not drained) on drop.
pub(crate) struct Process {
    name: String,
    child: Child,
    /// `http://127.0.0.1:PORT`, once reported.
    pub(crate) base_url: String,
    log_path: PathBuf,
    ready: Option<mpsc::Receiver<String>>,
}

impl Process {
    /// Starts `binary` and waits for its listening line.
    pub(crate) fn start(binary: &Path, root: &ConfigRoot, database_url: &str) -> Result<Self> {
        let mut process = Self::spawn(binary, root, database_url)?;
        process.wait_ready()?;
        Ok(process)
    }

    /// Starts `binary` with `root` and `DATABASE_URL`, in a cleared environment so nothing from
    /// the caller's shell (another `DATABASE_URL`, `TASKER_*`) leaks in.
    pub(crate) fn spawn(binary: &Path, root: &ConfigRoot, database_url: &str) -> Result<Self> {
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let log_path = root
            .path()
            .join(format!("{name}-{}.log", uuid::Uuid::new_v4().simple()));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut command = Command::new(binary);
        command
            .arg("--config-root")
            .arg(root.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("TASKER_WEB_BIND_ADDRESS", "127.0.0.1:0")
            .current_dir(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("{name}: no stdout"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some((_, url)) = line.split_once(" listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        Ok(Self {
            name,
            child,
            base_url: String::new(),
            log_path,
            ready: Some(rx),
        })
    }

    /// Waits until the process has printed its listening address.
    pub(crate) fn wait_ready(&mut self) -> Result<()> {
        let Some(rx) = self.ready.take() else {
            return Ok(());
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => {
                self.base_url = url;
                Ok(())
            }
            Err(_) => Err(anyhow!(
                "{} did not report its address within {} s; its log:\n{}",
                self.name,
                START_TIMEOUT.as_secs(),
                self.log_tail()
            )),
        }
    }

    /// `host:port` of the base URL.
    pub(crate) fn addr(&self) -> &str {
        self.base_url
            .strip_prefix("http://")
            .unwrap_or(&self.base_url)
    }

    /// The last lines of the process's log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Peak resident memory so far (`VmHWM` in `/proc/PID/status`, KiB); `None` where the
    /// file is not available.
    pub(crate) fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Fails with the log when the process has exited.
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(anyhow!(
                "{} exited ({status}); its log:\n{}",
                self.name,
                self.log_tail()
            )),
            _ => Ok(()),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
