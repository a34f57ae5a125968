//! The Tasker domain, free of I/O: task templates (parsing, validation, DAG checks), the task
//! and step state machines, readiness, retry backoff, JSON-schema validation of task contexts,
//! and the `Store` trait the persistence layer implements, and schedules (cron in a timezone, catch-up
//! and overlap policies). Time and randomness are parameters.

pub mod backoff;
pub mod dag;
pub mod dynamic;
pub mod readiness;
pub mod schedule;
pub mod schema;
pub mod state;
pub mod store;
pub mod subtask;
pub mod template;

pub use backoff::{BackoffSettings, backoff_delay_ms};
pub use readiness::{StepView, derive_task_state, ready_steps};
pub use schedule::{Catchup, CronSchedule, Overlap, ScheduleSpec};
pub use schema::validate_context;
pub use state::{StepState, TaskState, TransitionError};
pub use store::{Store, StoreError};
pub use template::{
    ApprovalSpec, BatchFailure, BatchSpec, HandlerSpec, MAX_TEMPLATE_BYTES, MAX_TEMPLATE_DEPTH,
    MAX_TEMPLATE_STEPS, OnTimeout, RetrySpec, StepTemplate, StepType, SubtaskSpec, TaskTemplate,
    TemplateError, TemplateErrors, parse_template,
};
