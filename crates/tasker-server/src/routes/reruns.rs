//! Signals to waiting approval steps and reruns of finished tasks.

use axum::extract::State;
use tasker_auth::{Authorized, perm};
use tasker_http::{ApiError, ApiJson, ApiPath};
use tasker_proto::ErrorBody;
use tasker_proto::api::{RerunTaskRequest, RerunView, SignalStepRequest, StepView};
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Api, AppState, fail};

/// This module's routes.
pub(super) fn routes(api: Api) -> Api {
    api.routes(routes!(signal)).routes(routes!(rerun))
}

/// Approve or reject a waiting approval step; the caller is recorded as `by`.
#[utoipa::path(post, operation_id = "signal_step", path = "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/signal", tag = "steps",
    params(("task_uuid" = Uuid, Path), ("step_uuid" = Uuid, Path)), request_body = SignalStepRequest,
    responses((status = 200, body = StepView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn signal(
    auth: Authorized<perm::StepsResolve>,
    State(s): State<AppState>,
    ApiPath((task, step)): ApiPath<(Uuid, Uuid)>,
    ApiJson(request): ApiJson<SignalStepRequest>,
) -> Result<ApiJson<StepView>, ApiError> {
    s.orchestrator
        .signal_step(task, step, request, auth.subject(), &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Run a finished task again from one of its steps (that step and everything downstream).
#[utoipa::path(post, operation_id = "rerun_task", path = "/v1/tasks/{task_uuid}/rerun", tag = "tasks",
    params(("task_uuid" = Uuid, Path)), request_body = RerunTaskRequest,
    responses((status = 200, body = RerunView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn rerun(
    auth: Authorized<perm::StepsResolve>,
    State(s): State<AppState>,
    ApiPath(task): ApiPath<Uuid>,
    ApiJson(request): ApiJson<RerunTaskRequest>,
) -> Result<ApiJson<RerunView>, ApiError> {
    s.orchestrator
        .rerun_task(task, request, auth.subject(), &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}
