//! Execution statistics returned by the analytics queries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::state::TaskState;

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
