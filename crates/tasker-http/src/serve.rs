//! Accepting and serving connections with the slow-client protections of `[web]`: a
//! connection cap (connections over it are accepted and closed at once, so the listen backlog
//! never fills with clients waiting for a slot), header read, idle and write timeouts, and
//! graceful shutdown on SIGINT / SIGTERM that finishes requests in progress and closes
//! everything else at once.

mod activity;
mod connection;
mod timed_io;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tasker_config::WebConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::http_metrics::{Rejection, register_connection_metrics};
use activity::PhaseTimeouts;
use connection::{Shared, serve_connection};

/// Sent, best effort, on a connection refused by the cap before it is closed.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\
content-type: application/json\r\ncontent-length: 77\r\nretry-after: 1\r\n\r\n\
{\"error\":\"service_unavailable\",\"message\":\"Too many connections, retry later\"}";

/// Shortest time between two log lines saying the cap is reached.
const CAP_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// The connection limits in force.
#[derive(Debug)]
struct Limits {
    phases: PhaseTimeouts,
    write_timeout: Duration,
    max_connections: usize,
    /// How long shutdown waits for requests in progress before closing their connections.
    drain: Duration,
}

impl Limits {
    fn from_web(web: &WebConfig) -> Self {
        let request_timeout = web
            .request_timeout_seconds
            .unwrap_or(crate::layers::DEFAULT_TIMEOUT_SECONDS);
        let write_timeout = Duration::from_secs(web.write_timeout_seconds);
        let max_connections = crate::fd_limit::connection_cap(web.max_connections);
        if max_connections < web.max_connections {
            tracing::warn!(
                configured = web.max_connections,
                max_connections,
                "web.max_connections is more than the open-file limit allows; lowered"
            );
        }
        Self {
            phases: PhaseTimeouts {
                header: Duration::from_millis(web.header_read_timeout_ms),
                idle: Duration::from_secs(web.idle_timeout_seconds),
            },
            write_timeout,
            max_connections,
            drain: Duration::from_secs(request_timeout).saturating_add(write_timeout),
        }
    }
}

/// Serves `router` on `listener` with the connection limits of `web` until `shutdown`
/// completes, then stops accepting, lets requests in progress finish (at most the request
/// timeout plus the write timeout) and closes every other connection at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    web: &WebConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    register_connection_metrics();
    let limits = Arc::new(Limits::from_web(web));
    tracing::info!(
        max_connections = limits.max_connections,
        header_read_timeout_ms = web.header_read_timeout_ms,
        idle_timeout_seconds = web.idle_timeout_seconds,
        write_timeout_seconds = web.write_timeout_seconds,
        "connection limits"
    );
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Shared {
        router,
        limits: limits.clone(),
        stop: stop_rx,
    };
    let mut connections = JoinSet::new();
    let mut cap_warned: Option<tokio::time::Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let _ = stream.set_nodelay(true);
                        connections.spawn(serve_connection(stream, remote, shared.clone(), permit));
                    }
                    Err(_) => refuse(stream, remote, &mut cap_warned, limits.max_connections),
                },
                Err(err) => {
                    if pause_after_accept_error(&err, &mut shutdown).await {
                        break;
                    }
                }
            }
        }
    }
    drop(listener);
    stop_tx.send_replace(true);
    let drained = tokio::time::timeout(limits.drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "requests still in progress after the drain time; closing their connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Closes a connection over the cap, with a 503 if the socket takes it without waiting.
fn refuse(
    stream: TcpStream,
    remote: SocketAddr,
    warned: &mut Option<tokio::time::Instant>,
    max_connections: usize,
) {
    Rejection::MaxConnections.count();
    let _ = stream.try_write(BUSY_RESPONSE);
    let now = tokio::time::Instant::now();
    if warned.is_none_or(|at| now.duration_since(at) >= CAP_WARNING_INTERVAL) {
        *warned = Some(now);
        tracing::warn!(
            max_connections,
            %remote,
            "connection cap reached; refusing new connections"
        );
    }
}

/// After a failed accept: errors of one connection are skipped; others (out of descriptors)
/// pause accepting briefly instead of spinning. True when shutdown came meanwhile.
async fn pause_after_accept_error(
    err: &io::Error,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> bool {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return false;
    }
    tracing::warn!(error = %err, "accept failed; pausing");
    tokio::select! {
        () = shutdown => true,
        () = tokio::time::sleep(Duration::from_millis(100)) => false,
    }
}
