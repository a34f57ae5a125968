//! The client's credential resolution against real servers with auth enabled.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod credentials;
