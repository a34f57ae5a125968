//! Tasks and steps as stored: what goes in when a task is created, what comes back from
//! queries, and the audit rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::backoff::BackoffSettings;
use crate::state::{StepState, TaskState};
use crate::template::{StepType, TaskTemplate};

/// What created a step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOrigin {
    /// Created from the template (at the start, or once its parents existed).
    #[default]
    Template,
    /// Created because a decision chose it (or a step downstream of such a choice).
    Decision,
    /// A copy of a batch worker.
    Batch,
}

impl StepOrigin {
    /// The snake_case name used in storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Template => "template",
            Self::Decision => "decision",
            Self::Batch => "batch",
        }
    }

    /// Parses a stored name; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Template, Self::Decision, Self::Batch]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// A registered template version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateRecord {
    /// The template.
    pub template: TaskTemplate,
    /// When it was last registered.
    pub registered_at: DateTime<Utc>,
}

/// Engine defaults applied to steps whose template leaves a setting unset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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
    /// The shape of a dynamic task (every template step, created or not); `None` for a
    /// template with standard steps only, whose `steps` are all it will ever have.
    pub plan: Option<crate::dynamic::TaskPlan>,
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
    /// Trace context of the creating request (W3C `traceparent` form); worker spans of the
    /// task's steps join this trace.
    pub trace_parent: Option<String>,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewStep {
    /// Id chosen by the caller.
    pub step_uuid: Uuid,
    /// Name of the step (`<worker>_<index>` for a batch copy).
    pub name: String,
    /// The template step it comes from (the worker's name for a batch copy).
    pub template_step: String,
    /// Step type in the template.
    pub step_type: StepType,
    /// What created it.
    pub origin: StepOrigin,
    /// Position among its batch's copies.
    pub batch_index: Option<u32>,
    /// `{index, count, cursor}` handed to a batch copy's handler.
    pub batch: Option<Value>,
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
                template_step: s.name.clone(),
                step_type: s.step_type,
                origin: StepOrigin::Template,
                batch_index: None,
                batch: None,
                handler: s.handler.callable.clone(),
                initialization: s
                    .waiting_settings()
                    .unwrap_or_else(|| s.handler.initialization.clone()),
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
    /// The fire time, for a task fired by a schedule.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// The task whose subtask step created this one.
    pub parent_task_uuid: Option<Uuid>,
    /// That subtask step.
    pub parent_step_uuid: Option<Uuid>,
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
    /// Step type in the template.
    pub step_type: StepType,
    /// What created it.
    pub origin: StepOrigin,
    /// The template step it comes from (the worker's name for a batch copy).
    pub template_step: String,
    /// Position among its batch's copies.
    pub batch_index: Option<u32>,
    /// `{index, count, cursor}` of a batch copy.
    pub batch: Option<Value>,
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

/// Task list filter and page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskFilter {
    /// Namespace equals.
    pub namespace: Option<String>,
    /// Namespace is one of these; `None` for every namespace (a caller's visibility).
    pub namespaces: Option<Vec<String>>,
    /// Template name equals.
    pub name: Option<String>,
    /// State equals.
    pub status: Option<TaskState>,
    /// Children of this task only.
    pub parent_task_uuid: Option<Uuid>,
    /// Carrying this tag.
    pub tag: Option<String>,
    /// Created at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub limit: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
