//! `tasker_http_requests_total` is labelled with route templates, never raw paths.

use crate::*;

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    let server = TestServer::start(web(|_| {})).await;
    let id = "0f6c1d8e-4b7a-4c55-9d0e-51d2a1f6b001";
    let probe = "no-such-route-7c4f2b";
    let series = "tasker_http_requests_total{route=\"/things/{id}\",status=\"404\"}";
    let unmatched = "tasker_http_requests_total{route=\"unmatched\",status=\"404\"}";
    let before = get_once(&server, "/metrics").await.1;
    assert_eq!(
        get_once(&server, &format!("/things/{id}")).await,
        (404, "no such thing".into())
    );
    let (status, body) = get_once(&server, &format!("/{probe}/{id}")).await;
    assert_eq!(status, 404, "{body}");
    let (status, metrics) = get_once(&server, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        sample(&metrics, series) >= sample(&before, series) + 1.0,
        "{metrics}"
    );
    assert!(
        sample(&metrics, unmatched) >= sample(&before, unmatched) + 1.0,
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "tasker_http_requests_total{route=\"/metrics\",status=\"200\"}"
        ) >= 1.0,
        "{metrics}"
    );
    assert!(
        !metrics.contains(id),
        "a raw path became a label: {metrics}"
    );
    assert!(
        !metrics.contains(probe),
        "a raw path became a label: {metrics}"
    );
}
