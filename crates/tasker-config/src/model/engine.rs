//! Sections beyond `[web]`: database, engine defaults, backoff, templates, logging,
//! orchestration loop, DLQ staleness and worker settings.

use serde::{Deserialize, Serialize};

use crate::secret::DatabaseUrl;

/// `[database]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://data/tasker.db` (default) or `postgres://…`.
    pub url: DatabaseUrl,
    /// Pool size; backend default when unset.
    pub max_connections: Option<u32>,
    /// How long startup waits for a PostgreSQL server to accept a connection before it stops
    /// with an error naming the host.
    pub connect_timeout_seconds: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::default(),
            max_connections: None,
            connect_timeout_seconds: 5,
        }
    }
}

/// `[engine]`: defaults applied to template steps that do not set their own.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Attempts per step, the first included.
    pub default_max_attempts: u32,
    /// Step timeout when the template sets none.
    pub default_step_timeout_seconds: u64,
    /// Finished tasks older than this many days are purged by `tasker-server`; 0 = never.
    pub retention_days: u32,
    /// Tasks deleted per purge transaction.
    pub retention_batch_size: u32,
    /// Time between two purge runs of `tasker-server`.
    pub retention_interval_seconds: u64,
    /// How deep decisions may nest in a template (1 to 64).
    pub max_decision_depth: u32,
    /// Most copies one batchable step may create (1 to 1,000,000).
    pub max_batches: u32,
    /// How deep child tasks (`subtask` steps) may nest (1 to 64).
    pub max_subtask_depth: u32,
}

/// Largest accepted `engine.max_subtask_depth`.
pub(crate) const MAX_SUBTASK_DEPTH_LIMIT: u32 = 64;

/// Largest accepted `engine.max_decision_depth`.
pub(crate) const MAX_DECISION_DEPTH_LIMIT: u32 = 64;
/// Largest accepted `engine.max_batches`.
pub(crate) const MAX_BATCHES_LIMIT: u32 = 1_000_000;

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            default_max_attempts: 3,
            default_step_timeout_seconds: 300,
            retention_days: 0,
            retention_batch_size: 100,
            retention_interval_seconds: 3600,
            max_decision_depth: 8,
            max_batches: 10_000,
            max_subtask_depth: 8,
        }
    }
}

/// `[backoff]`: retry delay `min(base · 2^(attempt-1), max)` with jitter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffConfig {
    /// First retry delay.
    pub base_ms: u64,
    /// Upper bound of the delay.
    pub max_ms: u64,
    /// Random spread added to each delay, in percent of it.
    pub jitter_percent: u8,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base_ms: 1000,
            max_ms: 60_000,
            jitter_percent: 10,
        }
    }
}

/// `[templates]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TemplatesConfig {
    /// Directories searched recursively for `*.yaml` / `*.yml` templates.
    pub search_paths: Vec<String>,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        Self {
            search_paths: vec!["config/tasks".to_owned()],
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[logging]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// `error`, `warn`, `info`, `debug`, `trace` or a tracing filter directive.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// `[orchestration]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrchestrationSection {
    /// Run a worker inside `tasker-server`.
    pub embedded_worker: bool,
    /// Fallback polling interval when no event arrives.
    pub poll_interval_ms: u64,
}

impl Default for OrchestrationSection {
    fn default() -> Self {
        Self {
            embedded_worker: true,
            poll_interval_ms: 500,
        }
    }
}

/// `[dlq]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DlqConfig {
    /// `[dlq.staleness]`
    pub staleness: StalenessConfig,
}

/// `[dlq.staleness]`: how long a task may wait in a state before a DLQ entry is opened.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StalenessConfig {
    /// Run the staleness detector.
    pub enabled: bool,
    /// Detector period.
    pub detector_interval_seconds: u64,
    /// Threshold for `pending` tasks.
    pub pending_threshold_minutes: u64,
    /// Threshold for `steps_in_process` tasks.
    pub steps_in_process_threshold_minutes: u64,
    /// Threshold for `waiting_for_retry` tasks.
    pub waiting_for_retry_threshold_minutes: u64,
}

impl Default for StalenessConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            detector_interval_seconds: 60,
            pending_threshold_minutes: 60,
            steps_in_process_threshold_minutes: 120,
            waiting_for_retry_threshold_minutes: 60,
        }
    }
}

/// `[worker]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSection {
    /// Worker id; host name + pid when unset.
    pub id: Option<String>,
    /// Namespaces served; empty = every namespace.
    pub namespaces: Vec<String>,
    /// Steps run at once.
    pub concurrency: usize,
    /// Most steps claimed ahead of the free slots and held (leased) in a local buffer, so a
    /// busy worker claims in larger batches and a freed slot starts its next step without a
    /// round trip to the store. The buffer holds at most what the worker started in the last
    /// second. `None` = 16 × `concurrency`, 0 = claim only for free slots. At most
    /// [`MAX_PREFETCH`].
    pub prefetch: Option<usize>,
    /// Claim lease, renewed while a step runs.
    pub lease_seconds: u64,
    /// Fallback polling interval when no event arrives.
    pub poll_interval_ms: u64,
    /// Grace period for running steps at shutdown; the leases of steps still running after it
    /// are released.
    pub shutdown_timeout_seconds: u64,
    /// Most bytes of step log kept per attempt (stderr lines of `builtin.command`, lines of
    /// Rust handlers); 0 keeps none. At most [`MAX_STEP_LOG_BYTES`].
    pub step_log_max_bytes: u64,
    /// How often the worker takes back expired leases and enqueues due retries, so a
    /// deployment without `tasker-server` still recovers from dead workers; 0 = never.
    pub lease_recovery_interval_ms: u64,
    /// When the task of a running step is cancelled: how long the handler gets to stop after
    /// its cancellation signal (a `builtin.command` program: after SIGTERM) before it is
    /// stopped for good (SIGKILL). At most [`MAX_CANCEL_GRACE_SECONDS`].
    pub cancel_grace_seconds: u64,
}

/// Largest accepted `worker.prefetch` (the most steps one claim takes).
pub const MAX_PREFETCH: usize = 1000;

/// Largest accepted `worker.cancel_grace_seconds` (one hour).
pub const MAX_CANCEL_GRACE_SECONDS: u64 = 3600;

/// Largest accepted `worker.step_log_max_bytes` (16 MiB).
pub const MAX_STEP_LOG_BYTES: u64 = 16 * 1024 * 1024;

impl WorkerSection {
    /// The largest buffer of claimed steps waiting for a slot: `prefetch`, or 16 ×
    /// `concurrency` when unset; at most [`MAX_PREFETCH`].
    pub fn prefetch_steps(&self) -> usize {
        self.prefetch
            .unwrap_or(self.concurrency.saturating_mul(16))
            .min(MAX_PREFETCH)
    }
}

impl Default for WorkerSection {
    fn default() -> Self {
        Self {
            id: None,
            namespaces: Vec::new(),
            concurrency: 8,
            prefetch: None,
            lease_seconds: 30,
            poll_interval_ms: 500,
            shutdown_timeout_seconds: 30,
            step_log_max_bytes: 64 * 1024,
            lease_recovery_interval_ms: 1000,
            cancel_grace_seconds: 5,
        }
    }
}
