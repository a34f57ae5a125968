//! `tasker-worker`: loads the worker configuration, authenticates every protected route, and
//! serves the worker API.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use serde_json::json;
use tasker_auth::perm;
use tasker_config::WorkerConfig;
use tasker_http::{
    CommonState, ConfigFlags, apply_layers, boot, common_routes, finish_openapi, metrics_handle,
    serve, shutdown_signal,
};

/// Tasker worker.
#[derive(Debug, Parser)]
#[command(name = "tasker-worker", version, about)]
struct Args {
    #[command(flatten)]
    config: ConfigFlags,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let booted = match boot::<WorkerConfig>(&args.config, |c| &c.logging) {
        Ok(booted) => booted,
        Err(message) => {
            eprintln!("tasker-worker: configuration error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("tasker-worker: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(booted)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tasker-worker: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(booted: tasker_http::Booted<WorkerConfig>) -> Result<(), String> {
    let config = &booted.loaded.config;
    booted.auth.start_background();
    let worker_id = config
        .worker
        .id
        .clone()
        .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    let namespaces = config.worker.namespaces.clone();
    let common = CommonState {
        auth: booted.auth.clone(),
        metrics: metrics_handle(),
        config_view: Arc::new(booted.config_view.clone()),
        readiness: Arc::new(|| Box::pin(async { Ok(json!({})) })),
        health: Arc::new(
            move || json!({"role": "worker", "worker_id": worker_id, "namespaces": namespaces}),
        ),
        openapi: Arc::new(finish_openapi(
            json!({"openapi": "3.1.0", "info": {"title": "Tasker worker API", "version": env!("CARGO_PKG_VERSION")}, "paths": {}}),
            &[("GET", "/config", tasker_proto::Permission::WorkerConfigRead)],
            config.web.auth.api_key_header.as_str(),
            config.web.config_endpoint_enabled,
        )),
    };
    let router =
        common_routes::<perm::WorkerConfigRead>(common, config.web.config_endpoint_enabled);
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
    tracing::info!(address = %local, "worker API listening");
    println!("tasker-worker listening on http://{local}");
    serve(listener, router, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned())
}
