//! `tasker-server`: loads the orchestration configuration, authenticates every protected
//! route, and serves the orchestration API.

mod routes;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use serde_json::json;
use tasker_auth::perm;
use tasker_config::OrchestrationConfig;
use tasker_http::{
    CommonState, ConfigFlags, apply_layers, common_routes, finish_openapi, metrics_handle,
    run_server, serve, shutdown_signal,
};
use tasker_orchestration::Orchestrator;
use tasker_worker::{HandlerRegistry, WorkerRuntime};

/// Tasker orchestration server.
#[derive(Debug, Parser)]
#[command(name = "tasker-server", version, about)]
struct Args {
    #[command(flatten)]
    config: ConfigFlags,
}

fn main() -> ExitCode {
    // First: this executable also supervises `builtin.command` programs.
    tasker_worker::enable_command_supervisor();
    let args = Args::parse();
    run_server::<OrchestrationConfig, _, _>("tasker-server", &args.config, |c| &c.logging, run)
}

async fn run(booted: tasker_http::Booted<OrchestrationConfig>) -> Result<(), String> {
    let config = &booted.loaded.config;
    booted.auth.start_background();
    let orchestrator = Orchestrator::start(config)
        .await
        .map_err(|e| format!("cannot start the orchestrator: {e}"))?;
    tracing::info!(
        database = %config.database.url.redacted(),
        "orchestrator started"
    );
    let worker = config.orchestration.embedded_worker.then(|| {
        Arc::new(WorkerRuntime::start(
            orchestrator.store(),
            &config.worker,
            &config.engine,
            HandlerRegistry::with_builtins(),
        ))
    });
    let state = routes::AppState {
        orchestrator: orchestrator.clone(),
        auth: booted.auth.clone(),
    };
    let (api, doc) = routes::router(state);
    let doc = serde_json::to_value(&doc).map_err(|e| e.to_string())?;
    let openapi = finish_openapi(
        doc,
        routes::ROUTES,
        config.web.auth.api_key_header.as_str(),
        config.web.config_endpoint_enabled,
    );
    let probe = orchestrator.clone();
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
        health: {
            let worker = worker.clone();
            Arc::new(move || {
                json!({
                    "role": "orchestration",
                    "embedded_worker": worker.as_ref().map(|w| w.status()),
                })
            })
        },
        openapi: Arc::new(openapi),
    };
    let router = api.merge(common_routes::<perm::SystemConfigRead>(
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
    tracing::info!(address = %local, "orchestration API listening");
    println!("tasker-server listening on http://{local}");
    let served = serve(listener, router, &config.web, shutdown_signal()).await;
    if let Some(worker) = worker.and_then(|w| Arc::try_unwrap(w).ok()) {
        worker.shutdown().await;
    }
    orchestrator.shutdown().await;
    served.map_err(|e| e.to_string())
}
