//! The orchestration API: one module per resource, each listing its routes in its `routes`
//! function, each handler a forward to the [`Orchestrator`] with its permission in its
//! signature (`Authorized<P>`). The router, the OpenAPI document and the route → permission
//! table all come from those lists.

mod dag;
mod dlq;
mod logs;
mod reruns;
mod schedules;
mod system;
mod tasks;
mod templates;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use tasker_auth::Authenticator;
use tasker_http::ApiError;
use tasker_orchestration::Orchestrator;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa_axum::router::OpenApiRouter;

/// Router state of the orchestration API.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) orchestrator: Orchestrator,
    pub(crate) auth: Arc<Authenticator>,
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tasker orchestration API",
        description = "Tasks, workflow steps, DLQ, templates, handlers, analytics and schedules."
    ),
    components(schemas(tasker_proto::ErrorBody))
)]
struct ApiDoc;

/// The API router and its OpenAPI document.
pub(crate) fn router(state: AppState) -> (Router, OpenApiDoc) {
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let api = system::routes(templates::routes(dlq::routes(tasks::routes(api))));
    let api = logs::routes(api);
    let api = schedules::routes(api);
    let api = dag::routes(api);
    let api = reruns::routes(api);
    api.with_state(state).split_for_parts()
}

/// The router each resource module adds its routes to.
pub(crate) type Api = OpenApiRouter<AppState>;

/// Maps a service error to the API envelope.
pub(crate) fn fail(err: tasker_orchestration::Error) -> ApiError {
    use tasker_orchestration::Error;
    match err {
        Error::NotFound(_) => ApiError::NotFound(err.to_string()),
        Error::Forbidden(_) => ApiError::Forbidden(err.to_string()),
        Error::Conflict(message) => ApiError::Conflict(message),
        Error::Unprocessable(_) => ApiError::Unprocessable(err.to_string()),
        Error::BadRequest(message) => ApiError::BadRequest(message),
        Error::Internal(source) => ApiError::Internal(source.to_string()),
    }
}
