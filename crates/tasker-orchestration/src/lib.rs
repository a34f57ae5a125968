//! The orchestration service over a [`tasker_core::Store`]: task creation and queries, manual
//! step actions, cancellation, the DLQ, analytics, the template catalog, and the background
//! loop (lease expiry, retry promotion, staleness detection). The HTTP layer calls one
//! [`Orchestrator`] method per API operation; each takes and returns the wire bodies of
//! `tasker_proto::api` (converted from records in `views`) and fails with [`Error`].

mod analytics;
mod background;
mod catalog;
mod dag;
mod dlq;
mod error;
mod orchestrator;
mod tasks;
mod views;

pub use error::Error;
pub use orchestrator::Orchestrator;
pub use tasker_core::Store;
