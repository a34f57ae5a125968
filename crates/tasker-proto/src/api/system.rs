//! Handler listings and analytics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `?hours=` of `GET /v1/analytics/performance`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PerformanceQuery {
    /// Window length in hours, 1–720 (default 24).
    #[param(minimum = 1, maximum = 720)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<u32>,
}

/// `?limit=` of `GET /v1/analytics/bottlenecks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BottleneckQuery {
    /// Steps per list (default 10; at most 100 are returned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Handlers used by the templates of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HandlerNamespace {
    /// Namespace.
    pub namespace: String,
    /// Handler callables, sorted.
    pub handlers: Vec<String>,
    /// Templates of the namespace (`name@version`).
    pub templates: Vec<String>,
}

/// `GET /v1/analytics/performance`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PerformanceView {
    /// Window length in hours.
    pub window_hours: u32,
    /// Tasks created in the window.
    pub tasks_created: u64,
    /// Of those, per state.
    pub tasks_by_status: BTreeMap<String, u64>,
    /// Tasks completed in the window.
    pub tasks_completed: u64,
    /// Completed ÷ created, 0–1.
    pub completion_rate: f64,
    /// (blocked + error) ÷ created, 0–1.
    pub error_rate: f64,
    /// Mean create→complete time.
    pub avg_task_duration_ms: Option<f64>,
    /// Step attempts finished.
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

/// One template step's execution figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepBottleneck {
    /// Namespace.
    pub namespace: String,
    /// Template name.
    pub task_name: String,
    /// Step name.
    pub step_name: String,
    /// Attempts recorded.
    pub executions: u64,
    /// Failed attempts.
    pub failures: u64,
    /// Mean attempt time.
    pub avg_duration_ms: f64,
    /// Longest attempt time.
    pub max_duration_ms: i64,
    /// Failures ÷ executions, 0–1.
    pub error_rate: f64,
}

/// `GET /v1/analytics/bottlenecks`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BottlenecksView {
    /// Slowest steps by mean duration.
    pub slowest_steps: Vec<StepBottleneck>,
    /// Steps with failures, highest error rate first.
    pub error_prone_steps: Vec<StepBottleneck>,
}

/// A step a worker runs now (`GET /health/detailed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningStepView {
    /// Task.
    pub task_uuid: uuid::Uuid,
    /// Step.
    pub step_uuid: uuid::Uuid,
    /// Step name.
    pub name: String,
    /// Handler name.
    pub handler: String,
    /// Attempt number.
    pub attempt: u32,
    /// When this worker started it.
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// A worker's status (`GET /health/detailed`; an orchestration server shows its embedded
/// worker's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatusView {
    /// Its id (the lease holder name).
    pub worker_id: String,
    /// The namespaces it serves (empty: every namespace).
    pub namespaces: Vec<String>,
    /// Steps it runs at once.
    pub concurrency: usize,
    /// The steps it runs now.
    pub running_steps: Vec<RunningStepView>,
    /// Its registered handlers.
    pub handlers: Vec<String>,
}
