//! Orchestration behaviour suite: the example workflows and failure paths run end to end
//! through `Orchestrator` and `WorkerRuntime`, on SQLite and (when `TASKER_TEST_DATABASE_URL`
//! is set) PostgreSQL.
#![allow(clippy::unwrap_used)]

mod api;
mod failures;
mod flows;
mod harness;
mod scopes;
mod template_files;
mod workers;
