//! The OpenTelemetry pipeline: a tracer provider with the process's resource (`service.name`
//! per role, `service.version`, `service.instance.id`), and, when an endpoint is configured,
//! an OTLP/HTTP (protobuf) exporter behind a batch span processor. Claims that found nothing
//! (a polling worker's idle rounds) are dropped before export.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, SpanData, SpanProcessor, Tracer,
};

/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// A built provider and whether it exports.
#[derive(Debug, Clone)]
pub(crate) struct TracerSetup {
    provider: SdkTracerProvider,
    pub(crate) exporting: bool,
}

impl TracerSetup {
    pub(crate) fn tracer(&self) -> Tracer {
        self.provider.tracer("tasker")
    }

    pub(crate) fn shutdown(&self) {
        let _ = self.provider.force_flush();
        let _ = self.provider.shutdown();
    }
}

/// The provider for `service`; spans go to `traces_url` when it is set.
pub(crate) fn tracer_provider(
    service: &str,
    traces_url: Option<String>,
) -> Result<TracerSetup, String> {
    let resource = Resource::builder_empty()
        .with_service_name(service.to_owned())
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
        ])
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let exporting = traces_url.is_some();
    if let Some(url) = traces_url {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url)
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("`telemetry.otlp_endpoint`: cannot start the exporter: {e}"))?;
        builder = builder.with_span_processor(SkipIdleClaims(
            BatchSpanProcessor::builder(exporter).build(),
        ));
    }
    Ok(TracerSetup {
        provider: builder.build(),
        exporting,
    })
}

/// Forwards every ended span except those recording `claimed = 0`.
#[derive(Debug)]
struct SkipIdleClaims<P>(P);

impl<P: SpanProcessor> SpanProcessor for SkipIdleClaims<P> {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &opentelemetry::Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        let idle = span
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "claimed" && kv.value.as_str() == "0");
        if !idle {
            self.0.on_end(span);
        }
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}
