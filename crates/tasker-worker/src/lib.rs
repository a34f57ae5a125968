//! The Tasker worker library: the runtime that claims ready steps with leases, runs them with
//! bounded concurrency and per-step timeouts, renews leases while handlers run and reports
//! results; the [`StepHandler`] trait with its [`HandlerRegistry`]; the built-in handlers; and
//! the worker process itself ([`run`]) with its HTTP API ([`app`]).

mod api;

mod handlers {
    //! The handler contract, the registry, and the built-in handlers.
    pub(crate) mod arithmetic;
    pub(crate) mod builtin;
    pub(crate) mod cancel;
    pub(crate) mod command;
    pub(crate) mod dynamic;
    pub(crate) mod host_paths;
    pub(crate) mod registry;
    pub(crate) mod step_log;
    pub(crate) mod supervisor;
}

mod runtime {
    //! The claim/run/report loop, the execution of one claimed step, and lease recovery.
    pub(crate) mod dispatch;
    pub(crate) mod execute;
    pub(crate) mod log_writer;
    pub(crate) mod recovery;
    pub(crate) mod reporter;
    pub(crate) mod worker;
}

pub use api::{WorkerApiState, app, run, serve_and_drain, worker_status};
pub use handlers::cancel::Cancellation;
pub use handlers::registry::{HandlerError, HandlerRegistry, StepHandler, StepInput};
pub use handlers::step_log::StepLog;
pub use handlers::supervisor::{enable_command_supervisor, set_command_supervisor};
pub use runtime::worker::{RunningStep, WorkerRuntime, WorkerStatus};
