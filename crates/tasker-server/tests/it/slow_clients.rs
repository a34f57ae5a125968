//! Both binaries apply the `[web]` connection limits: slow heads are cut off, surplus
//! connections refused and counted, SIGTERM is not held up by slow clients, and request
//! metrics carry route templates.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tasker_testkit::{ServerProcess, TestConfig};

use crate::*;

/// Only guards against a hang; no test measures time with it.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// A request head cut short: the server waits for the rest.
const PARTIAL_HEAD: &[u8] = b"GET /health HTTP/1.1\r\nhost: test\r\nx-slow: a";

fn address(server: &ServerProcess) -> String {
    server.base_url.trim_start_matches("http://").to_owned()
}

/// Everything the server sends until it closes `stream`; panics when it keeps it open.
fn read_until_closed(stream: &mut TcpStream, what: &str) -> Vec<u8> {
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return bytes,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("hang guard: the server never closed {what}")
            }
            Err(_) => return bytes,
        }
    }
}

fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[test]
fn a_partial_head_is_cut_off_by_the_configured_header_timeout_on_both_binaries() {
    for (binary, role, _) in binaries() {
        let (server, _config) = start(binary, role, "[web]\nheader_read_timeout_ms = 200\n");
        let mut stream = TcpStream::connect(address(&server)).unwrap();
        stream.write_all(PARTIAL_HEAD).unwrap();
        let answer = read_until_closed(&mut stream, "a partial head");
        assert!(
            answer.is_empty(),
            "{role}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
}

#[tokio::test]
async fn connections_over_max_connections_are_refused_and_counted_on_metrics() {
    let (server, _config) = start(SERVER, "orchestration", "[web]\nmax_connections = 2\n");
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(address(&server)).unwrap())
        .collect();
    let mut extra = TcpStream::connect(address(&server)).unwrap();
    let answer = read_until_closed(&mut extra, "a connection over the cap");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503 "),
        "{answer}"
    );
    drop(held);
    // The server may still count the held connections for a moment after they close.
    let metrics = tokio::time::timeout(HANG_GUARD, async {
        loop {
            if let Ok(response) = Client::new().get(server.url("/metrics")).send().await
                && response.status() == StatusCode::OK
            {
                return response.text().await.unwrap();
            }
        }
    })
    .await
    .expect("hang guard: the server never served again");
    assert!(
        sample(
            &metrics,
            "tasker_http_connections_rejected_total{reason=\"max_connections\"}"
        ) >= 1.0,
        "{metrics}"
    );
    assert!(
        sample(&metrics, "tasker_http_open_connections") >= 1.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn request_metrics_carry_the_route_template_never_the_raw_path() {
    let (server, _config) = start(SERVER, "orchestration", "");
    let uuid = "6f1d2c3e-0000-4000-8000-00000000abcd";
    let response = get(&server, &format!("/v1/tasks/{uuid}"), &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = get(&server, &format!("/no/such/{uuid}"), &[]).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let metrics = get(&server, "/metrics", &[]).await.text().await.unwrap();
    assert_eq!(
        sample(
            &metrics,
            "tasker_http_requests_total{route=\"/v1/tasks/{task_uuid}\",status=\"404\"}"
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "tasker_http_requests_total{route=\"unmatched\",status=\"404\"}"
        ),
        1.0,
        "{metrics}"
    );
    assert!(
        !metrics.contains(uuid),
        "a raw path became a label: {metrics}"
    );
}

#[test]
fn sigterm_with_slow_header_connections_open_exits_promptly_on_both_binaries() {
    for (binary, role, _) in binaries() {
        let config = TestConfig::new();
        config.write(
            &format!("base/{role}.toml"),
            "[web]\nheader_read_timeout_ms = 3600000\nidle_timeout_seconds = 86400\n",
        );
        let log = config.root().join("stderr.log");
        let mut child = Command::new(binary)
            .arg("--config-root")
            .arg(config.root())
            .env_remove("TASKER_ENV")
            .env_remove("TASKER_CONFIG_PATH")
            .env_remove("DATABASE_URL")
            .env("TASKER_WEB_BIND_ADDRESS", "127.0.0.1:0")
            .current_dir(config.root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some((_, url)) = line.split_once(" listening on http://") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let address = rx
            .recv_timeout(HANG_GUARD)
            .unwrap_or_else(|_| panic!("{role} did not start: {}", read(&log)));
        let mut slow: Vec<TcpStream> = (0..5)
            .map(|_| {
                let mut stream = TcpStream::connect(&address).unwrap();
                stream.write_all(PARTIAL_HEAD).unwrap();
                stream
            })
            .collect();
        // A request on its own connection proves the slow ones are accepted and being read.
        let mut probe = TcpStream::connect(&address).unwrap();
        probe
            .write_all(b"GET /health/live HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
            .unwrap();
        let answer = read_until_closed(&mut probe, "a health request");
        assert!(answer.starts_with(b"HTTP/1.1 200 "), "{role}");

        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let pid = child.id().to_string();
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done_tx.send(child.wait());
        });
        let exit = match done_rx.recv_timeout(HANG_GUARD) {
            Ok(exit) => exit.unwrap(),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!(
                    "hang guard: {role} did not exit after SIGTERM: {}",
                    read(&log)
                )
            }
        };
        assert_eq!(exit.code(), Some(0), "{role}: {}", read(&log));
        for stream in &mut slow {
            let answer = read_until_closed(stream, "a slow-header connection at exit");
            assert!(answer.is_empty(), "{role}");
        }
        let logs = read(&log);
        assert!(logs.contains("shutdown signal received"), "{role}: {logs}");
        assert!(logs.contains("open-file limit"), "{role}: {logs}");
    }
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
