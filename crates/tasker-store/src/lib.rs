//! The only crate that speaks SQL: SQLite and PostgreSQL implementations of
//! [`tasker_core::Store`], their migrations, and the claim/lease queries.

mod connect;
mod db;
mod sql;

pub use connect::{connect, open};
pub use sql::SqlStore;
