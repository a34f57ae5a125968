//! The one mapping of refusals and service errors to console responses: a redirect to the
//! sign-in page for a missing, unknown or expired session, and an HTML error page with the
//! status of the matching API error otherwise (5xx pages are generic; the cause is logged).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use tasker_auth::AuthError;

use crate::layout;

/// Why a console request was not served.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// No usable session: go to the sign-in page, then come back to `next`.
    SignIn {
        /// The path to return to.
        next: String,
    },
    /// An error page with this status and message.
    Status(StatusCode, String),
}

impl Refusal {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Refusal::Status(StatusCode::BAD_REQUEST, message.into())
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Refusal::Status(StatusCode::FORBIDDEN, message.into())
    }

    /// A refusal by the authenticator: 403 and 503 keep their status; a credential that no
    /// longer verifies sends the operator back to the sign-in page.
    pub(crate) fn from_auth(err: AuthError, next: &str) -> Self {
        match err {
            AuthError::Forbidden(_) => Refusal::forbidden(err.to_string()),
            AuthError::Unavailable(message) => {
                Refusal::Status(StatusCode::SERVICE_UNAVAILABLE, message)
            }
            AuthError::Unauthorized { .. } => Refusal::SignIn {
                next: next.to_owned(),
            },
        }
    }
}

impl From<tasker_orchestration::Error> for Refusal {
    fn from(err: tasker_orchestration::Error) -> Self {
        use tasker_orchestration::Error;
        let status = match &err {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Internal(source) => {
                tracing::error!(error = %source, "console request failed");
                return Refusal::Status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error; the server log has the cause.".to_owned(),
                );
            }
        };
        Refusal::Status(status, err.to_string())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn { next } => {
                let target = format!("/ui/login?next={}", layout::query_escape(&next));
                let mut response = StatusCode::SEE_OTHER.into_response();
                if let Ok(location) = HeaderValue::from_str(&target) {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                response
            }
            Refusal::Status(status, message) => {
                let title = status.canonical_reason().unwrap_or("Error");
                let body = html! {
                    h1 { (status.as_u16()) " " (title) }
                    p.error role="alert" { (message) }
                    p { a href="/ui/tasks" { "Back to the tasks" } }
                };
                (status, layout::bare(title, body)).into_response()
            }
        }
    }
}
