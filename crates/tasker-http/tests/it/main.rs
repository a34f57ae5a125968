//! Integration tests of serving: in-process servers on loopback port 0 driven by raw TCP
//! clients, so slow, idle and never-reading clients can be played exactly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod connections;
mod request_metrics;
mod shutdown;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::routing::get;
use tasker_config::WebConfig;
use tasker_http::{apply_layers, metrics_handle, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// Only guards against a hang: an expected close or answer that has not come by then never
/// will. No test measures time with it.
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(20);

/// Size of `GET /big`: more than loopback socket buffers hold, so a client that does not
/// read stalls the server's writes.
pub(crate) const BIG_BODY_BYTES: usize = 32 << 20;

/// A server running in this process.
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<std::io::Result<()>>,
    /// `GET /wait` signals `entered`, then answers once `release` is notified.
    pub entered: Arc<Notify>,
    pub release: Arc<Notify>,
}

impl TestServer {
    /// Starts a server with `web`'s limits and routes `/ok`, `/things/{id}` (404), `/wait`,
    /// `/big` and `/metrics`, behind the production middleware stack.
    pub async fn start(web: WebConfig) -> Self {
        let metrics = metrics_handle();
        let entered = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let (wait_entered, wait_release) = (entered.clone(), release.clone());
        let router = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route(
                "/things/{id}",
                get(|| async { (StatusCode::NOT_FOUND, "no such thing") }),
            )
            .route(
                "/wait",
                get(move || async move {
                    wait_entered.notify_one();
                    wait_release.notified().await;
                    "released"
                }),
            )
            .route("/big", get(|| async { vec![b'x'; BIG_BODY_BYTES] }))
            .route("/metrics", get(move || async move { metrics.render() }));
        let router = apply_layers(router, HeaderName::from_static("x-api-key"), None, None);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(listener, router, &web, async {
                let _ = stopped.await;
            })
            .await
        });
        Self {
            addr,
            stop: Some(stop),
            task,
            entered,
            release,
        }
    }

    /// Starts the graceful shutdown.
    pub fn shut_down(&mut self) {
        let _ = self.stop.take().unwrap().send(());
    }

    pub async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }
}

/// `[web]` with every limit at its default except those `f` changes.
pub(crate) fn web(f: impl FnOnce(&mut WebConfig)) -> WebConfig {
    let mut web = WebConfig::default();
    f(&mut web);
    web
}

/// A GET request head.
pub(crate) fn get_request(path: &str, close: bool) -> String {
    let connection = if close { "close" } else { "keep-alive" };
    format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: {connection}\r\n\r\n")
}

/// Reads one response (head and `content-length` body) from a kept-alive connection.
pub(crate) async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = find(&bytes, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&bytes[..end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().unwrap())
                    })
                    .expect("a content-length");
                if bytes.len() >= end + 4 + length {
                    let status = head[9..12].parse().unwrap();
                    let body = String::from_utf8_lossy(&bytes[end + 4..end + 4 + length]);
                    return (status, body.to_string());
                }
            }
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "connection closed before a whole response: {bytes:?}"
            );
            bytes.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(HANG_GUARD, read)
        .await
        .expect("hang guard: no response")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One request on a new connection.
pub(crate) async fn get_once(server: &TestServer, path: &str) -> (u16, String) {
    let mut stream = server.connect().await;
    stream
        .write_all(get_request(path, true).as_bytes())
        .await
        .unwrap();
    read_response(&mut stream).await
}

/// Everything the server sends until it closes the connection; panics past the hang guard,
/// that is when the server keeps the connection open.
pub(crate) async fn read_until_closed(stream: &mut TcpStream, what: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            }
        }
    };
    if tokio::time::timeout(HANG_GUARD, read).await.is_err() {
        panic!("hang guard: the server never closed {what}");
    }
    bytes
}

/// The value of one sample in Prometheus text, 0 when absent.
pub(crate) fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// The rejected-connection counter for `reason`, from this process's recorder.
pub(crate) fn rejected(reason: &str) -> f64 {
    sample(
        &metrics_handle().render(),
        &format!("tasker_http_connections_rejected_total{{reason=\"{reason}\"}}"),
    )
}
