//! Handler listings and analytics.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
    /// Window start (hours back from now).
    pub window_hours: u64,
    /// Tasks created in the window.
    pub tasks_created: u64,
    /// Of those, complete.
    pub tasks_completed: u64,
    /// Of those, failed (blocked or error).
    pub tasks_failed: u64,
    /// completed / created.
    pub completion_rate: f64,
    /// failed / created.
    pub error_rate: f64,
    /// Mean create→complete time of completed tasks.
    pub average_task_duration_ms: Option<f64>,
    /// Mean step attempt time.
    pub average_step_duration_ms: Option<f64>,
    /// Completed tasks per hour over the window.
    pub throughput_per_hour: f64,
}

/// One slow or failing template step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BottleneckView {
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
    /// failures / executions.
    pub error_rate: f64,
    /// Mean attempt time.
    pub average_duration_ms: f64,
    /// Longest attempt time.
    pub max_duration_ms: f64,
}
