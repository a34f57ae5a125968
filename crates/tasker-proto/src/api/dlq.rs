//! Dead-letter queue bodies.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use uuid::Uuid;

use super::states::{DlqReason, ResolutionStatus, TaskStatus};

/// A DLQ entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DlqEntryView {
    /// Id.
    pub dlq_entry_uuid: Uuid,
    /// Task.
    pub task_uuid: Uuid,
    /// The failing step, when one.
    pub step_uuid: Option<Uuid>,
    /// `max_retries_exceeded`, `staleness_timeout` or `manual`.
    #[schema(value_type = DlqReason)]
    pub dlq_reason: String,
    /// `pending`, `manually_resolved`, `permanently_failed` or `cancelled`.
    #[schema(value_type = ResolutionStatus)]
    pub resolution_status: String,
    /// Operator notes.
    pub notes: Option<String>,
    /// Who resolved it (authenticated subject).
    pub resolver: Option<String>,
    /// The task as it was when the entry opened.
    pub task_snapshot: Value,
    /// Investigation priority (higher first).
    pub priority: i32,
    /// Opened at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Resolved at.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// `PATCH /v1/dlq/entry/{dlq_entry_uuid}` (at least one field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqUpdateRequest {
    /// New resolution status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_status: Option<ResolutionStatus>,
    /// Replaces the notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_notes: Option<String>,
}

/// The server refuses a body setting neither field, so the schema has `minProperties: 1`;
/// utoipa 5.5's `min_properties` attribute writes `maxProperties` instead, so it is set here.
impl PartialSchema for DlqUpdateRequest {
    fn schema() -> RefOr<Schema> {
        let mut schema = dlq_update_schema::DlqUpdateRequest::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.min_properties = Some(1);
        }
        schema
    }
}

impl ToSchema for DlqUpdateRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DlqUpdateRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        dlq_update_schema::DlqUpdateRequest::schemas(schemas);
    }
}

mod dlq_update_schema {
    #![allow(dead_code, unreachable_pub)]

    use serde::Deserialize;
    use utoipa::ToSchema;

    use super::super::states::ResolutionStatus;

    /// `PATCH /v1/dlq/entry/{dlq_entry_uuid}` (at least one field).
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(example = json!({"resolution_status": "manually_resolved", "resolution_notes": "resolved the step by hand"}))]
    pub struct DlqUpdateRequest {
        /// New resolution status.
        #[serde(default)]
        #[schema(required = false)]
        resolution_status: Option<ResolutionStatus>,
        /// Replaces the notes.
        #[serde(default)]
        #[schema(value_type = String, required = false)]
        resolution_notes: Option<String>,
    }
}

/// Filters of `GET /v1/dlq`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DlqListQuery {
    /// Resolution status.
    pub resolution_status: Option<ResolutionStatus>,
    /// DLQ reason.
    pub dlq_reason: Option<DlqReason>,
    /// Most entries to return, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    #[schema(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// Entries to skip.
    pub offset: Option<u64>,
}

/// `?limit=` of `GET /v1/dlq/investigation-queue`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DlqQueueQuery {
    /// Most entries (default 50; values outside 1–100 are clamped to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// Entry counts for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DlqStatView {
    /// Reason.
    #[schema(value_type = DlqReason)]
    pub dlq_reason: String,
    /// Entries with this reason.
    pub total: u64,
    /// Entries per resolution status.
    pub by_status: std::collections::BTreeMap<String, u64>,
}

/// A task waiting in one state for long (staleness monitoring).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StalenessView {
    /// Task.
    pub task_uuid: Uuid,
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Current state.
    #[schema(value_type = TaskStatus)]
    pub status: String,
    /// When it entered that state.
    pub status_changed_at: DateTime<Utc>,
    /// Minutes in that state.
    pub minutes_in_state: i64,
    /// The configured threshold for that state.
    pub threshold_minutes: u64,
    /// Whether the threshold is exceeded.
    pub stale: bool,
}
