//! The one place API errors become HTTP responses. Client mistakes get a 4xx with the
//! `{"error","message"}` envelope; server faults get a generic 500 body and the cause is
//! logged once.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tasker_proto::{ErrorBody, ErrorCode};

/// An API failure other than authentication (see `tasker_auth::AuthError` for those).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400
    #[error("{0}")]
    BadRequest(String),
    /// 403 for a permission held, but not in the namespace concerned (the message names the
    /// scoped permission); carries the same challenge as the auth layer's 403.
    #[error("{0}")]
    Forbidden(String),
    /// 404
    #[error("{0}")]
    NotFound(String),
    /// 405
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409
    #[error("{0}")]
    Conflict(String),
    /// 413
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 422
    #[error("{0}")]
    Unprocessable(String),
    /// 500; the message is logged, never returned.
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest),
            ApiError::Forbidden(_) => {
                let body = ErrorBody::new(ErrorCode::Forbidden, self.to_string());
                let challenge = [(
                    axum::http::header::WWW_AUTHENTICATE,
                    r#"Bearer realm="tasker", error="insufficient_scope""#,
                )];
                return (StatusCode::FORBIDDEN, challenge, Json(body)).into_response();
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::MethodNotAllowed(_) => {
                (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed)
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            ApiError::PayloadTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge)
            }
            ApiError::Unprocessable(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Unprocessable)
            }
            ApiError::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                let body = ErrorBody::new(ErrorCode::Internal, "Internal server error");
                return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
            }
        };
        (status, Json(ErrorBody::new(code, self.to_string()))).into_response()
    }
}
