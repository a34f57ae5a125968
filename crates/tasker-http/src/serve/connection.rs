//! Serving one accepted connection: HTTP/1.1 through hyper, the router as its service, the
//! header and idle deadlines of its current phase, and its part in a graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use super::Limits;
use super::activity::Activity;
use super::timed_io::TimedIo;
use crate::http_metrics::{OpenConnection, Rejection};

/// Largest read buffer of a connection, which bounds a request head: a client cannot make
/// the server hold more than this per connection before its head is complete (hyper answers
/// 431 beyond it).
const MAX_BUFFER_BYTES: usize = 64 * 1024;

/// Everything a connection task needs besides its socket.
#[derive(Debug, Clone)]
pub(super) struct Shared {
    pub(super) router: Router,
    pub(super) limits: Arc<Limits>,
    pub(super) stop: watch::Receiver<bool>,
}

/// Serves `stream` until the client closes it, a deadline expires, or shutdown finds it
/// without a request to finish. `permit` is its slot under the connection cap.
pub(super) async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    shared: Shared,
    permit: OwnedSemaphorePermit,
) {
    let _permit = permit;
    let _open = OpenConnection::open();
    let Shared {
        router,
        limits,
        mut stop,
    } = shared;
    let activity = Arc::new(Activity::new(Instant::now()));
    let io = TokioIo::new(TimedIo::new(stream, activity.clone(), limits.write_timeout));
    let service = RequestService {
        router,
        remote,
        activity: activity.clone(),
    };
    let mut builder = http1::Builder::new();
    builder.max_buf_size(MAX_BUFFER_BYTES);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        // A connection still receiving a head has nothing in progress to finish; hyper's own
        // graceful shutdown would wait for the head (or its timeout), delaying the exit.
        if stopping && activity.reading_head() {
            return;
        }
        let deadline = activity.deadline(&limits.phases);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    if err.is_parse() || err.is_parse_too_large() {
                        Rejection::Malformed.count();
                    }
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            () = sleep_until(deadline.map(|(at, _)| at)) => {
                // The phase may have moved the deadline since the sleep began.
                if let Some((at, why)) = activity.deadline(&limits.phases)
                    && at <= Instant::now()
                {
                    why.count();
                    tracing::debug!(reason = ?why, "closing a connection");
                    return;
                }
            }
            () = activity.changed() => {}
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                // Idle connections close now; busy ones after their response.
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The router as a hyper service for one connection: adds the peer address (for
/// `ConnectInfo`) and marks the connection busy until the response body is written.
#[derive(Debug, Clone)]
struct RequestService {
    router: Router,
    remote: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for RequestService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let busy = self.activity.begin_request();
        let mut request: Request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(self.remote));
        let handled = self.router.clone().oneshot(request);
        Box::pin(async move {
            let response = handled.await?;
            // hyper drops the body once it is written: the guard goes with it.
            Ok(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _busy = &busy;
                    frame
                }))
            }))
        })
    }
}
