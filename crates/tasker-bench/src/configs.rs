//! The configuration files each benchmark writes into its temporary config root. Every
//! figure depends on these settings, so they are spelled out here in one place.

use anyhow::Result;

use crate::procs::ConfigRoot;
use crate::tokens;

/// Orchestration-loop and worker fallback polling: the product's default. Both loops wake
/// on the store's work signal (in-process notify for SQLite, LISTEN/NOTIFY for PostgreSQL),
/// so the fallback only matters when a signal is lost; a shorter one (10 ms is the smallest
/// accepted) only adds sweeps and idle claims to what is measured.
pub(crate) const POLL_INTERVAL_MS: u64 = 500;

/// `worker.prefetch` of every worker the benchmarks start (`--prefetch`); unset = the
/// product's default (16 × the worker's concurrency).
static PREFETCH: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Sets `worker.prefetch` for the rest of the run (first call wins).
pub(crate) fn set_prefetch(prefetch: usize) {
    let _ = PREFETCH.set(prefetch);
}

/// The `worker.prefetch` the benchmarks configure, `None` for the default.
pub(crate) fn prefetch() -> Option<usize> {
    PREFETCH.get().copied()
}

/// Steps one worker runs at once.
pub(crate) const WORKER_CONCURRENCY: usize = 8;

/// The API key the auth benchmark's server accepts.
pub(crate) const API_KEY: &str = "sk-tasker-bench-0123456789abcdef";

const LINEAR: &str = include_str!("../../../config/tasks/linear_math.yaml");
const DIAMOND: &str = include_str!("../../../config/tasks/diamond_math.yaml");
/// The batch example the fan-out benchmark runs.
pub(crate) const BATCH_SUM: &str = include_str!("../../../config/tasks/batch_sum.yaml");

/// Which server a benchmark starts.
pub(crate) enum ServerKind {
    /// Auth off, no templates: the baseline of the auth benchmark.
    AuthDisabled,
    /// Auth on with the fixture public key and one API key, no templates.
    AuthEnabled,
    /// Auth off, the example templates, an embedded worker when `embedded_worker`.
    Workflow { embedded_worker: bool },
}

/// Writes a config root for `kind`.
pub(crate) fn root_for(kind: &ServerKind) -> Result<ConfigRoot> {
    let root = ConfigRoot::new()?;
    let templates = match kind {
        ServerKind::Workflow { .. } => {
            root.write("templates/linear_math.yaml", LINEAR)?;
            root.write("templates/diamond_math.yaml", DIAMOND)?;
            format!(
                "[{:?}]",
                root.path().join("templates").display().to_string()
            )
        }
        _ => "[]".to_owned(),
    };
    root.write(
        "base/common.toml",
        &format!("[templates]\nsearch_paths = {templates}\n\n[logging]\nlevel = \"warn\"\n"),
    )?;
    let auth = match kind {
        ServerKind::AuthEnabled => {
            let key = root.write("rsa-a-public.pem", tokens::PUBLIC_KEY_PEM)?;
            format!(
                "[web.auth]\nenabled = true\njwt_public_key_path = {:?}\n\n\
                 [[web.auth.api_keys]]\nkey = {API_KEY:?}\npermissions = [{:?}]\n\
                 description = \"tasker-bench\"\n",
                key.display().to_string(),
                tokens::PERMISSION,
            )
        }
        _ => "[web.auth]\nenabled = false\n".to_owned(),
    };
    let embedded = match kind {
        ServerKind::Workflow { embedded_worker } => *embedded_worker,
        _ => false,
    };
    root.write(
        "base/orchestration.toml",
        &format!(
            "{auth}\n[orchestration]\nembedded_worker = {embedded}\npoll_interval_ms = {POLL_INTERVAL_MS}\n\n\
             [dlq.staleness]\nenabled = false\n\n{}",
            worker_section()
        ),
    )?;
    root.write("base/worker.toml", &worker_section())?;
    Ok(root)
}

/// Sets `worker.concurrency` of both roles (the embedded worker reads the orchestration file).
pub(crate) fn set_worker_concurrency(root: &ConfigRoot, concurrency: usize) -> Result<()> {
    root.write(
        "environments/development/worker.toml",
        &format!("[worker]\nconcurrency = {concurrency}\n"),
    )?;
    root.write(
        "environments/development/orchestration.toml",
        &format!("[worker]\nconcurrency = {concurrency}\n"),
    )?;
    Ok(())
}

fn worker_section() -> String {
    let prefetch = prefetch().map_or(String::new(), |p| format!("prefetch = {p}\n"));
    format!(
        "[worker]\nconcurrency = {WORKER_CONCURRENCY}\n{prefetch}poll_interval_ms = {POLL_INTERVAL_MS}\nlease_seconds = 30\n"
    )
}
