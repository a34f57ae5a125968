//! Signals to waiting approval steps and reruns of finished tasks.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// What a signal decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalDecision {
    /// The step completes with `{"decision", "payload", "by"}`.
    Approve,
    /// The step fails permanently, naming who rejected it.
    Reject,
}

/// `POST /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/signal`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"decision": "approve", "payload": {"limit": 500}, "reason": "checked the invoice"}))]
pub struct SignalStepRequest {
    /// `approve` or `reject`.
    pub decision: SignalDecision,
    /// Data for the dependents (approve) or kept with the error (reject); a JSON value.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Why; recorded in the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/tasks/{task_uuid}/rerun`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from_step": "transform", "reason": "fixed the upstream data"}))]
pub struct RerunTaskRequest {
    /// Name of the step to run again, with every step downstream of it.
    pub from_step: String,
    /// Why; recorded in the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Report what would be reset without changing anything.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a rerun reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RerunView {
    /// The task.
    pub task_uuid: Uuid,
    /// The step the rerun starts from.
    pub from_step: String,
    /// Steps reset to `pending`, in position order.
    pub reset_steps: Vec<String>,
    /// Steps created at runtime that were removed; the rerun creates them again.
    pub removed_steps: Vec<String>,
    /// Nothing was changed.
    pub dry_run: bool,
}
