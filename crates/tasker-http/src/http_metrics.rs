//! The HTTP metrics: requests by route template and status, open connections, and
//! connections the server closed to protect itself (by reason).

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

const REQUESTS: &str = "tasker_http_requests_total";
const OPEN_CONNECTIONS: &str = "tasker_http_open_connections";
const REJECTED: &str = "tasker_http_connections_rejected_total";

/// Label of requests no route matched: raw paths never become label values, so the series
/// count stays bounded whatever clients send.
const UNMATCHED: &str = "unmatched";

/// Why the server closed a connection itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Accepted while `max_connections` were open, and closed at once.
    MaxConnections,
    /// The request head did not arrive within `header_read_timeout_ms`.
    HeaderTimeout,
    /// No request within `idle_timeout_seconds` on a kept-alive connection.
    IdleTimeout,
    /// A response write made no progress for `write_timeout_seconds`.
    WriteTimeout,
    /// The request head was unparseable or larger than the header buffer.
    Malformed,
}

impl Rejection {
    const ALL: [Rejection; 5] = [
        Rejection::MaxConnections,
        Rejection::HeaderTimeout,
        Rejection::IdleTimeout,
        Rejection::WriteTimeout,
        Rejection::Malformed,
    ];

    fn label(self) -> &'static str {
        match self {
            Rejection::MaxConnections => "max_connections",
            Rejection::HeaderTimeout => "header_timeout",
            Rejection::IdleTimeout => "idle_timeout",
            Rejection::WriteTimeout => "write_timeout",
            Rejection::Malformed => "malformed",
        }
    }

    /// Adds one to the reason's counter.
    pub(crate) fn count(self) {
        metrics::counter!(REJECTED, "reason" => self.label()).increment(1);
    }
}

/// Registers the connection series with zero values, so dashboards and alerts see them
/// before the first event.
pub(crate) fn register_connection_metrics() {
    metrics::describe_counter!(REJECTED, "Connections the server closed itself, by reason");
    metrics::describe_gauge!(OPEN_CONNECTIONS, "HTTP connections currently open");
    metrics::describe_counter!(REQUESTS, "HTTP requests by route template and status");
    for reason in Rejection::ALL {
        metrics::counter!(REJECTED, "reason" => reason.label()).increment(0);
    }
    metrics::gauge!(OPEN_CONNECTIONS).increment(0.0);
}

/// One open connection on the gauge, for as long as it lives.
#[derive(Debug)]
pub(crate) struct OpenConnection(());

impl OpenConnection {
    pub(crate) fn open() -> Self {
        metrics::gauge!(OPEN_CONNECTIONS).increment(1.0);
        Self(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!(OPEN_CONNECTIONS).decrement(1.0);
    }
}

/// Middleware counting each request under its route template (never the raw path) and the
/// status finally sent, including the statuses of the layers inside it.
pub(crate) async fn count_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics::counter!(
        REQUESTS,
        "route" => route.unwrap_or_else(|| UNMATCHED.to_owned()),
        "status" => response.status().as_str().to_owned(),
    )
    .increment(1);
    response
}
