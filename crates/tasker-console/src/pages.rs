//! The console's pages, one module per resource like the API's routes; each handler is a
//! forward: its permission in its signature ([`Viewer<P>`](crate::guard::Viewer)), one
//! service call with the operator's scope, then markup. Path and query problems are 400
//! pages, never the framework's plain-text rejections.

mod dlq;
pub(crate) mod oidc;
mod schedules;
mod signin;
mod steps;
mod system;
mod tasks;
mod templates;

use axum::Router;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;
use serde::de::DeserializeOwned;

use crate::ConsoleState;
use crate::errors::Refusal;

/// What a page handler returns.
pub(crate) type PageResult = Result<Markup, Refusal>;

/// Every console route.
pub(crate) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/ui", get(home))
        .route("/ui/", get(home))
        .route("/ui/login", get(signin::form).post(signin::sign_in))
        .route("/ui/logout", post(signin::sign_out))
        .route("/ui/oidc/start", post(oidc::start))
        .route("/ui/oidc/callback", get(oidc::callback))
        .route("/ui/tasks", get(tasks::list))
        .route("/ui/tasks/{task}", get(tasks::show))
        .route("/ui/tasks/{task}/live", get(tasks::live))
        .route("/ui/tasks/{task}/cancel", post(tasks::cancel))
        .route("/ui/tasks/{task}/steps/{step}", get(steps::show))
        .route("/ui/tasks/{task}/steps/{step}/log", get(steps::log))
        .route("/ui/tasks/{task}/steps/{step}/action", post(steps::act))
        .route("/ui/dlq", get(dlq::queue))
        .route("/ui/dlq/task/{task}", get(dlq::for_task))
        .route(
            "/ui/dlq/task/{task}/steps/{step}/resolve",
            post(dlq::resolve_step),
        )
        .route("/ui/dlq/entry/{entry}", post(dlq::update))
        .route("/ui/templates", get(templates::list))
        .route(
            "/ui/templates/{namespace}/{name}/{version}",
            get(templates::show),
        )
        .route("/ui/schedules", get(schedules::list))
        .route("/ui/schedules/{schedule}", get(schedules::show))
        .route("/ui/schedules/{schedule}/pause", post(schedules::pause))
        .route("/ui/schedules/{schedule}/resume", post(schedules::resume))
        .route("/ui/schedules/{schedule}/trigger", post(schedules::trigger))
        .route("/ui/system", get(system::show))
        .route("/ui/{*rest}", get(not_found).post(not_found))
}

async fn home() -> Redirect {
    Redirect::to("/ui/tasks")
}

async fn not_found() -> Refusal {
    Refusal::Status(
        axum::http::StatusCode::NOT_FOUND,
        "No such console page.".to_owned(),
    )
}

/// A path whose bad segments answer a 400 page.
pub(crate) struct UiPath<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for UiPath<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| UiPath(v))
            .map_err(|e| Refusal::bad_request(format!("Bad address: {}", e.body_text())))
    }
}

/// A query string whose bad parameters answer a 400 page.
pub(crate) struct UiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for UiQuery<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| UiQuery(v))
            .map_err(|e| Refusal::bad_request(format!("Bad query: {}", e.body_text())))
    }
}

/// `None` for an absent or empty form or query field.
pub(crate) fn filled(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A redirect after a successful POST (303, so the browser GETs the page).
pub(crate) fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// `path` when it is a console page, else the task list (no open redirects).
pub(crate) fn console_path(path: Option<&str>) -> String {
    match path {
        Some(p) if p.starts_with("/ui/") && !p.starts_with("//") && !p.contains('\\') => {
            p.to_owned()
        }
        _ => "/ui/tasks".to_owned(),
    }
}
