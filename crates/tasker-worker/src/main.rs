//! `tasker-worker`: loads the worker configuration, authenticates every protected route, and
//! serves the worker API.

use std::process::ExitCode;
use std::sync::Arc;

mod api;

use clap::Parser;
use serde_json::json;
use tasker_auth::perm;
use tasker_config::WorkerConfig;
use tasker_core::Store;
use tasker_http::{
    CommonState, ConfigFlags, apply_layers, common_routes, finish_openapi, metrics_handle,
    run_server, serve, shutdown_signal,
};
use tasker_orchestration::{load_templates, register_templates};
use tasker_worker::{HandlerRegistry, WorkerRuntime};

/// Tasker worker.
#[derive(Debug, Parser)]
#[command(name = "tasker-worker", version, about)]
struct Args {
    #[command(flatten)]
    config: ConfigFlags,
}

fn main() -> ExitCode {
    // First: this executable also supervises `builtin.command` programs.
    tasker_worker::enable_command_supervisor();
    let args = Args::parse();
    run_server::<WorkerConfig, _, _>("tasker-worker", &args.config, |c| &c.logging, run)
}

async fn run(booted: tasker_http::Booted<WorkerConfig>) -> Result<(), String> {
    let config = &booted.loaded.config;
    booted.auth.start_background();
    let store: Arc<dyn Store> =
        Arc::new(tasker_store::open(&config.database).await.map_err(|e| {
            format!(
                "cannot open the database {}: {e}",
                config.database.url.redacted()
            )
        })?);
    let templates =
        load_templates(&config.templates.search_paths).map_err(|e| format!("templates: {e}"))?;
    register_templates(store.as_ref(), &templates)
        .await
        .map_err(|e| format!("cannot register templates: {e}"))?;
    let mut section = config.worker.clone();
    section
        .id
        .get_or_insert_with(|| format!("{}-{}", hostname(), std::process::id()));
    let registry = HandlerRegistry::with_builtins();
    let handlers = Arc::new(registry.names());
    let runtime = Arc::new(WorkerRuntime::start(
        store.clone(),
        &section,
        &config.engine,
        registry,
    ));
    let state = api::WorkerState {
        store: store.clone(),
        auth: booted.auth.clone(),
        namespaces: section.namespaces.clone(),
        handlers,
    };
    let (api_router, doc) = api::router(state);
    let doc = serde_json::to_value(&doc).map_err(|e| e.to_string())?;
    let probe = store.clone();
    let status = runtime.clone();
    let common = CommonState {
        auth: booted.auth.clone(),
        metrics: metrics_handle(),
        config_view: Arc::new(booted.config_view.clone()),
        readiness: Arc::new(move || {
            let probe = probe.clone();
            Box::pin(async move {
                match probe.ping().await {
                    Ok(()) => Ok(json!({"store": "ok"})),
                    Err(_) => Err(json!({"store": "unreachable"})),
                }
            })
        }),
        health: Arc::new(move || {
            let s = status.status();
            json!({
                "role": "worker",
                "worker_id": s.worker_id,
                "namespaces": s.namespaces,
                "concurrency": s.concurrency,
                "running_steps": s.running_steps,
                "handlers": s.handlers,
            })
        }),
        openapi: Arc::new(finish_openapi(
            doc,
            api::ROUTES,
            config.web.auth.api_key_header.as_str(),
            config.web.config_endpoint_enabled,
        )),
    };
    let router = api_router.merge(common_routes::<perm::WorkerConfigRead>(
        common,
        config.web.config_endpoint_enabled,
    ));
    let router = apply_layers(
        router,
        booted.auth.api_key_header().clone(),
        config.web.max_body_bytes,
        config.web.request_timeout_seconds,
    );
    let bind = config.web.bind_address();
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(address = %local, worker = ?section.id, "worker API listening");
    println!("tasker-worker listening on http://{local}");
    let served = serve(listener, router, shutdown_signal()).await;
    if let Ok(runtime) = Arc::try_unwrap(runtime) {
        runtime.shutdown().await;
    }
    served.map_err(|e| e.to_string())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned())
}
