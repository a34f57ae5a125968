//! Runs the real `tasker-ctl` binary in temporary directories, and against real servers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_keys;
mod bad_input;
mod config;
mod dags;
mod failures;
mod hostile_files;
mod jwks;
mod keys;
mod live;
mod permissions;
mod purge;
mod schedules;
mod step_logs;
mod support;
mod tasks;
mod templates_system;
mod tokens;
mod workflows;
