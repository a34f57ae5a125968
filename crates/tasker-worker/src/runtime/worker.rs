//! `WorkerRuntime`: runs the claim loop (`dispatch`: ready steps of its namespaces for its free
//! slots and a prefetch buffer, woken by the store's work signal or the polling interval),
//! sweeps expired leases (`recovery`), and stops gracefully: stop claiming, hand back the
//! buffer, let running steps finish within the grace period, release the leases of the rest. Dropping the runtime aborts everything without reporting, exactly like a
//! crashed process: leases then expire.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tasker_config::{EngineConfig, WorkerSection};
use tasker_core::Store;
use tasker_core::store::{ClaimRequest, ClaimedStep};
use tokio::sync::{Notify, Semaphore, watch};
use uuid::Uuid;

use super::execute::Execution;
use super::reporter::{Handoff, HandoffReceiver};
use crate::handlers::registry::HandlerRegistry;

/// A step currently running on this worker.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningStep {
    /// Task id.
    pub task_uuid: Uuid,
    /// Step id.
    pub step_uuid: Uuid,
    /// Step name.
    pub name: String,
    /// Handler name.
    pub handler: String,
    /// Attempt number.
    pub attempt: u32,
    /// When this worker started it.
    pub started_at: DateTime<Utc>,
}

/// What the worker's health endpoint reports (as `tasker_proto::api::WorkerStatusView`).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStatus {
    /// Worker id (lease holder name).
    pub worker_id: String,
    /// Namespaces served; empty = all.
    pub namespaces: Vec<String>,
    /// Most steps run at once.
    pub concurrency: usize,
    /// Steps running now.
    pub running_steps: Vec<RunningStep>,
    /// Registered handler names.
    pub handlers: Vec<String>,
}

pub(super) struct Shared {
    pub(super) store: Arc<dyn Store>,
    pub(super) worker_id: String,
    pub(super) namespaces: Vec<String>,
    pub(super) concurrency: usize,
    /// Claimed steps held beyond the free slots (`worker.prefetch`).
    pub(super) prefetch: usize,
    pub(super) poll: Duration,
    pub(super) execution: Execution,
    running: Mutex<HashMap<Uuid, RunningStep>>,
    pub(super) stopping: AtomicBool,
    /// Raised when a slot frees.
    pub(super) wake: Notify,
    /// Steps the reporter claims with results (see `reporter::Handoff`).
    pub(super) handoff: Arc<Handoff>,
    /// The claim loop's end of the handoff, taken when it starts.
    pub(super) handed: Mutex<Option<HandoffReceiver>>,
}

/// Outcomes being recorded at most, per slot of `concurrency`: a slot is free again when its
/// handler ends, while the outcome is still being written.
const RECORDING_PER_SLOT: usize = 32;

/// A step's place among the worker's `concurrency`; handing it back wakes the claim loop.
pub(super) struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    shared: Arc<Shared>,
}

impl Slot {
    pub(super) fn new(permit: tokio::sync::OwnedSemaphorePermit, shared: Arc<Shared>) -> Self {
        Self {
            _permit: permit,
            shared,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.wake.notify_one();
    }
}

/// How long released steps get to hand their leases back once the grace period is over.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running worker. Call [`WorkerRuntime::shutdown`] to stop it gracefully.
pub struct WorkerRuntime {
    shared: Arc<Shared>,
    /// Held for the whole of a shutdown, so a second caller waits for the first to finish.
    main: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    recovery: Option<tokio::task::JoinHandle<()>>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for WorkerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerRuntime")
            .field("worker_id", &self.shared.worker_id)
            .finish()
    }
}

impl WorkerRuntime {
    /// Starts claiming and running steps. Must be called inside a Tokio runtime.
    /// `engine` supplies the defaults applied when a step carries no timeout of its own.
    pub fn start(
        store: Arc<dyn Store>,
        cfg: &WorkerSection,
        engine: &EngineConfig,
        registry: HandlerRegistry,
    ) -> WorkerRuntime {
        let worker_id = cfg.id.clone().unwrap_or_else(default_worker_id);
        let lease =
            chrono::Duration::seconds(i64::try_from(cfg.lease_seconds.max(1)).unwrap_or(30));
        let (handoff, handed) = Handoff::new(ClaimRequest {
            worker_id: worker_id.clone(),
            namespaces: cfg.namespaces.clone(),
            limit: 0,
            lease,
        });
        let shared = Arc::new(Shared {
            store: store.clone(),
            worker_id,
            namespaces: cfg.namespaces.clone(),
            concurrency: cfg.concurrency.max(1),
            prefetch: cfg.prefetch_steps(),
            poll: Duration::from_millis(cfg.poll_interval_ms.max(10)),
            execution: Execution {
                reporter: super::reporter::Reporter::start(store.clone(), Some(handoff.clone())),
                store,
                registry,
                lease,
                default_timeout_seconds: engine.default_step_timeout_seconds,
                step_log_max_bytes: usize::try_from(cfg.step_log_max_bytes).unwrap_or(usize::MAX),
                release: watch::channel(false).0,
                cancel_grace: Duration::from_secs(cfg.cancel_grace_seconds),
                recording: Arc::new(Semaphore::new(
                    cfg.concurrency.max(1).saturating_mul(RECORDING_PER_SLOT),
                )),
            },
            running: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            wake: Notify::new(),
            handoff,
            handed: Mutex::new(Some(handed)),
        });
        tokio::spawn(warn_missing_handlers(shared.clone()));
        let main = tokio::spawn(super::dispatch::run(shared.clone()));
        let recovery = super::recovery::spawn(
            shared.store.clone(),
            shared.worker_id.clone(),
            cfg.lease_recovery_interval_ms,
        );
        tracing::info!(worker = %shared.worker_id, namespaces = ?shared.namespaces, "worker started");
        WorkerRuntime {
            shared,
            main: tokio::sync::Mutex::new(Some(main)),
            recovery,
            shutdown_timeout: Duration::from_secs(cfg.shutdown_timeout_seconds),
        }
    }

    /// Id, namespaces and running steps.
    pub fn status(&self) -> WorkerStatus {
        let mut running: Vec<RunningStep> = self
            .shared
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        running.sort_by_key(|r| r.started_at);
        WorkerStatus {
            worker_id: self.shared.worker_id.clone(),
            namespaces: self.shared.namespaces.clone(),
            concurrency: self.shared.concurrency,
            running_steps: running,
            handlers: self.shared.execution.registry.names(),
        }
    }

    /// The worker id.
    pub fn worker_id(&self) -> &str {
        &self.shared.worker_id
    }

    /// Stops claiming at once, lets running steps finish and report for up to
    /// `shutdown_timeout_seconds`, then stops the handlers still running and releases their
    /// leases, so that another worker claims those steps at once and the attempts do not
    /// count. A second call (concurrent or later) waits for the first to end.
    pub async fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(recovery) = &self.recovery {
            recovery.abort();
        }
        let mut main = self.main.lock().await;
        let Some(handle) = main.as_mut() else {
            return;
        };
        let worker = &self.shared.worker_id;
        let running = self.running_count();
        tracing::info!(
            worker = %worker,
            running,
            grace_seconds = self.shutdown_timeout.as_secs(),
            "stopping: no more claims; running steps may finish within the grace period"
        );
        if tokio::time::timeout(self.shutdown_timeout, &mut *handle)
            .await
            .is_err()
        {
            tracing::warn!(
                worker = %worker,
                running = self.running_count(),
                "grace period over; releasing the leases of the steps still running"
            );
            self.shared.execution.release.send_replace(true);
            if tokio::time::timeout(RELEASE_TIMEOUT, &mut *handle)
                .await
                .is_err()
            {
                tracing::warn!(worker = %worker, "releasing leases did not finish; abandoning them");
                handle.abort();
            }
        }
        *main = None;
        tracing::info!(worker = %worker, "worker stopped");
    }

    fn running_count(&self) -> usize {
        self.shared
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for WorkerRuntime {
    fn drop(&mut self) {
        if let Some(main) = self.main.get_mut().take() {
            main.abort();
        }
        if let Some(recovery) = self.recovery.take() {
            recovery.abort();
        }
    }
}

/// Logs every registered template step of this worker's namespaces whose handler is missing.
async fn warn_missing_handlers(shared: Arc<Shared>) {
    let templates = match shared.store.list_templates().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list templates to check handlers");
            return;
        }
    };
    let registry = &shared.execution.registry;
    for t in templates.iter().map(|r| &r.template) {
        if !shared.namespaces.is_empty() && !shared.namespaces.contains(&t.namespace) {
            continue;
        }
        if let Err(problems) = t.check_handlers(|h| registry.contains(h)) {
            tracing::warn!(
                worker = %shared.worker_id,
                template = %format!("{}/{}@{}", t.namespace, t.name, t.version),
                problems = %problems,
                "template uses handlers this worker does not have"
            );
        }
    }
}

pub(super) async fn execute(shared: &Shared, step: ClaimedStep, slot: Slot) {
    let id = step.step.step_uuid;
    let entry = RunningStep {
        task_uuid: step.step.task_uuid,
        step_uuid: id,
        name: step.step.name.clone(),
        handler: step.step.handler.clone(),
        attempt: step.lease.attempt,
        started_at: Utc::now(),
    };
    shared
        .running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, entry);
    metrics::gauge!("tasker_worker_running_steps").increment(1.0);
    shared.execution.run(step, slot).await;
    metrics::gauge!("tasker_worker_running_steps").decrement(1.0);
    shared
        .running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&id);
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    format!("{host}-{}", std::process::id())
}
