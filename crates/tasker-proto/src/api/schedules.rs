//! Schedule bodies: creating, changing and reading schedules, and their runs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// What a schedule does at a fire time while its previous task is unfinished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleOverlap {
    /// Fire anyway.
    #[default]
    Allow,
    /// Do not fire; the run is recorded as `skipped`.
    Skip,
}

/// What a schedule does with fire times missed while no server ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleCatchup {
    /// Fire none of them.
    None,
    /// Fire once, for the most recent.
    #[default]
    Latest,
    /// Fire each of them (the most recent 100).
    All,
}

fn utc() -> String {
    "UTC".to_owned()
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// `POST /v1/schedules`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"namespace": "examples", "name": "diamond_math", "cron": "0 */5 * * * *", "timezone": "Europe/Berlin", "context": {"value": 5}, "overlap": "skip", "catchup": "latest", "description": "every five minutes"}))]
pub struct CreateScheduleRequest {
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version; the latest at each fire when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Cron expression: 5 fields, 6 with leading seconds, or `@yearly`, `@monthly`,
    /// `@weekly`, `@daily`, `@hourly`.
    pub cron: String,
    /// IANA timezone the expression is read in.
    #[serde(default = "utc")]
    pub timezone: String,
    /// Context of every fired task, validated against the template's `input_schema` now.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub context: Value,
    /// `allow` (default) or `skip`.
    #[serde(default)]
    pub overlap: ScheduleOverlap,
    /// `latest` (default), `all` or `none`.
    #[serde(default)]
    pub catchup: ScheduleCatchup,
    /// Create it paused.
    #[serde(default)]
    pub paused: bool,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `PATCH /v1/schedules/{schedule_uuid}`: the fields to change (pause and resume are
/// `{"paused": true|false}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"paused": true}))]
pub struct UpdateScheduleRequest {
    /// Template version to fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Cron expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA timezone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Context of every fired task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// Overlap policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<ScheduleOverlap>,
    /// Catch-up policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catchup: Option<ScheduleCatchup>,
    /// Pause (`true`) or resume (`false`); resuming fires from the next fire time on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    /// Id.
    pub schedule_uuid: Uuid,
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version; the latest at each fire when absent.
    pub version: Option<String>,
    /// Cron expression.
    pub cron: String,
    /// IANA timezone.
    pub timezone: String,
    /// Context of every fired task.
    #[schema(value_type = Object)]
    pub context: Value,
    /// Overlap policy.
    pub overlap: ScheduleOverlap,
    /// Catch-up policy.
    pub catchup: ScheduleCatchup,
    /// Paused schedules do not fire on their own.
    pub paused: bool,
    /// Free text.
    pub description: Option<String>,
    /// Who created it (`template` for one declared in a template).
    pub created_by: String,
    /// `api` or `template`.
    pub source: String,
    /// Next fire time.
    pub next_fire_at: Option<DateTime<Utc>>,
    /// Fire time of the latest run.
    pub last_fired_at: Option<DateTime<Utc>>,
    /// Task of the latest fire.
    pub last_task_uuid: Option<Uuid>,
    /// The next fire times, when asked for with `upcoming`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upcoming: Vec<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change of its definition.
    pub updated_at: DateTime<Utc>,
}

/// Filters of `GET /v1/schedules`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScheduleListQuery {
    /// Template namespace.
    pub namespace: Option<String>,
    /// Template name.
    pub name: Option<String>,
}

/// Options of `GET /v1/schedules/{schedule_uuid}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScheduleQuery {
    /// How many next fire times to list in `upcoming` (0–100).
    #[param(minimum = 0, maximum = 100)]
    #[schema(minimum = 0, maximum = 100)]
    pub upcoming: Option<u32>,
}

/// Options of `GET /v1/schedules/{schedule_uuid}/runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScheduleRunsQuery {
    /// Most runs to return, newest first (1–100, default 25).
    #[param(minimum = 1, maximum = 100)]
    #[schema(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// One (schedule, fire time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleRunView {
    /// The fire time (the task's `scheduled_for`).
    pub scheduled_for: DateTime<Utc>,
    /// `fired`, `triggered` (by `POST .../trigger`) or `skipped` (`overlap: skip`).
    pub result: String,
    /// The task created, unless skipped.
    pub task_uuid: Option<Uuid>,
    /// The task's current state.
    pub task_status: Option<String>,
    /// When the run was recorded.
    pub recorded_at: DateTime<Utc>,
}
