//! The orchestration service over a [`tasker_core::Store`]: task creation and queries, manual
//! step actions, cancellation, the DLQ, analytics, the template catalog, schedules, and the
//! background loops (lease expiry, retry promotion, staleness detection, retention, schedule
//! firing). The HTTP layer calls one
//! [`Orchestrator`] method per API operation; each takes and returns the wire bodies of
//! `tasker_proto::api` (converted from records in `views`) and fails with [`Error`].

mod analytics;
mod background;
mod catalog;
mod clock;
mod dag;
mod dlq;
mod error;
mod limits;
mod logs;
mod orchestrator;
mod reruns;
mod retention;
mod schedule_views;
mod scheduler;
mod schedules;
mod tasks;
mod views;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use logs::{StepLogEvent, StepLogFollower};
pub use orchestrator::Orchestrator;
pub use tasker_core::Store;
