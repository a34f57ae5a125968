//! Test support shared by the integration tests: real server processes on port 0 with
//! temporary config roots, the committed key fixtures and tokens signed with them, PostgreSQL
//! schemas and databases per test with the per-backend test macros, a JWKS server, a closed
//! port, shared templates, and waiting for conditions with hang guards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(feature = "harness")]
mod config;
mod fixtures;
#[cfg(feature = "harness")]
mod hang_guard;
#[cfg(feature = "harness")]
mod net;
#[cfg(feature = "harness")]
mod poll;
#[cfg(feature = "harness")]
mod postgres;
#[cfg(feature = "harness")]
mod server;
mod templates;
mod tokens;

#[cfg(feature = "harness")]
pub use config::TestConfig;
pub use fixtures::{
    examples_dir, fixture, fixture_jwk, fixture_text, jwks_document, repo_config_root, repo_root,
};
#[cfg(feature = "harness")]
pub use hang_guard::{run_guarded, run_to_exit_guarded};
#[cfg(feature = "harness")]
pub use net::{JwksServer, closed_port, closed_port_url};
#[cfg(feature = "harness")]
pub use poll::{HANG_GUARD, eventually, eventually_blocking, try_eventually};
#[cfg(feature = "harness")]
pub use postgres::{
    Backend, PgDatabase, PgSchema, REQUIRE_VAR, URL_VAR, required as postgres_required,
    skip_or_fail, url as postgres_url,
};
#[cfg(feature = "harness")]
pub use server::{ServerProcess, binary, run_to_exit};
pub use templates::{BROKEN, SLOW};
pub use tokens::Token;
