//! `Orchestrator`: owns the store handle, the template catalog, the engine defaults and the
//! background tasks. API operations are implemented in the modules named for them.

use std::sync::Arc;

use tasker_config::{DlqConfig, OrchestrationConfig, OrchestrationSection};
use tasker_core::store::StepDefaults;
use tasker_core::{BackoffSettings, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog::Catalog;
use crate::clock::{Clock, SystemClock};
use crate::error::Error;

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) catalog: Catalog,
    pub(crate) defaults: StepDefaults,
    pub(crate) loop_cfg: OrchestrationSection,
    pub(crate) dlq: DlqConfig,
    /// The time source of the schedule loop and schedule operations.
    pub(crate) clock: Arc<dyn Clock>,
    /// Wakes this server's schedule loop when a schedule changes here.
    pub(crate) schedules_changed: tokio::sync::Notify,
    /// `engine.max_batches`, stored with each dynamic task's plan.
    pub(crate) max_batches: u32,
    /// `engine.max_decision_depth`, checked when templates are loaded or validated.
    pub(crate) max_decision_depth: usize,
    /// `engine.max_subtask_depth`, stored with each dynamic task's plan.
    pub(crate) max_subtask_depth: u32,
}

/// The orchestration service. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Orchestrator {
    pub(crate) inner: Arc<Inner>,
    background: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("backend", &self.inner.store.backend())
            .finish()
    }
}

impl Orchestrator {
    /// Connects the configured database (creating and migrating it), registers the templates
    /// found below `templates.search_paths`, and starts the orchestration loop, the
    /// staleness detector and (with `[engine] retention_days`) the retention loop.
    pub async fn start(cfg: &OrchestrationConfig) -> Result<Orchestrator, Error> {
        let store = tasker_store::open(&cfg.database).await?;
        Self::with_store(Arc::new(store), cfg).await
    }

    /// Like [`Orchestrator::start`] over an existing store.
    pub async fn with_store(
        store: Arc<dyn Store>,
        cfg: &OrchestrationConfig,
    ) -> Result<Orchestrator, Error> {
        Self::with_clock(store, cfg, Arc::new(SystemClock::default())).await
    }

    /// Like [`Orchestrator::with_store`], with schedules reading the time from `clock`.
    pub async fn with_clock(
        store: Arc<dyn Store>,
        cfg: &OrchestrationConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Orchestrator, Error> {
        let max_decision_depth = cfg.engine.max_decision_depth as usize;
        crate::catalog::check_decision_depths(&cfg.templates.search_paths, max_decision_depth)?;
        tasker_store::load_and_register(store.as_ref(), &cfg.templates.search_paths).await?;
        let defaults = StepDefaults {
            max_attempts: cfg.engine.default_max_attempts.max(1),
            timeout_seconds: cfg.engine.default_step_timeout_seconds.max(1),
            backoff: BackoffSettings {
                base_ms: cfg.backoff.base_ms,
                max_ms: cfg.backoff.max_ms,
                jitter_percent: cfg.backoff.jitter_percent,
            },
        };
        let (stop, _) = watch::channel(false);
        let orchestrator = Orchestrator {
            inner: Arc::new(Inner {
                store,
                catalog: Catalog::default(),
                defaults,
                loop_cfg: cfg.orchestration.clone(),
                dlq: cfg.dlq.clone(),
                clock,
                schedules_changed: tokio::sync::Notify::new(),
                max_batches: cfg.engine.max_batches,
                max_decision_depth,
                max_subtask_depth: cfg.engine.max_subtask_depth,
            }),
            background: Arc::new(std::sync::Mutex::new(Vec::new())),
            stop,
        };
        orchestrator.refresh_catalog().await?;
        orchestrator.sync_template_schedules().await?;
        let mut handles = crate::background::spawn(&orchestrator.inner, &orchestrator.stop);
        handles.extend(crate::retention::spawn(
            orchestrator.inner.store.clone(),
            &cfg.engine,
            orchestrator.stop.subscribe(),
        ));
        orchestrator
            .background
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(handles);
        Ok(orchestrator)
    }

    /// A handle over shared state for the background tasks; it owns no background tasks.
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Orchestrator {
        Orchestrator {
            inner,
            background: Arc::new(std::sync::Mutex::new(Vec::new())),
            stop: watch::channel(false).0,
        }
    }

    /// The store, for an embedded worker and readiness checks.
    pub fn store(&self) -> Arc<dyn Store> {
        self.inner.store.clone()
    }

    /// Readiness: the database answers.
    pub async fn ping(&self) -> Result<(), Error> {
        Ok(self.inner.store.ping().await?)
    }

    /// Stops the background tasks and waits for them.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let handles: Vec<JoinHandle<()>> = self
            .background
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain(..)
            .collect();
        for h in handles {
            let _ = h.await;
        }
    }
}
