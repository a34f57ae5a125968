//! The dead-letter queue.

use axum::extract::State;
use tasker_auth::{Authorized, perm};
use tasker_http::{ApiError, ApiJson, ApiPath, ApiQuery};
use tasker_proto::ErrorBody;
use tasker_proto::api::{
    DlqEntryView, DlqListQuery, DlqQueueQuery, DlqStatView, DlqUpdateRequest, StalenessView,
};
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Api, AppState, fail};

type Reply<T> = Result<ApiJson<T>, ApiError>;

/// This module's routes.
pub(super) fn routes(api: Api) -> Api {
    api.routes(routes!(list))
        .routes(routes!(for_task))
        .routes(routes!(investigation_queue))
        .routes(routes!(staleness))
        .routes(routes!(update))
        .routes(routes!(stats))
}

/// DLQ entries, newest first.
#[utoipa::path(get, operation_id = "list_dlq", path = "/v1/dlq", tag = "dlq", params(DlqListQuery),
    responses((status = 200, body = Vec<DlqEntryView>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    auth: Authorized<perm::DlqRead>,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<DlqListQuery>,
) -> Reply<Vec<DlqEntryView>> {
    s.orchestrator
        .list_dlq(q, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// DLQ entries of one task.
#[utoipa::path(get, operation_id = "list_dlq_for_task", path = "/v1/dlq/task/{task_uuid}", tag = "dlq", params(("task_uuid" = Uuid, Path)),
    responses((status = 200, body = Vec<DlqEntryView>), (status = 404, body = ErrorBody)))]
pub(crate) async fn for_task(
    auth: Authorized<perm::DlqRead>,
    State(s): State<AppState>,
    ApiPath(task): ApiPath<Uuid>,
) -> Reply<Vec<DlqEntryView>> {
    s.orchestrator
        .dlq_for_task(task, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Pending entries by priority, for investigation.
#[utoipa::path(get, operation_id = "dlq_investigation_queue", path = "/v1/dlq/investigation-queue", tag = "dlq", params(DlqQueueQuery),
    responses((status = 200, body = Vec<DlqEntryView>)))]
pub(crate) async fn investigation_queue(
    auth: Authorized<perm::DlqRead>,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<DlqQueueQuery>,
) -> Reply<Vec<DlqEntryView>> {
    s.orchestrator
        .investigation_queue(q.limit, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Tasks waiting in one state, against the staleness thresholds.
#[utoipa::path(get, operation_id = "dlq_staleness", path = "/v1/dlq/staleness", tag = "dlq", responses((status = 200, body = Vec<StalenessView>)))]
pub(crate) async fn staleness(
    auth: Authorized<perm::DlqRead>,
    State(s): State<AppState>,
) -> Reply<Vec<StalenessView>> {
    s.orchestrator
        .staleness(&auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Record a resolution; the caller is recorded as the resolver.
#[utoipa::path(patch, operation_id = "update_dlq_entry", path = "/v1/dlq/entry/{dlq_entry_uuid}", tag = "dlq", params(("dlq_entry_uuid" = Uuid, Path)),
    request_body = DlqUpdateRequest,
    responses((status = 200, body = DlqEntryView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update(
    auth: Authorized<perm::DlqUpdate>,
    State(s): State<AppState>,
    ApiPath(entry): ApiPath<Uuid>,
    ApiJson(update): ApiJson<DlqUpdateRequest>,
) -> Reply<DlqEntryView> {
    s.orchestrator
        .update_dlq_entry(entry, update, auth.subject(), &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Entry counts per reason and resolution status.
#[utoipa::path(get, operation_id = "dlq_stats", path = "/v1/dlq/stats", tag = "dlq", responses((status = 200, body = Vec<DlqStatView>)))]
pub(crate) async fn stats(
    auth: Authorized<perm::DlqStats>,
    State(s): State<AppState>,
) -> Reply<Vec<DlqStatView>> {
    s.orchestrator
        .dlq_stats(&auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}
