//! Schedules: cron-triggered tasks of a template, their runs and manual triggers.

use axum::extract::State;
use axum::http::StatusCode;
use tasker_auth::{Authorized, perm};
use tasker_http::{ApiError, ApiJson, ApiPath, ApiQuery};
use tasker_proto::ErrorBody;
use tasker_proto::api::{
    CreateScheduleRequest, ScheduleListQuery, ScheduleQuery, ScheduleRunView, ScheduleRunsQuery,
    ScheduleView, TaskView, UpdateScheduleRequest,
};
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Api, AppState, fail};

type Reply<T> = Result<ApiJson<T>, ApiError>;

/// This module's routes.
pub(super) fn routes(api: Api) -> Api {
    api.routes(routes!(create, list))
        .routes(routes!(get, update, delete))
        .routes(routes!(runs))
        .routes(routes!(trigger))
}

/// Create a schedule firing tasks of a template on a cron expression.
#[utoipa::path(post, operation_id = "create_schedule", path = "/v1/schedules", tag = "schedules", request_body = CreateScheduleRequest,
    responses((status = 201, body = ScheduleView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create(
    auth: Authorized<perm::SchedulesWrite>,
    State(s): State<AppState>,
    ApiJson(request): ApiJson<CreateScheduleRequest>,
) -> Result<(StatusCode, ApiJson<ScheduleView>), ApiError> {
    let schedule = s
        .orchestrator
        .create_schedule(request, auth.subject(), &auth.scope())
        .await
        .map_err(fail)?;
    Ok((StatusCode::CREATED, ApiJson(schedule)))
}

/// Schedules, by namespace, name and creation.
#[utoipa::path(get, operation_id = "list_schedules", path = "/v1/schedules", tag = "schedules", params(ScheduleListQuery),
    responses((status = 200, body = Vec<ScheduleView>), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    auth: Authorized<perm::SchedulesRead>,
    State(s): State<AppState>,
    ApiQuery(query): ApiQuery<ScheduleListQuery>,
) -> Reply<Vec<ScheduleView>> {
    s.orchestrator
        .list_schedules(query, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// One schedule, with its next fire times when `upcoming` is given.
#[utoipa::path(get, operation_id = "get_schedule", path = "/v1/schedules/{schedule_uuid}", tag = "schedules", params(("schedule_uuid" = Uuid, Path), ScheduleQuery),
    responses((status = 200, body = ScheduleView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    auth: Authorized<perm::SchedulesRead>,
    State(s): State<AppState>,
    ApiPath(schedule): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ScheduleQuery>,
) -> Reply<ScheduleView> {
    s.orchestrator
        .get_schedule(schedule, query, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Change a schedule; `{"paused": true}` pauses it and `{"paused": false}` resumes it.
#[utoipa::path(patch, operation_id = "update_schedule", path = "/v1/schedules/{schedule_uuid}", tag = "schedules", params(("schedule_uuid" = Uuid, Path)),
    request_body = UpdateScheduleRequest,
    responses((status = 200, body = ScheduleView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn update(
    auth: Authorized<perm::SchedulesWrite>,
    State(s): State<AppState>,
    ApiPath(schedule): ApiPath<Uuid>,
    ApiJson(request): ApiJson<UpdateScheduleRequest>,
) -> Reply<ScheduleView> {
    s.orchestrator
        .update_schedule(schedule, request, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Delete a schedule and its runs (answering the schedule as it was); the tasks it fired stay.
#[utoipa::path(delete, operation_id = "delete_schedule", path = "/v1/schedules/{schedule_uuid}", tag = "schedules", params(("schedule_uuid" = Uuid, Path)),
    responses((status = 200, body = ScheduleView), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete(
    auth: Authorized<perm::SchedulesWrite>,
    State(s): State<AppState>,
    ApiPath(schedule): ApiPath<Uuid>,
) -> Reply<ScheduleView> {
    s.orchestrator
        .delete_schedule(schedule, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Runs of a schedule (fired, triggered or skipped), newest fire time first.
#[utoipa::path(get, operation_id = "list_schedule_runs", path = "/v1/schedules/{schedule_uuid}/runs", tag = "schedules", params(("schedule_uuid" = Uuid, Path), ScheduleRunsQuery),
    responses((status = 200, body = Vec<ScheduleRunView>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn runs(
    auth: Authorized<perm::SchedulesRead>,
    State(s): State<AppState>,
    ApiPath(schedule): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ScheduleRunsQuery>,
) -> Reply<Vec<ScheduleRunView>> {
    s.orchestrator
        .schedule_runs(schedule, query, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Fire the schedule now, paused or not: one task with `scheduled_for` = now.
#[utoipa::path(post, operation_id = "trigger_schedule", path = "/v1/schedules/{schedule_uuid}/trigger", tag = "schedules", params(("schedule_uuid" = Uuid, Path)),
    responses((status = 201, body = TaskView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn trigger(
    auth: Authorized<perm::SchedulesWrite>,
    State(s): State<AppState>,
    ApiPath(schedule): ApiPath<Uuid>,
) -> Result<(StatusCode, ApiJson<TaskView>), ApiError> {
    let task = s
        .orchestrator
        .trigger_schedule(schedule, &auth.scope())
        .await
        .map_err(fail)?;
    Ok((StatusCode::CREATED, ApiJson(task)))
}
