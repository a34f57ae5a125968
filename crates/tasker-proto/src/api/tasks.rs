//! Tasks, steps and the audit trail.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::AdditionalProperties;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use uuid::Uuid;

use super::states::{StepStatus, TaskStatus};

/// `POST /v1/tasks`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"namespace": "examples", "name": "diamond_math", "context": {"value": 5}, "initiator": "docs", "reason": "example"}))]
pub struct CreateTaskRequest {
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version; the latest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Inputs (a JSON object), validated against the template's `input_schema`.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub context: Value,
    /// Who or what asked for the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
    /// Originating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_system: Option<String>,
    /// Why the task runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Higher is investigated first in the DLQ.
    #[serde(default)]
    pub priority: i32,
    /// Correlation id for tracing across systems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// A repeated key for the same template is refused with 409.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Step counts of a task per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepCountsView {
    /// All steps.
    pub total: u64,
    /// `pending`
    pub pending: u64,
    /// `enqueued`
    pub enqueued: u64,
    /// `in_progress`
    pub in_progress: u64,
    /// `waiting` (approvals and subtasks)
    #[serde(default)]
    pub waiting: u64,
    /// `waiting_for_retry`
    pub waiting_for_retry: u64,
    /// `complete`
    pub complete: u64,
    /// `error`
    pub error: u64,
    /// `cancelled`
    pub cancelled: u64,
    /// `resolved_manually`
    pub resolved_manually: u64,
}

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    /// Id.
    pub task_uuid: Uuid,
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version.
    pub version: String,
    /// `pending`, `steps_in_process`, `waiting_for_retry`, `blocked_by_failures`, `complete`,
    /// `error`, `cancelled` or `resolved_manually`.
    #[schema(value_type = TaskStatus)]
    pub status: String,
    /// Inputs: in the answer to `POST /v1/tasks`, and in `GET /v1/tasks/{task_uuid}` for
    /// holders of `tasks:context_read` in the task's namespace (always with auth disabled).
    /// Lists never embed it (`GET /v1/tasks/{task_uuid}/context` returns it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// The authenticated subject that created it.
    pub created_by: String,
    /// Who or what asked for the task.
    pub initiator: Option<String>,
    /// Originating system.
    pub source_system: Option<String>,
    /// Why the task runs.
    pub reason: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Priority.
    pub priority: i32,
    /// Correlation id.
    pub correlation_id: Option<String>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Steps per state.
    pub step_counts: StepCountsView,
    /// Share of finished steps, 0–100.
    pub completion_percentage: f64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it reached a final state.
    pub completed_at: Option<DateTime<Utc>>,
    /// The fire time, for a task fired by a schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<DateTime<Utc>>,
    /// For a child task: the task whose `subtask` step created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_task_uuid: Option<Uuid>,
    /// For a child task: that `subtask` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_step_uuid: Option<Uuid>,
}

/// Paging of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pagination {
    /// 1-based page.
    pub page: u64,
    /// Items per page (≤ 100).
    pub per_page: u64,
    /// Items matching the filter.
    pub total_count: u64,
    /// Pages.
    pub total_pages: u64,
}

/// `GET /v1/tasks`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    /// The page.
    pub tasks: Vec<TaskView>,
    /// Paging.
    pub pagination: Pagination,
}

/// Filters of `GET /v1/tasks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskListQuery {
    /// Template namespace.
    pub namespace: Option<String>,
    /// Template name.
    pub name: Option<String>,
    /// Task state.
    pub status: Option<TaskStatus>,
    /// Only the child tasks of this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_task_uuid: Option<Uuid>,
    /// Only tasks carrying this tag (exact match of one of their `tags`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Only tasks created at or after this instant (RFC 3339, e.g. `2026-12-03T00:00:00Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<DateTime<Utc>>,
    /// Only tasks created before this instant (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before: Option<DateTime<Utc>>,
    /// 1-based page (default 1).
    #[param(minimum = 1)]
    #[schema(minimum = 1)]
    pub page: Option<u64>,
    /// Items per page, 1–100 (default 25).
    #[param(minimum = 1, maximum = 100)]
    #[schema(minimum = 1, maximum = 100)]
    pub per_page: Option<u64>,
}

/// A workflow step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    /// Id.
    pub step_uuid: Uuid,
    /// Its task.
    pub task_uuid: Uuid,
    /// Step name in the template (`<worker>_<index>` for a batch copy).
    pub name: String,
    /// `standard`, `decision`, `deferred_convergence`, `batchable`, `batch_worker`, `approval` or
    /// `subtask`.
    #[serde(rename = "type", default = "standard")]
    pub step_type: String,
    /// `template`, `decision` (created by a decision's choice) or `batch` (a batch copy).
    #[serde(default = "template_origin")]
    pub origin: String,
    /// Position of a batch copy among its batch's copies.
    #[serde(default)]
    pub batch_index: Option<u32>,
    /// Handler callable.
    pub handler: String,
    /// `pending`, `enqueued`, `in_progress`, `waiting_for_retry`, `complete`, `error`,
    /// `cancelled` or `resolved_manually`.
    #[schema(value_type = StepStatus)]
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// Attempts allowed, the first included.
    pub max_attempts: u32,
    /// Whether failures are retried.
    pub retryable: bool,
    /// Parent steps.
    pub depends_on: Vec<String>,
    /// Per-attempt time limit.
    pub timeout_seconds: u64,
    /// The result, once complete.
    pub results: Option<Value>,
    /// The last failure.
    pub last_error: Option<Value>,
    /// Next retry time.
    pub retry_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it finished.
    pub completed_at: Option<DateTime<Utc>>,
}

/// One recorded state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransitionView {
    /// Task.
    pub task_uuid: Uuid,
    /// Step, or none for a task transition.
    pub step_uuid: Option<Uuid>,
    /// Previous state (none at creation).
    pub from_state: Option<String>,
    /// New state.
    pub to_state: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Who made the change: the authenticated subject of an API call (`anonymous` when auth
    /// is disabled), the id of the worker that ran the step, or `system` for the engine's own
    /// transitions (readiness, retries, lease expiry, staleness).
    pub actor: String,
    /// Why.
    pub reason: Option<String>,
}

/// `GET /v1/tasks/{task_uuid}/context`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskContextView {
    /// Task.
    pub task_uuid: Uuid,
    /// Inputs.
    #[schema(value_type = Object)]
    pub context: Value,
    /// Results of finished steps by step name.
    pub step_results: BTreeMap<String, Value>,
}

/// `PATCH /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action_type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepActionRequest {
    /// Close the step without a result; dependents proceed.
    ResolveManually {
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Close the step with a result dependents will see.
    CompleteManually {
        /// The result.
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

/// The derived schema of a tagged enum leaves each variant open and untitled, but the server
/// refuses unknown fields (`deny_unknown_fields`, which utoipa applies to structs only): the
/// variants are closed and titled here.
impl PartialSchema for StepActionRequest {
    fn schema() -> RefOr<Schema> {
        let mut schema = step_action_schema::StepActionRequest::schema();
        if let RefOr::T(Schema::OneOf(one_of)) = &mut schema {
            // Titles name the variants for generated clients (instead of `...Type0`).
            let titles = ["ResolveManually", "CompleteManually", "ResetForRetry"];
            for (variant, title) in one_of.items.iter_mut().zip(titles) {
                if let RefOr::T(Schema::Object(object)) = variant {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                    object.title = Some(title.to_owned());
                }
            }
        }
        schema
    }
}

impl ToSchema for StepActionRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("StepActionRequest")
    }
}

mod step_action_schema {
    #![allow(dead_code, unreachable_pub)]

    use serde::Deserialize;
    use serde_json::Value;
    use utoipa::ToSchema;

    /// `PATCH /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}`
    #[derive(Deserialize, ToSchema)]
    #[schema(example = json!({"action_type": "resolve_manually", "reason": "upstream fixed"}))]
    #[serde(tag = "action_type", rename_all = "snake_case", deny_unknown_fields)]
    pub enum StepActionRequest {
        /// Close the step without a result; dependents proceed.
        ResolveManually {
            /// Why (recorded in the audit trail).
            #[serde(default)]
            reason: String,
        },
        /// Close the step with a result dependents will see.
        CompleteManually {
            /// The result.
            result: Value,
            /// Why (recorded in the audit trail).
            #[serde(default)]
            reason: String,
        },
        /// Run the step again with a fresh attempt budget.
        ResetForRetry {
            /// Why (recorded in the audit trail).
            #[serde(default)]
            reason: String,
        },
    }
}

fn standard() -> String {
    "standard".to_owned()
}

fn template_origin() -> String {
    "template".to_owned()
}
