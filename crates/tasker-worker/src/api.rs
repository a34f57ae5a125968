//! The worker process as a library: [`app`] builds the worker API (its routes, the common
//! health/metrics/OpenAPI routes and the middleware); [`run`] is the whole life of a worker
//! process with a given handler registry, so a binary with custom Rust handlers is one call.

mod routes;
mod views;

pub use views::worker_status;

use std::sync::Arc;

use axum::Router;
use serde_json::json;
use tasker_auth::{Authenticator, perm};
use tasker_config::{RedactedView, WebConfig, WorkerConfig};
use tasker_core::Store;
use tasker_http::{RoleApi, RoleProbes, assemble, listen, store_readiness};

use crate::handlers::registry::HandlerRegistry;
use crate::runtime::worker::WorkerRuntime;

/// Everything the worker API serves from.
#[derive(Clone)]
pub struct WorkerApiState {
    /// The store the runtime works on.
    pub store: Arc<dyn Store>,
    /// The authenticator built from `[web.auth]`.
    pub auth: Arc<Authenticator>,
    /// `[web]`.
    pub web: WebConfig,
    /// The redacted configuration served by `/config`.
    pub config_view: Arc<RedactedView>,
    /// The running runtime (its status is shown by `/health/detailed`).
    pub runtime: Arc<WorkerRuntime>,
}

/// The worker application: every route, with the middleware stack.
pub fn app(state: WorkerApiState) -> Router {
    let status = state.runtime.status();
    let (router, doc) = routes::router(routes::WorkerState {
        store: state.store.clone(),
        auth: state.auth.clone(),
        namespaces: status.namespaces,
        handlers: Arc::new(status.handlers),
    });
    let probe = state.store.clone();
    let runtime = state.runtime.clone();
    let probes = RoleProbes {
        auth: state.auth,
        config_view: state.config_view,
        readiness: store_readiness(move || {
            let probe = probe.clone();
            async move { probe.ping().await.is_ok() }
        }),
        details: Arc::new(move || {
            let mut detail = serde_json::to_value(views::worker_status(runtime.status()))
                .unwrap_or_else(|_| json!({}));
            if let Some(map) = detail.as_object_mut() {
                map.insert("role".to_owned(), json!("worker"));
            }
            detail
        }),
    };
    let api = RoleApi { router, doc };
    assemble::<perm::WorkerConfigRead>(api, probes, &state.web)
}

/// The life of a worker process: open the store, register the templates, start the runtime
/// with `registry`, serve the worker API until SIGINT/SIGTERM, and stop the runtime gracefully
/// from that signal on ([`WorkerRuntime::shutdown`]).
pub async fn run(
    booted: tasker_http::Booted<WorkerConfig>,
    registry: HandlerRegistry,
) -> Result<(), String> {
    let config = &booted.loaded.config;
    booted.auth.start_background();
    let store: Arc<dyn Store> =
        Arc::new(tasker_store::open(&config.database).await.map_err(|e| {
            format!(
                "cannot open the database {}: {e}",
                config.database.url.redacted()
            )
        })?);
    tasker_store::load_and_register(store.as_ref(), &config.templates.search_paths)
        .await
        .map_err(|e| format!("templates: {e}"))?;
    let mut section = config.worker.clone();
    section
        .id
        .get_or_insert_with(|| format!("{}-{}", hostname(), std::process::id()));
    let runtime = Arc::new(WorkerRuntime::start(
        store.clone(),
        &section,
        &config.engine,
        registry,
    ));
    tracing::info!(worker = ?section.id, "worker started");
    let router = app(WorkerApiState {
        store,
        auth: booted.auth.clone(),
        web: config.web.clone(),
        config_view: Arc::new(booted.config_view.clone()),
        runtime: runtime.clone(),
    });
    let served = serve_and_drain("tasker-worker", &config.web, router, &runtime).await;
    runtime.shutdown().await;
    served
}

/// Serves `router` until the first termination signal and, from that signal on, stops
/// `runtime` (no more claims, running steps finish or are released) while requests drain.
/// Returns once both are done, or at once when serving fails.
pub async fn serve_and_drain(
    name: &str,
    web: &WebConfig,
    router: Router,
    runtime: &Arc<WorkerRuntime>,
) -> Result<(), String> {
    let stopping = runtime.clone();
    let drain = tokio::spawn(async move {
        tasker_http::shutdown_signal().await;
        stopping.shutdown().await;
    });
    let served = listen(name, web, router).await;
    if served.is_ok() {
        let _ = drain.await;
    } else {
        drain.abort();
    }
    served
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned())
}
