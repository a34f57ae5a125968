//! The only crate that speaks SQL: SQLite and PostgreSQL implementations of
//! [`tasker_core::Store`], their migrations, and the claim/lease queries; plus loading the
//! template files both roles register at start, and purging finished tasks in batches.

mod connect;
mod db;
mod retention;
mod sql;
mod templates;

pub use connect::{connect, open};
pub use retention::{purge_finished, retention_cutoff};
pub use sql::SqlStore;
pub use templates::{TemplateLoadError, load_and_register, load_templates, register_templates};
