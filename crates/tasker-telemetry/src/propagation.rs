//! W3C trace context (`traceparent`) in and out of spans: read from an HTTP header or the
//! task row to parent a span, written into the task row and a program's environment.

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// One `traceparent` value seen as a carrier.
struct TraceParent<'a>(&'a str);

impl Extractor for TraceParent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

/// Makes the remote span named by `traceparent` the parent of `span`. A missing or malformed
/// value, or a disabled span, leaves the span as it is (a root, or the child of the current
/// span).
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(value) = traceparent else {
        return;
    };
    if span.is_disabled() {
        return;
    }
    let context = TraceContextPropagator::new().extract(&TraceParent(value.trim()));
    if context.span().span_context().is_valid() {
        let _ = span.set_parent(context);
    }
}

/// The current span's context as a `traceparent` value (`00-{trace}-{span}-{flags}`), or
/// `None` when no traced span is current.
pub fn current_traceparent() -> Option<String> {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let span_ref = context.span();
    let span_context = span_ref.span_context();
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    /// Runs `f` under a subscriber that gives spans OpenTelemetry ids (nothing exported).
    fn traced<T>(f: impl FnOnce() -> T) -> T {
        let setup = crate::export::tracer_provider("test", None).unwrap();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(setup.tracer()));
        tracing::subscriber::with_default(subscriber, f)
    }

    fn parts(traceparent: &str) -> Vec<String> {
        traceparent.split('-').map(str::to_owned).collect()
    }

    #[test]
    fn a_remote_parent_gives_its_trace_to_the_span_and_its_children() {
        let (outer, inner) = traced(|| {
            let span = tracing::info_span!("outer");
            set_parent(&span, Some(&format!("00-{TRACE}-00f067aa0ba902b7-01")));
            let _entered = span.enter();
            let outer = current_traceparent().unwrap();
            let child = tracing::info_span!("inner");
            let _child = child.enter();
            (outer, current_traceparent().unwrap())
        });
        let (outer, inner) = (parts(&outer), parts(&inner));
        assert_eq!(outer[0], "00");
        assert_eq!(outer[1], TRACE);
        assert_ne!(
            outer[2], "00f067aa0ba902b7",
            "the span's own id, not its parent's"
        );
        assert_eq!(outer[3], "01");
        assert_eq!(inner[1], TRACE);
        assert_ne!(inner[2], outer[2]);
    }

    #[test]
    fn malformed_or_missing_context_starts_a_new_trace() {
        for value in [None, Some("garbage"), Some("00-0000-1111-01"), Some("")] {
            let traceparent = traced(|| {
                let span = tracing::info_span!("root");
                set_parent(&span, value);
                let _entered = span.enter();
                current_traceparent().unwrap()
            });
            let parts = parts(&traceparent);
            assert_eq!(parts.len(), 4, "{traceparent}");
            assert_eq!(parts[1].len(), 32);
            assert_ne!(parts[1], TRACE);
        }
    }

    #[test]
    fn no_traced_span_means_no_context() {
        assert_eq!(current_traceparent(), None);
        let inside = tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            let span = tracing::info_span!("plain");
            let _entered = span.enter();
            current_traceparent()
        });
        assert_eq!(inside, None);
    }
}
