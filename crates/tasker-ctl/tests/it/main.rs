//! Runs the real `tasker-ctl` binary in temporary directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api_keys;
mod config;
mod jwks;
mod keys;
mod permissions;
mod support;
mod tokens;
