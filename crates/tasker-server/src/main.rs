//! `tasker-server`: loads the orchestration configuration and runs the orchestration server
//! (see the library for the application itself).

use std::process::ExitCode;

use clap::Parser;
use tasker_config::OrchestrationConfig;
use tasker_http::{ConfigFlags, run_server};

/// mimalloc: the engine allocates many small, short-lived buffers (rows, JSON, statements),
/// where glibc's allocator took about a tenth of a drain's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    run_server::<OrchestrationConfig, _, _>(
        "tasker-server",
        &args.config,
        |c| &c.logging,
        tasker_server::run,
    )
}
