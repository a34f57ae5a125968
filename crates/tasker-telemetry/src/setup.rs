//! The global subscriber: the log layer, filtered by `[logging] level`, and (when tracing is
//! on) the OpenTelemetry layer, which sees only the spans of [`SPAN_TARGET`].
//!
//! Tracing is on when `telemetry.otlp_endpoint` is set (spans are exported) or the log format
//! is JSON (spans get ids for the `trace_id`/`span_id` of log lines, and nothing is exported).
//! Otherwise the spans of [`SPAN_TARGET`] are switched off for every layer, which disables
//! them at their call sites.

use tasker_config::{LogFormat, LoggingConfig, SPAN_TARGET, TelemetryConfig};
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::export::{TracerSetup, tracer_provider};
use crate::json_lines::JsonLines;

/// The installed tracing pipeline; [`Telemetry::shutdown`] exports what is still queued.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    tracer: Option<TracerSetup>,
}

impl Telemetry {
    /// Whether spans are exported to an OTLP endpoint.
    pub fn exporting(&self) -> bool {
        self.tracer.as_ref().is_some_and(|t| t.exporting)
    }

    /// Exports the spans still queued and stops the exporter (bounded by its timeout). Called
    /// once the process has stopped serving.
    pub fn shutdown(&self) {
        if let Some(tracer) = &self.tracer {
            tracer.shutdown();
        }
    }
}

/// Installs the global subscriber for `service` (`tasker-server`, `tasker-worker`). `RUST_LOG`
/// is not consulted: `[logging] level` is the single source. Fails when the level is not a
/// valid filter or the exporter cannot be built. A second call in one process (tests start
/// several servers) keeps the first subscriber and exports nothing itself.
pub fn init(
    service: &str,
    logging: &LoggingConfig,
    telemetry: &TelemetryConfig,
) -> Result<Telemetry, String> {
    EnvFilter::try_new(&logging.level).map_err(|e| format!("`logging.level`: {e}"))?;
    let endpoint = telemetry.traces_url();
    let traced = endpoint.is_some() || logging.format == LogFormat::Json;
    let spans = if traced { "info" } else { "off" };
    let filter = EnvFilter::try_new(format!("{},{SPAN_TARGET}={spans}", logging.level))
        .map_err(|e| format!("`logging.level`: {e}"))?;
    let json = JsonLines::default();
    let log_layer = match logging.format {
        LogFormat::Text => fmt::layer().with_writer(std::io::stderr).boxed(),
        LogFormat::Json => fmt::layer()
            .with_writer(std::io::stderr)
            .fmt_fields(JsonFields::new())
            .event_format(json.clone())
            .boxed(),
    };
    let tracer = if traced {
        Some(tracer_provider(service, endpoint)?)
    } else {
        None
    };
    let otel_layer = tracer.as_ref().map(|setup| {
        tracing_opentelemetry::layer()
            .with_tracer(setup.tracer())
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_target(false)
            .with_filter(filter_fn(|meta| {
                meta.is_span() && meta.target() == SPAN_TARGET
            }))
    });
    // `[logging] level` filters the whole subscriber, not only the log layer: with the
    // EnvFilter as a per-layer filter of the log layer beside the OpenTelemetry layer's own
    // filter, request and step spans of a server on PostgreSQL were never closed (so never
    // exported), which a global filter does not do. The OpenTelemetry layer still sees only
    // the spans of SPAN_TARGET.
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(log_layer)
        .with(otel_layer);
    let dispatch = tracing::Dispatch::new(subscriber);
    let _ = json.dispatch.set(dispatch.downgrade());
    // `try_init` also forwards `log` records of dependencies into the subscriber.
    if dispatch.try_init().is_err() {
        if let Some(tracer) = &tracer {
            tracer.shutdown();
        }
        return Ok(Telemetry::default());
    }
    Ok(Telemetry { tracer })
}
