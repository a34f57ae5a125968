//! Test support shared by the integration tests: fixture keys, token minting, and running a
//! Tasker server binary on an ephemeral loopback port with its own config root.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod server;
mod tokens;

pub use server::{ServerProcess, TestConfig, binary, run_to_exit};
pub use tokens::{Token, fixture, fixture_text};
