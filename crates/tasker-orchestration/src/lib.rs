//! The orchestration service over a [`tasker_core::Store`]: task creation and queries, manual
//! step actions, cancellation, the DLQ, analytics, the template catalog, and the background
//! loop (lease expiry, retry promotion, staleness detection). The HTTP layer calls one
//! [`Orchestrator`] method per API operation and maps [`Error`] to responses.

mod analytics;
mod background;
mod catalog;
mod dlq;
mod error;
mod orchestrator;
mod tasks;
pub mod wire;

pub use catalog::{load_templates, register_templates};
pub use error::Error;
pub use orchestrator::Orchestrator;
pub use tasker_core::Store;
