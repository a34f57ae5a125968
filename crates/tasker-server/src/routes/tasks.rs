//! Tasks and their workflow steps.

use axum::extract::State;
use axum::http::StatusCode;
use tasker_auth::{Authorized, perm};
use tasker_http::{ApiError, ApiJson, ApiPath, ApiQuery};
use tasker_proto::api::{
    CreateTaskRequest, StepActionRequest, StepView, TaskContextView, TaskList, TaskListQuery,
    TaskView, TransitionView,
};
use tasker_proto::{ErrorBody, Permission};
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Api, AppState, fail};

type Reply<T> = Result<ApiJson<T>, ApiError>;

/// This module's routes.
pub(super) fn routes(api: Api) -> Api {
    api.routes(routes!(create, list))
        .routes(routes!(get, cancel))
        .routes(routes!(context))
        .routes(routes!(steps))
        .routes(routes!(step, step_action))
        .routes(routes!(step_audit))
        .routes(routes!(task_audit))
}

/// Create a task from a template.
#[utoipa::path(post, operation_id = "create_task", path = "/v1/tasks", tag = "tasks", request_body = CreateTaskRequest,
    responses((status = 201, body = TaskView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create(
    auth: Authorized<perm::TasksCreate>,
    State(s): State<AppState>,
    ApiJson(request): ApiJson<CreateTaskRequest>,
) -> Result<(StatusCode, ApiJson<TaskView>), ApiError> {
    let task = s
        .orchestrator
        .create_task(
            request,
            auth.subject(),
            &auth.scope(),
            tasker_http::current_traceparent(),
        )
        .await
        .map_err(fail)?;
    Ok((StatusCode::CREATED, ApiJson(task)))
}

/// List tasks, filtered and paginated.
#[utoipa::path(get, operation_id = "list_tasks", path = "/v1/tasks", tag = "tasks", params(TaskListQuery),
    responses((status = 200, body = TaskList), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    auth: Authorized<perm::TasksList>,
    State(s): State<AppState>,
    ApiQuery(query): ApiQuery<TaskListQuery>,
) -> Reply<TaskList> {
    s.orchestrator
        .list_tasks(query, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// One task with its step counts.
#[utoipa::path(get, operation_id = "get_task", path = "/v1/tasks/{task_uuid}", tag = "tasks", params(("task_uuid" = Uuid, Path)),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    auth: Authorized<perm::TasksRead>,
    State(s): State<AppState>,
    ApiPath(task): ApiPath<Uuid>,
) -> Reply<TaskView> {
    let context = auth.scope_of(Permission::TasksContextRead);
    s.orchestrator
        .get_task(task, &auth.scope(), &context)
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Cancel a task and its unfinished steps.
#[utoipa::path(delete, operation_id = "cancel_task", path = "/v1/tasks/{task_uuid}", tag = "tasks", params(("task_uuid" = Uuid, Path)),
    responses((status = 200, body = TaskView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn cancel(
    auth: Authorized<perm::TasksCancel>,
    State(s): State<AppState>,
    ApiPath(task): ApiPath<Uuid>,
) -> Reply<TaskView> {
    s.orchestrator
        .cancel_task(task, auth.subject(), &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// The task's inputs and its steps' results.
#[utoipa::path(get, operation_id = "get_task_context", path = "/v1/tasks/{task_uuid}/context", tag = "tasks", params(("task_uuid" = Uuid, Path)),
    responses((status = 200, body = TaskContextView), (status = 404, body = ErrorBody)))]
pub(crate) async fn context(
    auth: Authorized<perm::TasksContextRead>,
    State(s): State<AppState>,
    ApiPath(task): ApiPath<Uuid>,
) -> Reply<TaskContextView> {
    s.orchestrator
        .task_context(task, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// The task's steps in template order.
#[utoipa::path(get, operation_id = "list_steps", path = "/v1/tasks/{task_uuid}/workflow_steps", tag = "steps", params(("task_uuid" = Uuid, Path)),
    responses((status = 200, body = Vec<StepView>), (status = 404, body = ErrorBody)))]
pub(crate) async fn steps(
    auth: Authorized<perm::StepsRead>,
    State(s): State<AppState>,
    ApiPath(task): ApiPath<Uuid>,
) -> Reply<Vec<StepView>> {
    s.orchestrator
        .list_steps(task, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// One step.
#[utoipa::path(get, operation_id = "get_step", path = "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}", tag = "steps",
    params(("task_uuid" = Uuid, Path), ("step_uuid" = Uuid, Path)),
    responses((status = 200, body = StepView), (status = 404, body = ErrorBody)))]
pub(crate) async fn step(
    auth: Authorized<perm::StepsRead>,
    State(s): State<AppState>,
    ApiPath((task, step)): ApiPath<(Uuid, Uuid)>,
) -> Reply<StepView> {
    s.orchestrator
        .get_step(task, step, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// A step's recorded transitions, oldest first.
#[utoipa::path(get, operation_id = "get_step_audit", path = "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/audit", tag = "steps",
    params(("task_uuid" = Uuid, Path), ("step_uuid" = Uuid, Path)),
    responses((status = 200, body = Vec<TransitionView>), (status = 404, body = ErrorBody)))]
pub(crate) async fn step_audit(
    auth: Authorized<perm::StepsRead>,
    State(s): State<AppState>,
    ApiPath((task, step)): ApiPath<(Uuid, Uuid)>,
) -> Reply<Vec<TransitionView>> {
    s.orchestrator
        .step_audit(task, step, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Every recorded transition of the task and of its steps, in recording order.
#[utoipa::path(get, operation_id = "get_task_audit", path = "/v1/tasks/{task_uuid}/audit", tag = "tasks", params(("task_uuid" = Uuid, Path)),
    responses((status = 200, body = Vec<TransitionView>), (status = 404, body = ErrorBody)))]
pub(crate) async fn task_audit(
    auth: Authorized<perm::StepsRead>,
    State(s): State<AppState>,
    ApiPath(task): ApiPath<Uuid>,
) -> Reply<Vec<TransitionView>> {
    s.orchestrator
        .task_audit(task, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Resolve, complete or reset a step; the caller is recorded as the actor.
#[utoipa::path(patch, operation_id = "step_action", path = "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}", tag = "steps",
    params(("task_uuid" = Uuid, Path), ("step_uuid" = Uuid, Path)), request_body = StepActionRequest,
    responses((status = 200, body = StepView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn step_action(
    auth: Authorized<perm::StepsResolve>,
    State(s): State<AppState>,
    ApiPath((task, step)): ApiPath<(Uuid, Uuid)>,
    ApiJson(action): ApiJson<StepActionRequest>,
) -> Reply<StepView> {
    s.orchestrator
        .step_action(task, step, action, auth.subject(), &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}
