//! The closed sets of snake_case strings the API reads and writes. Request bodies and query
//! filters use these enums, so a bad value is refused where it is read; response bodies keep
//! `String` fields (a client built against an older server still reads a newer state) and point
//! their schema at these with `#[schema(value_type = ...)]`.

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
    /// Waiting for a signal or a child task; no lease held, no worker capacity used.
    Waiting,
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

/// `ALL`, `as_str` and `FromStr` for a closed set; the names are the serde names.
macro_rules! text_enum {
    ($t:ident { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$v),+];

            /// The snake_case wire name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $t {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok(Self::$v),)+
                    _ => Err(format!(
                        "expected one of {}",
                        [$($s),+].join(", ")
                    )),
                }
            }
        }
    };
}

text_enum!(TaskStatus {
    Pending => "pending",
    StepsInProcess => "steps_in_process",
    WaitingForRetry => "waiting_for_retry",
    BlockedByFailures => "blocked_by_failures",
    Complete => "complete",
    Error => "error",
    Cancelled => "cancelled",
    ResolvedManually => "resolved_manually",
});
text_enum!(StepStatus {
    Pending => "pending",
    Enqueued => "enqueued",
    InProgress => "in_progress",
    Waiting => "waiting",
    WaitingForRetry => "waiting_for_retry",
    Complete => "complete",
    Error => "error",
    Cancelled => "cancelled",
    ResolvedManually => "resolved_manually",
});
text_enum!(DlqReason {
    MaxRetriesExceeded => "max_retries_exceeded",
    StalenessTimeout => "staleness_timeout",
    Manual => "manual",
});
text_enum!(ResolutionStatus {
    Pending => "pending",
    ManuallyResolved => "manually_resolved",
    PermanentlyFailed => "permanently_failed",
    Cancelled => "cancelled",
});

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

    #[test]
    fn text_names_equal_serde_names() {
        fn check<T: Copy + Serialize + std::str::FromStr + PartialEq + std::fmt::Debug>(
            all: &[T],
            name: fn(T) -> &'static str,
        ) {
            for &v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), name(v));
                assert_eq!(name(v).parse::<T>().ok(), Some(v));
            }
        }
        check(TaskStatus::ALL, TaskStatus::as_str);
        check(StepStatus::ALL, StepStatus::as_str);
        check(DlqReason::ALL, DlqReason::as_str);
        check(ResolutionStatus::ALL, ResolutionStatus::as_str);
        assert_eq!(
            "flying".parse::<TaskStatus>().unwrap_err(),
            "expected one of pending, steps_in_process, waiting_for_retry, \
             blocked_by_failures, complete, error, cancelled, resolved_manually"
        );
    }
}
