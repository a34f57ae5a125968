//! Graceful shutdown: requests in progress finish; connections still sending a head or idle
//! between requests are closed at once instead of holding the exit.

use tokio::io::AsyncWriteExt;

use crate::*;

#[tokio::test]
async fn shutdown_closes_slow_and_idle_connections_at_once_and_finishes_requests_in_progress() {
    let mut server = TestServer::start(web(|w| {
        w.header_read_timeout_ms = 600_000;
        w.idle_timeout_seconds = 600;
    }))
    .await;
    let mut slow = Vec::new();
    for _ in 0..3 {
        let mut stream = server.connect().await;
        stream
            .write_all(b"GET /ok HTTP/1.1\r\nhost: test\r\nx-slow: a")
            .await
            .unwrap();
        slow.push(stream);
    }
    let mut idle = server.connect().await;
    idle.write_all(get_request("/ok", false).as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut idle).await, (200, "ok".into()));
    let mut waiting = server.connect().await;
    waiting
        .write_all(get_request("/wait", false).as_bytes())
        .await
        .unwrap();
    tokio::time::timeout(HANG_GUARD, server.entered.notified())
        .await
        .expect("hang guard: /wait never started");

    server.shut_down();

    for stream in &mut slow {
        let answer = read_until_closed(stream, "a slow-header connection at shutdown").await;
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }
    let answer = read_until_closed(&mut idle, "an idle connection at shutdown").await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    // The request in progress is still answered, then its connection closes.
    server.release.notify_one();
    assert_eq!(read_response(&mut waiting).await, (200, "released".into()));
    read_until_closed(&mut waiting, "the drained connection").await;
    let served = tokio::time::timeout(HANG_GUARD, &mut server.task)
        .await
        .expect("hang guard: serve never returned");
    served.unwrap().unwrap();
}
