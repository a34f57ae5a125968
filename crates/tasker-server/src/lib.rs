//! The orchestration server as a library: [`app`] builds the whole orchestration API (the
//! routes of `routes`, the common health/metrics/OpenAPI routes and the middleware) from a
//! [`ServerState`]; [`run`] is the life of the `tasker-server` process. The binary and the
//! in-process tests use the same router.

mod routes;

use std::sync::Arc;

use axum::Router;
use serde_json::json;
use tasker_auth::{Authenticator, perm};
use tasker_config::{OrchestrationConfig, RedactedView, WebConfig, WorkerSection};
use tasker_http::{RoleApi, RoleProbes, assemble, listen, store_readiness};
use tasker_orchestration::Orchestrator;
use tasker_worker::{HandlerRegistry, WorkerRuntime, serve_and_drain};

/// Everything the orchestration API serves from.
#[derive(Clone)]
pub struct ServerState {
    /// The orchestration service.
    pub orchestrator: Orchestrator,
    /// The authenticator built from `[web.auth]`.
    pub auth: Arc<Authenticator>,
    /// `[web]`.
    pub web: WebConfig,
    /// The redacted configuration served by `/config`.
    pub config_view: Arc<RedactedView>,
    /// The embedded worker, when this server runs one (shown by `/health/detailed`).
    pub worker: Option<Arc<WorkerRuntime>>,
}

/// The orchestration application: every route, with the middleware stack.
pub fn app(state: ServerState) -> Router {
    let (router, doc) = routes::router(routes::AppState {
        orchestrator: state.orchestrator.clone(),
        auth: state.auth.clone(),
    });
    let probe = state.orchestrator.clone();
    let worker = state.worker.clone();
    let details: Arc<dyn Fn() -> serde_json::Value + Send + Sync> = Arc::new(move || {
        json!({
            "role": "orchestration",
            "embedded_worker": worker.as_ref().map(|w| tasker_worker::worker_status(w.status())),
        })
    });
    let console = tasker_console::router(tasker_console::ConsoleState {
        orchestrator: state.orchestrator.clone(),
        auth: state.auth.clone(),
        ui: state.web.ui.clone(),
        details: details.clone(),
    });
    let router = router.merge(console);
    let probes = RoleProbes {
        auth: state.auth,
        config_view: state.config_view,
        readiness: store_readiness(move || {
            let probe = probe.clone();
            async move { probe.ping().await.is_ok() }
        }),
        details,
    };
    let api = RoleApi { router, doc };
    assemble::<perm::SystemConfigRead>(api, probes, &state.web)
}

/// The life of `tasker-server`: start the orchestrator (and the embedded worker when
/// configured), serve until SIGINT/SIGTERM (the embedded worker stops claiming at the signal
/// and drains while requests do), then stop both.
pub async fn run(booted: tasker_http::Booted<OrchestrationConfig>) -> Result<(), String> {
    let config = &booted.loaded.config;
    booted.auth.start_background();
    let orchestrator = Orchestrator::start(config)
        .await
        .map_err(|e| format!("cannot start the orchestrator: {e}"))?;
    tracing::info!(
        database = %config.database.url.redacted(),
        "orchestrator started"
    );
    // The orchestration loop recovers expired leases; the embedded worker need not.
    let section = WorkerSection {
        lease_recovery_interval_ms: 0,
        ..config.worker.clone()
    };
    let worker = config.orchestration.embedded_worker.then(|| {
        Arc::new(WorkerRuntime::start(
            orchestrator.store(),
            &section,
            &config.engine,
            HandlerRegistry::with_builtins(),
        ))
    });
    let router = app(ServerState {
        orchestrator: orchestrator.clone(),
        auth: booted.auth.clone(),
        web: config.web.clone(),
        config_view: Arc::new(booted.config_view.clone()),
        worker: worker.clone(),
    });
    let served = match &worker {
        Some(worker) => serve_and_drain("tasker-server", &config.web, router, worker).await,
        None => listen("tasker-server", &config.web, router).await,
    };
    if let Some(worker) = &worker {
        worker.shutdown().await;
    }
    orchestrator.shutdown().await;
    served
}
