//! Values exchanged with a `Store`: what goes in (new tasks, claims, reports, actions) and
//! what comes out (tasks, steps, transitions, DLQ entries, statistics).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::backoff::BackoffSettings;
use crate::state::{StepState, TaskState};
use crate::template::TaskTemplate;

/// A registered template version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateRecord {
    /// The template.
    pub template: TaskTemplate,
    /// When it was last registered.
    pub registered_at: DateTime<Utc>,
}

/// Engine defaults applied to steps whose template leaves a setting unset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepDefaults {
    /// Attempts per step.
    pub max_attempts: u32,
    /// Per-attempt time limit.
    pub timeout_seconds: u64,
    /// Retry delays.
    pub backoff: BackoffSettings,
}

/// A task to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// Id chosen by the caller.
    pub task_uuid: Uuid,
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version.
    pub version: String,
    /// Input context.
    pub context: Value,
    /// Authenticated subject that created it.
    pub created_by: String,
    /// Optional descriptive fields.
    pub meta: TaskMeta,
    /// Steps in topological order.
    pub steps: Vec<NewStep>,
}

/// Descriptive fields of a task supplied by its creator.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskMeta {
    /// Who asked for it (free text).
    pub initiator: Option<String>,
    /// Originating system.
    pub source_system: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Higher runs (and is investigated) first.
    pub priority: i32,
    /// Caller's correlation id.
    pub correlation_id: Option<String>,
    /// Repeated keys for the same template are refused.
    pub idempotency_key: Option<String>,
}

/// A step to create, with its effective settings.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStep {
    /// Id chosen by the caller.
    pub step_uuid: Uuid,
    /// Name in the template.
    pub name: String,
    /// Handler name.
    pub handler: String,
    /// Handler configuration.
    pub initialization: Value,
    /// Parent step names.
    pub depends_on: Vec<String>,
    /// Whether failures are retried.
    pub retryable: bool,
    /// Attempts including the first.
    pub max_attempts: u32,
    /// Retry delays.
    pub backoff: BackoffSettings,
    /// Per-attempt limit.
    pub timeout_seconds: u64,
}

impl NewStep {
    /// The steps of `template` in topological order with defaults applied; `ids` supplies one
    /// fresh id per step.
    pub fn plan(
        template: &TaskTemplate,
        defaults: &StepDefaults,
        mut ids: impl FnMut() -> Uuid,
    ) -> Vec<NewStep> {
        let edges: Vec<(&str, Vec<&str>)> = template
            .steps
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.depends_on.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        let order = crate::dag::topological_order(&edges)
            .unwrap_or_else(|| edges.iter().map(|e| e.0).collect());
        order
            .into_iter()
            .filter_map(|name| template.step(name))
            .map(|s| NewStep {
                step_uuid: ids(),
                name: s.name.clone(),
                handler: s.handler.callable.clone(),
                initialization: s.handler.initialization.clone(),
                depends_on: s.depends_on.clone(),
                retryable: s.retry.retryable,
                max_attempts: s.retry.max_attempts.unwrap_or(defaults.max_attempts),
                backoff: BackoffSettings {
                    base_ms: s.retry.backoff_base_ms.unwrap_or(defaults.backoff.base_ms),
                    max_ms: s.retry.max_backoff_ms.unwrap_or(defaults.backoff.max_ms),
                    jitter_percent: defaults.backoff.jitter_percent,
                },
                timeout_seconds: s.timeout_seconds.unwrap_or(defaults.timeout_seconds),
            })
            .collect()
    }
}

/// Number of steps per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCounts {
    /// All steps.
    pub total: u64,
    /// Steps per state name.
    pub by_state: BTreeMap<StepState, u64>,
}

impl StepCounts {
    /// Steps in `state`.
    pub fn get(&self, state: StepState) -> u64 {
        self.by_state.get(&state).copied().unwrap_or(0)
    }
}

/// A stored task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    /// Id.
    pub task_uuid: Uuid,
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version.
    pub version: String,
    /// Current state.
    pub status: TaskState,
    /// Input context.
    pub context: Value,
    /// Creator's subject.
    pub created_by: String,
    /// Descriptive fields.
    pub meta: TaskMeta,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change of any kind.
    pub updated_at: DateTime<Utc>,
    /// When the current state was entered.
    pub status_changed_at: DateTime<Utc>,
    /// When the task reached a terminal state.
    pub completed_at: Option<DateTime<Utc>>,
    /// Step counts by state.
    pub step_counts: StepCounts,
}

/// A stored step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    /// Id.
    pub step_uuid: Uuid,
    /// Owning task.
    pub task_uuid: Uuid,
    /// Namespace of the task.
    pub namespace: String,
    /// Name in the template.
    pub name: String,
    /// Handler name.
    pub handler: String,
    /// Handler configuration.
    pub initialization: Value,
    /// Parent step names.
    pub depends_on: Vec<String>,
    /// Current state.
    pub status: StepState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Whether failures are retried.
    pub retryable: bool,
    /// Retry delays.
    pub backoff: BackoffSettings,
    /// Per-attempt limit.
    pub timeout_seconds: u64,
    /// Result of the successful attempt (or of a manual completion).
    pub results: Option<Value>,
    /// Error of the last failed attempt.
    pub last_error: Option<Value>,
    /// Next attempt time while `waiting_for_retry`.
    pub retry_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it reached `complete`, `resolved_manually` or `cancelled`.
    pub completed_at: Option<DateTime<Utc>>,
}

/// One audit row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionRecord {
    /// Task concerned.
    pub task_uuid: Uuid,
    /// Step concerned; `None` for a task transition.
    pub step_uuid: Option<Uuid>,
    /// Previous state; `None` at creation.
    pub from_state: Option<String>,
    /// New state.
    pub to_state: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: a subject, a worker id, or `system`.
    pub actor: String,
    /// Why.
    pub reason: Option<String>,
}

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
    /// Results of the parent steps by name (`null` for manually resolved ones).
    pub parent_results: BTreeMap<String, Value>,
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

/// Task list filter and page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskFilter {
    /// Namespace equals.
    pub namespace: Option<String>,
    /// Template name equals.
    pub name: Option<String>,
    /// State equals.
    pub status: Option<TaskState>,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub limit: u64,
}

/// Why a task is in the DLQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

macro_rules! text_enum {
    ($t:ty, { $($v:path => $s:literal),+ }) => {
        impl $t {
            /// The snake_case name.
            pub fn as_str(self) -> &'static str { match self { $($v => $s),+ } }
            /// Parses the snake_case name.
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some($v),)+ _ => None } }
        }
    };
}
text_enum!(DlqReason, { DlqReason::MaxRetriesExceeded => "max_retries_exceeded",
    DlqReason::StalenessTimeout => "staleness_timeout", DlqReason::Manual => "manual" });
text_enum!(ResolutionStatus, { ResolutionStatus::Pending => "pending",
    ResolutionStatus::ManuallyResolved => "manually_resolved",
    ResolutionStatus::PermanentlyFailed => "permanently_failed",
    ResolutionStatus::Cancelled => "cancelled" });

/// A DLQ entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqEntry {
    /// Id.
    pub dlq_entry_uuid: Uuid,
    /// Task concerned.
    pub task_uuid: Uuid,
    /// Failed step, when one caused the entry.
    pub step_uuid: Option<Uuid>,
    /// Why.
    pub dlq_reason: DlqReason,
    /// Progress.
    pub resolution_status: ResolutionStatus,
    /// Operator notes.
    pub notes: Option<String>,
    /// Who resolved it.
    pub resolver: Option<String>,
    /// The task (and its steps) when the entry was opened.
    pub task_snapshot: Value,
    /// Priority of the task, for the investigation queue.
    pub priority: i32,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it left `pending`.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// DLQ list filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DlqFilter {
    /// Entries of this task.
    pub task_uuid: Option<Uuid>,
    /// Entries in this status.
    pub resolution_status: Option<ResolutionStatus>,
    /// Entries with this reason.
    pub dlq_reason: Option<DlqReason>,
    /// Order by task priority (highest first) instead of newest first.
    pub by_priority: bool,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub limit: u64,
}

/// A change to a DLQ entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqUpdate {
    /// New status.
    pub resolution_status: Option<ResolutionStatus>,
    /// Replaces the notes.
    pub notes: Option<String>,
    /// Who makes the change.
    pub resolver: String,
}

/// Entry counts for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DlqStat {
    /// The reason.
    pub dlq_reason: DlqReason,
    /// All entries.
    pub total: u64,
    /// Entries per resolution status.
    pub by_status: BTreeMap<ResolutionStatus, u64>,
}

/// Execution figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerformanceStats {
    /// Tasks created in the window.
    pub tasks_created: u64,
    /// Of those, per state.
    pub tasks_by_status: BTreeMap<TaskState, u64>,
    /// Mean create→complete time of tasks completed in the window.
    pub avg_task_duration_ms: Option<f64>,
    /// Tasks completed in the window.
    pub tasks_completed: u64,
    /// Attempts finished in the window.
    pub step_attempts: u64,
    /// Of those, failures.
    pub step_failures: u64,
    /// Mean attempt duration.
    pub avg_step_duration_ms: Option<f64>,
}

/// Figures for one step of one template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepStatistics {
    /// Namespace.
    pub namespace: String,
    /// Template name.
    pub task_name: String,
    /// Step name.
    pub step_name: String,
    /// Attempts finished.
    pub executions: u64,
    /// Failed attempts.
    pub failures: u64,
    /// Mean attempt duration.
    pub avg_duration_ms: f64,
    /// Longest attempt.
    pub max_duration_ms: i64,
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

    #[test]
    fn plan_orders_steps_and_applies_defaults() {
        let t = crate::parse_template(
            "name: t\nnamespace: n\nversion: 1.0.0\nsteps:\n\
             - {name: b, handler: {callable: h}, depends_on: [a], timeout_seconds: 9}\n\
             - {name: a, handler: {callable: h}, retry: {retryable: false, max_attempts: 5, backoff_base_ms: 7}}\n",
        )
        .unwrap();
        let defaults = StepDefaults {
            max_attempts: 3,
            timeout_seconds: 60,
            backoff: BackoffSettings {
                base_ms: 100,
                max_ms: 1000,
                jitter_percent: 10,
            },
        };
        let mut n = 0u128;
        let steps = NewStep::plan(&t, &defaults, || {
            n += 1;
            Uuid::from_u128(n)
        });
        assert_eq!(
            steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let (a, b) = (&steps[0], &steps[1]);
        assert_eq!(
            (a.max_attempts, a.retryable, a.timeout_seconds),
            (5, false, 60)
        );
        assert_eq!(
            (
                a.backoff.base_ms,
                a.backoff.max_ms,
                a.backoff.jitter_percent
            ),
            (7, 1000, 10)
        );
        assert_eq!(
            (b.max_attempts, b.retryable, b.timeout_seconds),
            (3, true, 9)
        );
        assert_eq!(b.depends_on, ["a"]);
        assert_eq!(a.step_uuid, Uuid::from_u128(1));
    }

    #[test]
    fn dlq_enums_use_snake_case() {
        assert_eq!(
            serde_json::to_value(DlqReason::MaxRetriesExceeded).unwrap(),
            "max_retries_exceeded"
        );
        assert_eq!(
            ResolutionStatus::parse("manually_resolved"),
            Some(ResolutionStatus::ManuallyResolved)
        );
        assert_eq!(DlqReason::parse("bogus"), None);
    }
}
