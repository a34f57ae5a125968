//! Orchestration behaviour suite: the example workflows and failure paths run end to end
//! through `Orchestrator` and `WorkerRuntime`. Each test runs as `NAME::sqlite` and as
//! `NAME::postgres` (a schema of its own on the server at `TASKER_TEST_DATABASE_URL`; reported
//! as ignored when that is not set).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod dynamic;
mod failures;
mod flows;
mod harness;
mod retention;
mod schedules;
mod scopes;
mod step_logs;
mod template_files;
mod workers;
