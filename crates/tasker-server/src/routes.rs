//! The orchestration API: one module per resource, each handler a forward to the
//! [`Orchestrator`] with its permission in its signature (`Authorized<P>`). The router and
//! the OpenAPI document come from the same handler list, and [`ROUTES`] names the permission
//! of every protected operation for the document and for the route-table tests.

mod dlq;
mod system;
mod tasks;
mod templates;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use tasker_auth::Authenticator;
use tasker_http::ApiError;
use tasker_orchestration::Orchestrator;
use tasker_proto::Permission;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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

/// `(method, path, permission)` of every protected orchestration operation.
pub(crate) const ROUTES: &[(&str, &str, Permission)] = &[
    ("POST", "/v1/tasks", Permission::TasksCreate),
    ("GET", "/v1/tasks", Permission::TasksList),
    ("GET", "/v1/tasks/{task_uuid}", Permission::TasksRead),
    ("DELETE", "/v1/tasks/{task_uuid}", Permission::TasksCancel),
    (
        "GET",
        "/v1/tasks/{task_uuid}/context",
        Permission::TasksContextRead,
    ),
    (
        "GET",
        "/v1/tasks/{task_uuid}/workflow_steps",
        Permission::StepsRead,
    ),
    (
        "GET",
        "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}",
        Permission::StepsRead,
    ),
    (
        "GET",
        "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/audit",
        Permission::StepsRead,
    ),
    (
        "PATCH",
        "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}",
        Permission::StepsResolve,
    ),
    ("GET", "/v1/dlq", Permission::DlqRead),
    ("GET", "/v1/dlq/task/{task_uuid}", Permission::DlqRead),
    ("GET", "/v1/dlq/investigation-queue", Permission::DlqRead),
    ("GET", "/v1/dlq/staleness", Permission::DlqRead),
    (
        "PATCH",
        "/v1/dlq/entry/{dlq_entry_uuid}",
        Permission::DlqUpdate,
    ),
    ("GET", "/v1/dlq/stats", Permission::DlqStats),
    ("GET", "/v1/templates", Permission::TemplatesRead),
    (
        "GET",
        "/v1/templates/{namespace}/{name}/{version}",
        Permission::TemplatesRead,
    ),
    (
        "POST",
        "/v1/templates/validate",
        Permission::TemplatesValidate,
    ),
    ("GET", "/v1/handlers", Permission::SystemHandlersRead),
    (
        "GET",
        "/v1/handlers/{namespace}",
        Permission::SystemHandlersRead,
    ),
    (
        "GET",
        "/v1/analytics/performance",
        Permission::SystemAnalyticsRead,
    ),
    (
        "GET",
        "/v1/analytics/bottlenecks",
        Permission::SystemAnalyticsRead,
    ),
    ("GET", "/config", Permission::SystemConfigRead),
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tasker orchestration API",
        description = "Tasks, workflow steps, DLQ, templates, handlers and analytics."
    ),
    components(schemas(tasker_proto::ErrorBody))
)]
struct ApiDoc;

/// The API router and its OpenAPI document.
pub(crate) fn router(state: AppState) -> (Router, OpenApiDoc) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(tasks::create, tasks::list))
        .routes(routes!(tasks::get, tasks::cancel))
        .routes(routes!(tasks::context))
        .routes(routes!(tasks::steps))
        .routes(routes!(tasks::step, tasks::step_action))
        .routes(routes!(tasks::step_audit))
        .routes(routes!(dlq::list))
        .routes(routes!(dlq::for_task))
        .routes(routes!(dlq::investigation_queue))
        .routes(routes!(dlq::staleness))
        .routes(routes!(dlq::update))
        .routes(routes!(dlq::stats))
        .routes(routes!(templates::list))
        .routes(routes!(templates::get))
        .routes(routes!(templates::validate))
        .routes(routes!(system::handlers))
        .routes(routes!(system::namespace_handlers))
        .routes(routes!(system::performance))
        .routes(routes!(system::bottlenecks))
        .with_state(state)
        .split_for_parts();
    (router, doc)
}

/// Maps a service error to the API envelope.
pub(crate) fn fail(err: tasker_orchestration::Error) -> ApiError {
    use tasker_orchestration::Error;
    match err {
        Error::NotFound(_) => ApiError::NotFound(err.to_string()),
        Error::Conflict(message) => ApiError::Conflict(message),
        Error::Unprocessable(_) => ApiError::Unprocessable(err.to_string()),
        Error::BadRequest(message) => ApiError::BadRequest(message),
        Error::Internal(source) => ApiError::Internal(source.to_string()),
    }
}
