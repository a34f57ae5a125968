//! A worker binary of your own: the Tasker worker runtime with a handler written in Rust,
//! registered next to the built-in ones (`builtin.echo`, `builtin.command`, …).
//!
//! It reads the worker role's configuration like `tasker-worker` does (`TASKER_CONFIG_ROOT`,
//! `TASKER_ENV`, `DATABASE_URL`, …), registers the templates of its search paths plus
//! `examples/templates/greeting.yaml`, claims steps until SIGINT or SIGTERM, then lets running
//! steps finish within `worker.shutdown_timeout_seconds`. (To serve the worker API as well,
//! hand the registry to `tasker_worker::run` from `tasker_http::run_server`, as
//! `tasker-worker`'s own `main` does.)
//!
//! ```text
//! cargo run --example custom_handler -p tasker-worker
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tasker_config::{Env, LoadOptions, Loaded, WorkerConfig};
use tasker_core::Store;
use tasker_worker::{HandlerError, HandlerRegistry, StepHandler, StepInput, WorkerRuntime};

/// `greetings.greet`: greets `context.name` with `initialization.greeting`.
struct Greet;

#[async_trait]
impl StepHandler for Greet {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        // Bad input never gets better: fail permanently, the task goes to the DLQ.
        let name = input
            .context
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| HandlerError::permanent("context.name must be a string"))?;
        let greeting = input
            .initialization
            .get("greeting")
            .and_then(Value::as_str)
            .unwrap_or("Hello");
        Ok(json!({
            "message": format!("{greeting}, {name}!"),
            "attempt": input.attempt,
        }))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = Env::from_process();
    let config = Loaded::<WorkerConfig>::load(&LoadOptions::from_env(&env), &env)?.config;

    let store: Arc<dyn Store> = Arc::new(tasker_store::open(&config.database).await?);
    let mut search_paths = config.templates.search_paths.clone();
    let ours = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/templates");
    let same = |p: &String| std::fs::canonicalize(p).ok() == std::fs::canonicalize(ours).ok();
    if !search_paths.iter().any(same) {
        search_paths.push(ours.to_owned());
    }
    tasker_store::load_and_register(store.as_ref(), &search_paths).await?;

    let mut registry = HandlerRegistry::with_builtins();
    registry.register("greetings.greet", Greet);

    let runtime = WorkerRuntime::start(store, &config.worker, &config.engine, registry);
    println!("custom worker {} running", runtime.status().worker_id);

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    runtime.shutdown().await;
    Ok(())
}
