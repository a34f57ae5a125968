//! Step logs: `GET /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/logs` and its live
//! (server-sent events) form.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Query of the step logs route.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StepLogQuery {
    /// Attempt number (1-based); the step's latest attempt when absent.
    #[param(minimum = 1)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// `true`: answer `text/event-stream`, sending the lines stored so far and then each new
    /// line as it is stored, until the attempt ends (event `end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<bool>,
}

/// One server-sent event of the live step log (`follow=true`, `text/event-stream`): `line`
/// (data: a [`StepLogLineView`], id: its `seq`), `truncated` (data: `{"truncated":true}`),
/// `end` (data: a [`StepLogEnd`]) or `error`. `data` is the event's JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepLogStreamEvent {
    /// `line`, `truncated`, `end` or `error`.
    pub event: String,
    /// The event's data: JSON text, except for `error`, whose data is a sentence.
    pub data: String,
    /// The line's `seq`, on `line` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// One line of a step log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepLogLineView {
    /// Increasing position of the line (not contiguous); the `id` of its server-sent event.
    pub seq: u64,
    /// When the worker read it.
    pub at: DateTime<Utc>,
    /// The text, without its line ending (non-UTF-8 bytes are U+FFFD).
    pub line: String,
}

/// The log of one attempt of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepLogView {
    /// Task.
    pub task_uuid: Uuid,
    /// Step.
    pub step_uuid: Uuid,
    /// Attempt shown (0 when the step has not run yet).
    pub attempt: u32,
    /// Attempts the step has made.
    pub attempts: u32,
    /// Whether the attempt is still running (more lines may come).
    pub running: bool,
    /// The lines, oldest first.
    pub lines: Vec<StepLogLineView>,
    /// Whether the attempt wrote more than the worker keeps (`[worker] step_log_max_bytes`);
    /// later lines are not kept.
    pub truncated: bool,
}

/// Data of the `end` event closing a followed step log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepLogEnd {
    /// The step's state when the attempt ended.
    pub status: String,
    /// Whether the attempt's log was truncated.
    pub truncated: bool,
}
