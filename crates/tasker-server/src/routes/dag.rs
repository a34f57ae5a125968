//! The run's DAG of a task.

use axum::extract::State;
use tasker_auth::{Authorized, perm};
use tasker_http::{ApiError, ApiJson, ApiPath};
use tasker_proto::ErrorBody;
use tasker_proto::api::DagView;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Api, AppState, fail};

/// This module's routes.
pub(super) fn routes(api: Api) -> Api {
    api.routes(routes!(dag))
}

/// The task's steps and edges as it ran, including the template steps it did not create
/// (status `not_created`, no `step_uuid`).
#[utoipa::path(get, operation_id = "get_task_dag", path = "/v1/tasks/{task_uuid}/dag", tag = "steps",
    params(("task_uuid" = Uuid, Path)),
    responses((status = 200, body = DagView), (status = 404, body = ErrorBody)))]
pub(crate) async fn dag(
    auth: Authorized<perm::StepsRead>,
    State(s): State<AppState>,
    ApiPath(task): ApiPath<Uuid>,
) -> Result<ApiJson<DagView>, ApiError> {
    s.orchestrator
        .task_dag(task, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}
