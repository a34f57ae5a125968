//! A real JWKS endpoint on 127.0.0.1:0 whose document, status and latency tests control, and
//! which counts fetches.
// Kept for the reload tests (`start_on` a fixed address); the testkit server covers the rest.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use parking_lot::Mutex;
use serde_json::{Value, json};

#[derive(Default)]
struct Shared {
    body: Mutex<Vec<u8>>,
    status: AtomicU16,
    delay_ms: AtomicU64,
    fetches: AtomicUsize,
}

/// The key server; stopped when dropped.
pub struct JwksServer {
    shared: Arc<Shared>,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

/// JWKs of the fixture keys by kid.
pub fn fixture_jwk(kid: &str) -> Value {
    let all: Value = serde_json::from_str(&tasker_testkit::fixture_text("jwks-keys.json")).unwrap();
    all[kid].clone()
}

impl JwksServer {
    pub async fn start(kids: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), kids).await
    }

    pub async fn start_on(addr: SocketAddr, kids: &[&str]) -> Self {
        let shared = Arc::new(Shared::default());
        shared.status.store(200, Ordering::SeqCst);
        let server = Self {
            shared: shared.clone(),
            addr,
            task: tokio::spawn(async {}),
        };
        server.serve_keys(kids);
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/jwks", get(handler))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { shared, addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    pub fn serve_keys(&self, kids: &[&str]) {
        let keys: Vec<Value> = kids.iter().map(|k| fixture_jwk(k)).collect();
        self.serve_raw(json!({ "keys": keys }).to_string().into_bytes());
    }

    pub fn serve_raw(&self, body: Vec<u8>) {
        *self.shared.body.lock() = body;
    }

    pub fn set_status(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    pub fn set_delay(&self, delay: Duration) {
        self.shared
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn fetches(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handler(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    shared.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = shared.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = StatusCode::from_u16(shared.status.load(Ordering::SeqCst)).unwrap();
    let body = shared.body.lock().clone();
    (status, [("content-type", "application/json")], body)
}
