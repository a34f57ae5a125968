//! `tasker-worker`: loads the worker configuration and runs a worker with the built-in
//! handlers (see `tasker_worker::run` for the process itself).

use std::process::ExitCode;

use clap::Parser;
use tasker_config::WorkerConfig;
use tasker_http::{ConfigFlags, run_server};
use tasker_worker::HandlerRegistry;

/// mimalloc (feature `mimalloc`, on by default): a worker allocates many small, short-lived
/// buffers (claimed steps, JSON, statements).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    run_server::<WorkerConfig, _, _>(
        "tasker-worker",
        &args.config,
        |c| &c.logging,
        |booted| tasker_worker::run(booted, HandlerRegistry::with_builtins()),
    )
}
