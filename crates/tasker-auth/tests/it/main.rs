//! Library-level tests of the authenticator: JWKS against a real loopback key server.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod fuzz;
mod jwks;
