//! Test support shared by the integration tests: fixture keys, token minting, and running a
//! Tasker server binary on an ephemeral loopback port with its own config root.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod hang_guard;
mod server;
mod tokens;

pub use hang_guard::{HANG_GUARD, run_guarded, run_to_exit_guarded};
pub use server::{ServerProcess, TestConfig, binary, run_to_exit};
pub use tokens::{Token, fixture, fixture_text};
