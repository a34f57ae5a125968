//! Loopback network fixtures: a port nothing listens on, and a real JWKS endpoint whose
//! document, status and latency the test controls and which counts its fetches. The key server
//! runs on a thread and runtime of its own, so synchronous and asynchronous tests use it alike.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::fixtures::jwks_document;

/// A loopback port that was free a moment ago and has no listener: connections to it are
/// refused.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `http://127.0.0.1:PORT` for a [`closed_port`].
pub fn closed_port_url() -> String {
    format!("http://127.0.0.1:{}", closed_port())
}

#[derive(Default)]
struct Shared {
    body: Mutex<Vec<u8>>,
    status: AtomicU16,
    delay_ms: AtomicU64,
    fetches: AtomicUsize,
}

/// A JWKS endpoint at `/jwks` on `127.0.0.1:0`; told to stop when dropped.
pub struct JwksServer {
    shared: Arc<Shared>,
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for JwksServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl JwksServer {
    /// Serves the fixture keys `kids` with status 200.
    pub fn start(kids: &[&str]) -> Self {
        let shared = Arc::new(Shared::default());
        shared.status.store(200, Ordering::SeqCst);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route("/jwks", get(handler))
            .with_state(shared.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let server = Self {
            shared,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        };
        server.serve_keys(kids);
        server
    }

    /// `http://ADDR/jwks`
    pub fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    /// Serves the fixture keys `kids` from now on.
    pub fn serve_keys(&self, kids: &[&str]) {
        self.serve_raw(jwks_document(kids).to_string().into_bytes());
    }

    /// Serves `body` as the document from now on.
    pub fn serve_raw(&self, body: Vec<u8>) {
        *self
            .shared
            .body
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = body;
    }

    /// Answers with `status` from now on.
    pub fn set_status(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Answers each fetch after `delay` from now on.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Fetches received so far (counted when they arrive).
    pub fn fetches(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Not joined: a graceful shutdown waits for open connections, and a test must not
        // hang on a client that keeps one.
        drop(self.thread.take());
    }
}

async fn handler(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    shared.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = StatusCode::from_u16(shared.status.load(Ordering::SeqCst))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = shared
        .body
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    (status, [("content-type", "application/json")], body)
}
