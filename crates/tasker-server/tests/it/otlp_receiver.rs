//! A real OTLP/HTTP trace receiver on a loopback port: it accepts `POST /v1/traces` with
//! protobuf bodies, decodes them with the official OpenTelemetry definitions
//! (`opentelemetry-proto`) and answers as a collector does. Tests read what arrived: the
//! number of requests, every span with its resource, and the raw bytes (for secret scans).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header::CONTENT_TYPE};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value as AnyValue};
use prost::Message;

/// One exported span, ids in lowercase hex.
#[derive(Debug, Clone)]
pub(crate) struct ExportedSpan {
    pub(crate) name: String,
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    /// Empty for a root span.
    pub(crate) parent_span_id: String,
    pub(crate) attributes: BTreeMap<String, String>,
    /// The resource of the process that exported it (`service.name`, ...).
    pub(crate) resource: BTreeMap<String, String>,
}

impl ExportedSpan {
    pub(crate) fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    pub(crate) fn service(&self) -> &str {
        self.resource.get("service.name").map_or("", String::as_str)
    }
}

#[derive(Debug, Default)]
struct Received {
    requests: usize,
    spans: Vec<ExportedSpan>,
    raw: Vec<u8>,
}

/// The running receiver; stops with the test's runtime.
#[derive(Debug, Clone)]
pub(crate) struct OtlpReceiver {
    received: Arc<Mutex<Received>>,
    /// `http://127.0.0.1:PORT`, the value for `telemetry.otlp_endpoint`.
    pub(crate) url: String,
}

impl OtlpReceiver {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Received::default()));
        let app = Router::new()
            .route("/v1/traces", post(export))
            .fallback(unexpected)
            .with_state(received.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { received, url }
    }

    /// Requests received, decodable or not, on any path.
    pub(crate) fn requests(&self) -> usize {
        self.received.lock().unwrap().requests
    }

    pub(crate) fn spans(&self) -> Vec<ExportedSpan> {
        self.received.lock().unwrap().spans.clone()
    }

    /// Every request body as received, concatenated.
    pub(crate) fn raw(&self) -> Vec<u8> {
        self.received.lock().unwrap().raw.clone()
    }
}

async fn unexpected(State(received): State<Arc<Mutex<Received>>>) -> StatusCode {
    received.lock().unwrap().requests += 1;
    StatusCode::NOT_FOUND
}

async fn export(
    State(received): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (
    StatusCode,
    [(axum::http::HeaderName, &'static str); 1],
    Vec<u8>,
) {
    let protobuf = [(CONTENT_TYPE, "application/x-protobuf")];
    let mut received = received.lock().unwrap();
    received.requests += 1;
    received.raw.extend_from_slice(&body);
    if headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some("application/x-protobuf") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, protobuf, Vec::new());
    }
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, protobuf, Vec::new());
    };
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.spans.push(ExportedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                    resource: resource.clone(),
                });
            }
        }
    }
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    (StatusCode::OK, protobuf, answer)
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
