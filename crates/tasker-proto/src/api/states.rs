//! The closed sets of snake_case strings the API reads and writes, as schemas: the bodies keep
//! `String` fields (so a client built against an older server still reads a newer state) and
//! point their schema at these with `#[schema(value_type = ...)]`, which documents every value
//! the server accepts and answers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Lifecycle of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Created, no step started yet.
    Pending,
    /// Steps are queued or running.
    StepsInProcess,
    /// Nothing runs; at least one step waits for its retry time.
    WaitingForRetry,
    /// A step failed permanently; an operator must act.
    BlockedByFailures,
    /// Every step completed (or was resolved).
    Complete,
    /// The task failed for good.
    Error,
    /// Cancelled by a caller.
    Cancelled,
    /// Closed by an operator.
    ResolvedManually,
}

/// Lifecycle of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Waiting for its parents.
    Pending,
    /// Ready and queued for a worker.
    Enqueued,
    /// Claimed by a worker holding a lease.
    InProgress,
    /// Failed, will be enqueued again at its retry time.
    WaitingForRetry,
    /// Finished with a result.
    Complete,
    /// Failed permanently.
    Error,
    /// Cancelled with its task.
    Cancelled,
    /// Closed by an operator without a result; dependents proceed.
    ResolvedManually,
}

/// Why a task is in the dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DlqReason {
    /// A step failed permanently.
    MaxRetriesExceeded,
    /// The task waited too long in one state.
    StalenessTimeout,
    /// Put there by an operator.
    Manual,
}

/// Investigation progress of a DLQ entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionStatus {
    /// Not handled yet.
    Pending,
    /// Fixed by an operator.
    ManuallyResolved,
    /// Given up.
    PermanentlyFailed,
    /// Withdrawn.
    Cancelled,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_case() {
        assert_eq!(
            serde_json::to_value(TaskStatus::BlockedByFailures).unwrap(),
            "blocked_by_failures"
        );
        assert_eq!(
            serde_json::to_value(StepStatus::WaitingForRetry).unwrap(),
            "waiting_for_retry"
        );
        assert_eq!(
            serde_json::to_value(DlqReason::MaxRetriesExceeded).unwrap(),
            "max_retries_exceeded"
        );
        assert_eq!(
            serde_json::to_value(ResolutionStatus::ManuallyResolved).unwrap(),
            "manually_resolved"
        );
    }
}
