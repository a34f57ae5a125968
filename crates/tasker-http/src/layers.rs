//! The middleware stack: request counting by route template, the traced request span, request ids (generated or
//! propagated), sensitive credential headers hidden from traces, body size limit, request
//! timeout, HTTP tracing, and a JSON 404.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::http_metrics::count_request;
use crate::request_span::trace_request;

const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Per-request timeout when `web.request_timeout_seconds` is not set.
pub(crate) const DEFAULT_TIMEOUT_SECONDS: u64 = 30;

/// Wraps `router` with the stack. `api_key_header` is marked sensitive with `Authorization`.
pub fn apply_layers(
    router: Router,
    api_key_header: HeaderName,
    max_body_bytes: Option<usize>,
    timeout_seconds: Option<u64>,
) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let sensitive = [axum::http::header::AUTHORIZATION, api_key_header];
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(
            max_body_bytes.unwrap_or(DEFAULT_BODY_LIMIT),
        ))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new(sensitive))
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http())
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS)),
                )),
        )
        .layer(axum::middleware::from_fn(trace_request))
        // Outermost, so the counted status is the one sent (timeouts and limits included).
        .layer(axum::middleware::from_fn(count_request))
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("Method not allowed on this route".into())
}

async fn not_found() -> ApiError {
    ApiError::NotFound("No such route".into())
}
