//! Step execution values: claims, leases, attempt reports and their outcomes, and operator
//! actions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::records::StepRecord;

/// An operator action on a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action_type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ManualAction {
    /// Close the step without a result; dependents proceed.
    ResolveManually {
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Close the step with the given result.
    CompleteManually {
        /// The result dependents will see.
        result: Value,
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Run the step again with a fresh attempt budget.
    ResetForRetry {
        /// Why.
        #[serde(default)]
        reason: String,
    },
}

/// A signal's decision on an approval step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The step completes with `{"decision", "payload", "by"}`.
    Approve,
    /// The step fails permanently, naming who rejected it.
    Reject,
}

impl Decision {
    /// `approve` or `reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
        }
    }
}

/// A signal to a waiting approval step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSignal {
    /// Approve or reject.
    pub decision: Decision,
    /// Free data handed to the dependents (approve) or kept with the error (reject).
    pub payload: Value,
    /// Why.
    pub reason: Option<String>,
}

/// A rerun of a finished task from one of its steps.
#[derive(Debug, Clone, PartialEq)]
pub struct RerunRequest {
    /// The step (by name) to run again with everything downstream of it.
    pub from_step: String,
    /// Why.
    pub reason: Option<String>,
}

/// What a rerun reset (or would reset, for a dry run).
#[derive(Debug, Clone, PartialEq)]
pub struct RerunOutcome {
    /// Names of the steps reset to `pending`, in position order.
    pub reset_steps: Vec<String>,
    /// Names of the runtime-created steps removed (re-created as the rerun proceeds).
    pub removed_steps: Vec<String>,
}

/// What a worker asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRequest {
    /// Claiming worker.
    pub worker_id: String,
    /// Namespaces served; empty = all.
    pub namespaces: Vec<String>,
    /// Most steps to claim.
    pub limit: u32,
    /// Lease length.
    pub lease: chrono::Duration,
}

/// A worker's right to report one attempt of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// Step.
    pub step_uuid: Uuid,
    /// Holder.
    pub worker_id: String,
    /// Unique per claim; a later claim of the same step gets a new token.
    pub token: Uuid,
    /// Attempt number this lease is for (1-based).
    pub attempt: u32,
    /// Expiry at claim time.
    pub expires_at: DateTime<Utc>,
}

/// A claimed step with everything its handler needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedStep {
    /// The lease to renew and report with.
    pub lease: Lease,
    /// The step (already `in_progress`).
    pub step: StepRecord,
    /// The task's input context.
    pub context: Value,
    /// Results of the parent steps by name (`null` for manually resolved ones); a batch
    /// worker's copies appear as one array under the worker's name, in index order.
    pub parent_results: BTreeMap<String, Value>,
    /// Indexes of the failed copies of a `continue` batch among the parents.
    pub failed_batches: Vec<u32>,
    /// The trace context stored with the task (W3C `traceparent` form), if it has one.
    pub trace_parent: Option<String>,
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// The handler produced a result.
    Success(Value),
    /// The handler failed.
    Failure {
        /// Error details (at least a `message`).
        error: Value,
        /// Whether another attempt may succeed.
        retryable: bool,
    },
}

/// A worker's report of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// What happened.
    pub outcome: StepOutcome,
    /// When the handler started.
    pub started_at: DateTime<Utc>,
    /// Uniform sample in `[0, 1)` for backoff jitter.
    pub jitter_sample: f64,
}

/// What `record_result` did.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordOutcome {
    /// Result stored; the step is complete.
    Completed,
    /// Failure stored; the step retries at `retry_at`.
    RetryScheduled {
        /// Next attempt time.
        retry_at: DateTime<Utc>,
        /// Delay chosen.
        delay_ms: u64,
    },
    /// Failure stored; the step is in `error` and the task blocked.
    FailedPermanently,
    /// The caller no longer holds the lease; nothing was stored.
    Discarded,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manual_actions_parse_from_the_wire_shape() {
        let a: ManualAction = serde_json::from_value(
            json!({"action_type": "complete_manually", "result": {"x": 1}, "reason": "fixed"}),
        )
        .unwrap();
        assert_eq!(
            a,
            ManualAction::CompleteManually {
                result: json!({"x": 1}),
                reason: "fixed".into()
            }
        );
        let a: ManualAction =
            serde_json::from_value(json!({"action_type": "reset_for_retry"})).unwrap();
        assert_eq!(
            a,
            ManualAction::ResetForRetry {
                reason: String::new()
            }
        );
        for bad in [
            json!({"action_type": "resolve_manually", "reason": "x", "actor": "mallory"}),
            json!({"action_type": "delete"}),
            json!({"action_type": "complete_manually", "reason": "no result"}),
        ] {
            assert!(
                serde_json::from_value::<ManualAction>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
