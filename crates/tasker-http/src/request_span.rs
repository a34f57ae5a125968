//! The traced span of each request: named `METHOD /route/{template}` (never the raw path,
//! which carries ids), with the method, route, status and the authenticated subject (recorded
//! by the auth extractor), parented by the caller's `traceparent` header when it sends one.
//! With tracing off the span is disabled and costs what a disabled span costs.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tasker_config::SPAN_TARGET;
use tracing::Instrument;

/// Route name of requests no route matched.
const UNMATCHED: &str = "unmatched";

pub(crate) async fn trace_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str);
    let span = tracing::info_span!(target: SPAN_TARGET, "http.request",
        otel.name = %format_args!("{} {route}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        subject = tracing::field::Empty,
        otel.status_code = tracing::field::Empty);
    if !span.is_disabled() {
        let traceparent = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok());
        tasker_telemetry::set_parent(&span, traceparent);
    }
    let response = next.run(request).instrument(span.clone()).await;
    if !span.is_disabled() {
        let status = response.status();
        span.record("http.response.status_code", i64::from(status.as_u16()));
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
    response
}
