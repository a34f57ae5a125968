//! Slow, idle and surplus connections are closed by the server and counted.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::*;

#[tokio::test]
async fn a_client_sending_its_head_byte_by_byte_is_closed_after_the_header_timeout() {
    let server = TestServer::start(web(|w| w.header_read_timeout_ms = 500)).await;
    let before = rejected("header_timeout");
    let mut stream = server.connect().await;
    stream
        .write_all(b"GET /ok HTTP/1.1\r\nx-slow: ")
        .await
        .unwrap();
    // One byte every 50 ms keeps the connection active; only the head's deadline ends it.
    let trickle = async {
        let mut chunk = [0u8; 64];
        loop {
            if stream.write_all(b"a").await.is_err() {
                return Vec::new();
            }
            match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut chunk)).await {
                Err(_elapsed) => continue,
                Ok(Ok(0) | Err(_)) => return Vec::new(),
                Ok(Ok(n)) => return chunk[..n].to_vec(),
            }
        }
    };
    let answer = tokio::time::timeout(HANG_GUARD, trickle)
        .await
        .expect("hang guard: the slow client was never disconnected");
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(rejected("header_timeout") > before);
    // The server is not harmed: a normal request still works.
    assert_eq!(get_once(&server, "/ok").await, (200, "ok".into()));
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let server = TestServer::start(web(|w| {
        w.idle_timeout_seconds = 1;
        w.header_read_timeout_ms = 60_000;
    }))
    .await;
    let before = rejected("idle_timeout");
    let mut stream = server.connect().await;
    stream
        .write_all(get_request("/ok", false).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream).await, (200, "ok".into()));
    let after = read_until_closed(&mut stream, "an idle connection").await;
    assert!(after.is_empty(), "{}", String::from_utf8_lossy(&after));
    assert!(rejected("idle_timeout") > before);
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_and_counted_and_the_server_recovers() {
    const CAP: usize = 3;
    const EXTRA: usize = 2;
    let server = TestServer::start(web(|w| {
        w.max_connections = CAP;
        w.header_read_timeout_ms = 60_000;
    }))
    .await;
    let before = rejected("max_connections");
    let mut held = Vec::new();
    for _ in 0..CAP {
        held.push(server.connect().await);
    }
    for extra in 0..EXTRA {
        let mut stream = server.connect().await;
        let answer = read_until_closed(&mut stream, "a connection over the cap").await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty()
                || (answer.starts_with("HTTP/1.1 503 ")
                    && answer.contains("retry-after: 1")
                    && answer.ends_with(r#"{"error":"service_unavailable","message":"Too many connections, retry later"}"#)),
            "extra connection {extra}: {answer}"
        );
    }
    assert!(rejected("max_connections") >= before + EXTRA as f64);
    // Connections within the cap are served.
    held[0]
        .write_all(get_request("/ok", false).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut held[0]).await, (200, "ok".into()));
    // Once the held connections are gone, new clients are served again: the first attempts
    // may still meet the cap while the server notices the closes.
    drop(held);
    let recovered = async {
        loop {
            let mut stream = server.connect().await;
            if stream
                .write_all(get_request("/metrics", true).as_bytes())
                .await
                .is_err()
            {
                continue;
            }
            let answer = read_until_closed(&mut stream, "a metrics request").await;
            let answer = String::from_utf8_lossy(&answer).to_string();
            if answer.starts_with("HTTP/1.1 200 ") {
                return answer;
            }
        }
    };
    let metrics = tokio::time::timeout(HANG_GUARD, recovered)
        .await
        .expect("hang guard: the server never served again");
    assert!(
        sample(
            &metrics,
            "tasker_http_connections_rejected_total{reason=\"max_connections\"}"
        ) >= before + EXTRA as f64,
        "{metrics}"
    );
    // This very request's connection is open while the metrics are rendered.
    assert!(
        sample(&metrics, "tasker_http_open_connections") >= 1.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn a_client_that_never_reads_its_response_is_closed_after_the_write_timeout() {
    let server = TestServer::start(web(|w| w.write_timeout_seconds = 1)).await;
    let before = rejected("write_timeout");
    // A small receive window, so the server's writes stall soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    stream
        .write_all(get_request("/big", false).as_bytes())
        .await
        .unwrap();
    let counted = async {
        while rejected("write_timeout") <= before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(HANG_GUARD, counted)
        .await
        .expect("hang guard: the stalled write was never timed out");
    // The response was cut short: the connection ends before the whole body arrived.
    let received = read_until_closed(&mut stream, "a connection that never reads").await;
    assert!(received.starts_with(b"HTTP/1.1 200 "));
    assert!(received.len() < BIG_BODY_BYTES, "{}", received.len());
}
