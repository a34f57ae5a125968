//! Request and response bodies of the orchestration API (snake_case JSON). States and enums
//! serialise as their snake_case names.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tasker_core::store::{StepRecord, TaskRecord};
use tasker_core::{StepState, TaskState};
use uuid::Uuid;

pub use tasker_core::TaskTemplate;
pub use tasker_core::store::{
    DlqEntry, DlqReason, DlqStat, ManualAction as StepAction, ResolutionStatus, StepStatistics,
    TransitionRecord as AuditEntry,
};

/// `POST /v1/tasks`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskRequest {
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version; the highest registered version when absent.
    #[serde(default)]
    pub version: Option<String>,
    /// Input context (a JSON object).
    #[serde(default = "empty_object")]
    pub context: Value,
    /// Who asked for it.
    #[serde(default)]
    pub initiator: Option<String>,
    /// Originating system.
    #[serde(default)]
    pub source_system: Option<String>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// Labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Higher is investigated first.
    #[serde(default)]
    pub priority: i32,
    /// Caller's correlation id.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// A repeated key for the same template is refused with a conflict.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Step counts of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCountsView {
    /// All steps.
    pub total: u64,
    /// Per state.
    pub pending: u64,
    /// Per state.
    pub enqueued: u64,
    /// Per state.
    pub in_progress: u64,
    /// Per state.
    pub waiting_for_retry: u64,
    /// Per state.
    pub complete: u64,
    /// Per state.
    pub error: u64,
    /// Per state.
    pub cancelled: u64,
    /// Per state.
    pub resolved_manually: u64,
}

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
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
    /// Authenticated subject that created it.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it reached a terminal state.
    pub completed_at: Option<DateTime<Utc>>,
    /// Descriptive fields.
    pub initiator: Option<String>,
    /// Descriptive fields.
    pub source_system: Option<String>,
    /// Descriptive fields.
    pub reason: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Priority.
    pub priority: i32,
    /// Caller's correlation id.
    pub correlation_id: Option<String>,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Steps per state.
    pub step_counts: StepCountsView,
    /// Share of steps complete or resolved, 0–100.
    pub completion_percentage: f64,
}

impl From<TaskRecord> for TaskView {
    fn from(t: TaskRecord) -> Self {
        let c = &t.step_counts;
        let counts = StepCountsView {
            total: c.total,
            pending: c.get(StepState::Pending),
            enqueued: c.get(StepState::Enqueued),
            in_progress: c.get(StepState::InProgress),
            waiting_for_retry: c.get(StepState::WaitingForRetry),
            complete: c.get(StepState::Complete),
            error: c.get(StepState::Error),
            cancelled: c.get(StepState::Cancelled),
            resolved_manually: c.get(StepState::ResolvedManually),
        };
        let done = counts.complete + counts.resolved_manually;
        let completion_percentage = if counts.total == 0 {
            0.0
        } else {
            (done as f64 * 10_000.0 / counts.total as f64).round() / 100.0
        };
        TaskView {
            task_uuid: t.task_uuid,
            namespace: t.namespace,
            name: t.name,
            version: t.version,
            status: t.status,
            context: t.context,
            created_by: t.created_by,
            created_at: t.created_at,
            updated_at: t.updated_at,
            completed_at: t.completed_at,
            initiator: t.meta.initiator,
            source_system: t.meta.source_system,
            reason: t.meta.reason,
            tags: t.meta.tags,
            priority: t.meta.priority,
            correlation_id: t.meta.correlation_id,
            idempotency_key: t.meta.idempotency_key,
            step_counts: counts,
            completion_percentage,
        }
    }
}

/// `GET /v1/tasks` query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListTasksQuery {
    /// Namespace equals.
    pub namespace: Option<String>,
    /// Template name equals.
    pub name: Option<String>,
    /// State equals.
    pub status: Option<TaskState>,
    /// 1-based page (default 1).
    pub page: Option<u64>,
    /// Page size, 1–100 (default 25).
    pub per_page: Option<u64>,
}

/// Page information of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// 1-based page.
    pub page: u64,
    /// Page size.
    pub per_page: u64,
    /// Matching rows.
    pub total_count: u64,
    /// Pages at this size.
    pub total_pages: u64,
}

/// `GET /v1/tasks` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskList {
    /// The page.
    pub tasks: Vec<TaskView>,
    /// Where it is.
    pub pagination: Pagination,
}

/// A workflow step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    /// Id.
    pub step_uuid: Uuid,
    /// Owning task.
    pub task_uuid: Uuid,
    /// Name in the template.
    pub name: String,
    /// Handler name.
    pub handler: String,
    /// Current state.
    pub status: StepState,
    /// Attempts started.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Whether failures are retried.
    pub retryable: bool,
    /// Parent step names.
    pub depends_on: Vec<String>,
    /// Result of the successful attempt.
    pub results: Option<Value>,
    /// Error of the last failed attempt.
    pub last_error: Option<Value>,
    /// Next attempt time while waiting for retry.
    pub retry_at: Option<DateTime<Utc>>,
    /// Per-attempt limit.
    pub timeout_seconds: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it finished.
    pub completed_at: Option<DateTime<Utc>>,
}

impl From<StepRecord> for StepView {
    fn from(s: StepRecord) -> Self {
        StepView {
            step_uuid: s.step_uuid,
            task_uuid: s.task_uuid,
            name: s.name,
            handler: s.handler,
            status: s.status,
            attempts: s.attempts,
            max_attempts: s.max_attempts,
            retryable: s.retryable,
            depends_on: s.depends_on,
            results: s.results,
            last_error: s.last_error,
            retry_at: s.retry_at,
            timeout_seconds: s.timeout_seconds,
            created_at: s.created_at,
            updated_at: s.updated_at,
            completed_at: s.completed_at,
        }
    }
}

/// `GET /v1/tasks/{uuid}/context`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskContextView {
    /// Task id.
    pub task_uuid: Uuid,
    /// Input context.
    pub context: Value,
    /// Results of finished steps by name.
    pub step_results: BTreeMap<String, Value>,
}

/// `GET /v1/dlq` query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqListQuery {
    /// Status equals.
    pub resolution_status: Option<ResolutionStatus>,
    /// Reason equals.
    pub dlq_reason: Option<DlqReason>,
    /// Rows to return (default 50, at most 100).
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
}

/// `PATCH /v1/dlq/entry/{uuid}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqUpdateRequest {
    /// New status.
    #[serde(default)]
    pub resolution_status: Option<ResolutionStatus>,
    /// Replaces the notes.
    #[serde(default)]
    pub resolution_notes: Option<String>,
}

/// One task in the staleness monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StalenessView {
    /// Task id.
    pub task_uuid: Uuid,
    /// Namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Current state.
    pub status: TaskState,
    /// When it entered the state.
    pub status_changed_at: DateTime<Utc>,
    /// Minutes since then.
    pub minutes_in_state: i64,
    /// Configured threshold for the state.
    pub threshold_minutes: u64,
    /// Past its threshold.
    pub stale: bool,
}

/// `GET /v1/templates` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateSummary {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: Option<String>,
    /// Step names in template order.
    pub steps: Vec<String>,
    /// Has an input schema.
    pub has_input_schema: bool,
}

/// `POST /v1/templates/validate` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateValidation {
    /// No problems found.
    pub valid: bool,
    /// Every problem found.
    pub errors: Vec<String>,
}

/// `GET /v1/handlers` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamespaceHandlers {
    /// Namespace.
    pub namespace: String,
    /// Handlers its templates use, sorted.
    pub handlers: Vec<String>,
    /// Templates as `name@version`.
    pub templates: Vec<String>,
}

/// `GET /v1/analytics/performance`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceView {
    /// Window length.
    pub window_hours: u32,
    /// Tasks created in the window.
    pub tasks_created: u64,
    /// Of those, per state.
    pub tasks_by_status: BTreeMap<TaskState, u64>,
    /// Tasks completed in the window.
    pub tasks_completed: u64,
    /// Completed ÷ created, 0–1.
    pub completion_rate: f64,
    /// (blocked + error) ÷ created, 0–1.
    pub error_rate: f64,
    /// Mean create→complete time.
    pub avg_task_duration_ms: Option<f64>,
    /// Attempts finished.
    pub step_attempts: u64,
    /// Failed attempts.
    pub step_failures: u64,
    /// Failures ÷ attempts, 0–1.
    pub step_error_rate: f64,
    /// Mean attempt time.
    pub avg_step_duration_ms: Option<f64>,
    /// Completed tasks per hour over the window.
    pub throughput_tasks_per_hour: f64,
}

/// A step's figures with its error rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepBottleneck {
    /// Figures.
    #[serde(flatten)]
    pub stats: StepStatistics,
    /// Failures ÷ executions, 0–1.
    pub error_rate: f64,
}

/// `GET /v1/analytics/bottlenecks`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BottlenecksView {
    /// Slowest steps by mean duration.
    pub slowest_steps: Vec<StepBottleneck>,
    /// Steps with failures, highest error rate first.
    pub error_prone_steps: Vec<StepBottleneck>,
}
