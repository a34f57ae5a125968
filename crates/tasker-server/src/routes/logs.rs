//! Step logs: one attempt's stored lines as JSON, or followed live as server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tasker_auth::{Authorized, perm};
use tasker_http::{ApiError, ApiJson, ApiPath, ApiQuery};
use tasker_orchestration::{StepLogEvent, StepLogFollower};
use tasker_proto::ErrorBody;
use tasker_proto::api::{StepLogQuery, StepLogStreamEvent, StepLogView};
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Api, AppState, fail};

/// This module's routes.
pub(super) fn routes(api: Api) -> Api {
    api.routes(routes!(step_logs))
}

/// A step attempt's log: the stderr lines of a `builtin.command` program, or the lines a Rust
/// handler wrote. With `follow=true` the answer is `text/event-stream`: an event `line` per
/// line (data: the line as JSON, id: its `seq`), `truncated` when the attempt reached its
/// cap, and `end` (data: the step's state) once the attempt is over.
#[utoipa::path(get, operation_id = "get_step_logs", path = "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/logs", tag = "steps",
    params(("task_uuid" = Uuid, Path), ("step_uuid" = Uuid, Path), StepLogQuery),
    responses((status = 200, content((StepLogView = "application/json"), (StepLogStreamEvent = "text/event-stream"))),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn step_logs(
    auth: Authorized<perm::StepsRead>,
    State(s): State<AppState>,
    ApiPath((task, step)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(query): ApiQuery<StepLogQuery>,
) -> Result<Response, ApiError> {
    let (o, scope) = (&s.orchestrator, auth.scope());
    if query.follow == Some(true) {
        let follower = o.follow_step_log(task, step, query.attempt, &scope);
        return Ok(event_stream(follower.await.map_err(fail)?));
    }
    let view = o.step_log(task, step, query.attempt, &scope);
    Ok(ApiJson(view.await.map_err(fail)?).into_response())
}

/// The follower as server-sent events, with a comment every 15 s so that proxies keep an idle
/// stream open. A store failure ends the stream with an `error` event.
fn event_stream(follower: StepLogFollower) -> Response {
    let events = futures::stream::unfold(Some(follower), |state| async move {
        let mut follower = state?;
        let event = match follower.next().await {
            Ok(Some(StepLogEvent::Line(line))) => Event::default()
                .event("line")
                .id(line.seq.to_string())
                .json_data(&line),
            Ok(Some(StepLogEvent::Truncated)) => Event::default()
                .event("truncated")
                .json_data(serde_json::json!({"truncated": true})),
            Ok(Some(StepLogEvent::End(end))) => Event::default().event("end").json_data(&end),
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "following a step log failed");
                let event = Event::default()
                    .event("error")
                    .data("reading the step log failed");
                return Some((Ok::<_, Infallible>(event), None));
            }
        };
        let event = event.unwrap_or_else(|_| Event::default().event("error"));
        Some((Ok(event), Some(follower)))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
