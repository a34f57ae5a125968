//! The dead-letter queue.

use axum::extract::State;
use serde::Deserialize;
use tasker_auth::{Authorized, perm};
use tasker_http::{ApiError, ApiJson, ApiPath, ApiQuery};
use tasker_orchestration::wire::{
    DlqEntry, DlqListQuery, DlqStat, DlqUpdateRequest, StalenessView,
};
use tasker_proto::ErrorBody;
use tasker_proto::api as doc;
use utoipa::IntoParams;
use uuid::Uuid;

use super::{AppState, fail};

type Reply<T> = Result<ApiJson<T>, ApiError>;

/// `?limit=` of the investigation queue.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct LimitQuery {
    /// Most entries (default 50; values outside 1–100 are clamped to it).
    limit: Option<u64>,
}

/// DLQ entries, newest first.
#[utoipa::path(get, operation_id = "list_dlq", path = "/v1/dlq", tag = "dlq", params(doc::DlqListQuery),
    responses((status = 200, body = Vec<doc::DlqEntryView>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    _auth: Authorized<perm::DlqRead>,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<DlqListQuery>,
) -> Reply<Vec<DlqEntry>> {
    s.orchestrator.list_dlq(q).await.map(ApiJson).map_err(fail)
}

/// DLQ entries of one task.
#[utoipa::path(get, operation_id = "list_dlq_for_task", path = "/v1/dlq/task/{task_uuid}", tag = "dlq", params(("task_uuid" = Uuid, Path)),
    responses((status = 200, body = Vec<doc::DlqEntryView>), (status = 404, body = ErrorBody)))]
pub(crate) async fn for_task(
    _auth: Authorized<perm::DlqRead>,
    State(s): State<AppState>,
    ApiPath(task): ApiPath<Uuid>,
) -> Reply<Vec<DlqEntry>> {
    s.orchestrator
        .dlq_for_task(task)
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Pending entries by priority, for investigation.
#[utoipa::path(get, operation_id = "dlq_investigation_queue", path = "/v1/dlq/investigation-queue", tag = "dlq", params(LimitQuery),
    responses((status = 200, body = Vec<doc::DlqEntryView>)))]
pub(crate) async fn investigation_queue(
    _auth: Authorized<perm::DlqRead>,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Reply<Vec<DlqEntry>> {
    s.orchestrator
        .investigation_queue(q.limit)
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Tasks waiting in one state, against the staleness thresholds.
#[utoipa::path(get, operation_id = "dlq_staleness", path = "/v1/dlq/staleness", tag = "dlq", responses((status = 200, body = Vec<doc::StalenessView>)))]
pub(crate) async fn staleness(
    _auth: Authorized<perm::DlqRead>,
    State(s): State<AppState>,
) -> Reply<Vec<StalenessView>> {
    s.orchestrator.staleness().await.map(ApiJson).map_err(fail)
}

/// Record a resolution; the caller is recorded as the resolver.
#[utoipa::path(patch, operation_id = "update_dlq_entry", path = "/v1/dlq/entry/{dlq_entry_uuid}", tag = "dlq", params(("dlq_entry_uuid" = Uuid, Path)),
    request_body = doc::DlqUpdateRequest,
    responses((status = 200, body = doc::DlqEntryView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update(
    auth: Authorized<perm::DlqUpdate>,
    State(s): State<AppState>,
    ApiPath(entry): ApiPath<Uuid>,
    ApiJson(update): ApiJson<DlqUpdateRequest>,
) -> Reply<DlqEntry> {
    s.orchestrator
        .update_dlq_entry(entry, update, auth.subject())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Entry counts per reason and resolution status.
#[utoipa::path(get, operation_id = "dlq_stats", path = "/v1/dlq/stats", tag = "dlq", responses((status = 200, body = Vec<doc::DlqStatView>)))]
pub(crate) async fn stats(
    _auth: Authorized<perm::DlqStats>,
    State(s): State<AppState>,
) -> Reply<Vec<DlqStat>> {
    s.orchestrator.dlq_stats().await.map(ApiJson).map_err(fail)
}
