//! JSON log lines: one object per event with `timestamp`, `level`, `target`, `fields`, the
//! spans it was logged in (outermost first, each with its fields), and, inside a traced span,
//! `trace_id` and `span_id` of the innermost one, as OpenTelemetry exports them.

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt;

use serde_json::{Map, Value};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event format of `[logging] format = "json"`. `dispatch` is the subscriber the format
/// belongs to, set once it is built: span ids are read through it.
#[derive(Clone, Default)]
pub(crate) struct JsonLines {
    pub(crate) dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        line.insert("fields".into(), Value::Object(fields));
        if let Some(scope) = ctx.event_scope() {
            let mut spans = Vec::new();
            let mut ids = None;
            let dispatch = self.dispatch.get().and_then(WeakDispatch::upgrade);
            for span in scope {
                if ids.is_none()
                    && let Some(dispatch) = &dispatch
                {
                    ids = traced_ids(&span.id(), dispatch);
                }
                let mut entry = Map::new();
                entry.insert("name".into(), span.name().into());
                let extensions = span.extensions();
                if let Some(Value::Object(recorded)) = extensions
                    .get::<FormattedFields<JsonFields>>()
                    .and_then(|f| serde_json::from_str::<Value>(f.fields.as_str()).ok())
                {
                    entry.extend(recorded);
                }
                spans.push(Value::Object(entry));
            }
            spans.reverse();
            if !spans.is_empty() {
                line.insert("spans".into(), Value::Array(spans));
            }
            if let Some((trace_id, span_id)) = ids {
                line.insert("trace_id".into(), trace_id.into());
                line.insert("span_id".into(), span_id.into());
            }
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Trace and span id (lowercase hex) of a span OpenTelemetry traces; `None` for other spans.
fn traced_ids(id: &tracing::span::Id, dispatch: &Dispatch) -> Option<(String, String)> {
    let context = tracing_opentelemetry::get_otel_context(id, dispatch)?;
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| {
        (
            span_context.trace_id().to_string(),
            span_context.span_id().to_string(),
        )
    })
}

/// Collects an event's fields as JSON values.
struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_inside_a_traced_span_carry_its_ids() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let setup = crate::export::tracer_provider("test", None).unwrap();
        let format = JsonLines::default();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || writer.clone())
                    .fmt_fields(JsonFields::new())
                    .event_format(format.clone()),
            )
            .with(tracing_opentelemetry::layer().with_tracer(setup.tracer()));
        let dispatch = Dispatch::new(subscriber);
        format.dispatch.set(dispatch.downgrade()).unwrap();
        let traceparent = tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!("outside");
            let span = tracing::info_span!("request", route = "/v1/tasks");
            crate::set_parent(
                &span,
                Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            );
            let _entered = span.enter();
            tracing::warn!(count = 3, ok = true, "inside");
            crate::current_traceparent().unwrap()
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["fields"]["message"], "outside");
        assert!(lines[0].get("trace_id").is_none(), "{}", lines[0]);
        assert!(lines[0].get("spans").is_none(), "{}", lines[0]);
        let inside = &lines[1];
        assert_eq!(inside["level"], "WARN");
        assert_eq!(inside["fields"]["message"], "inside");
        assert_eq!(inside["fields"]["count"], 3);
        assert_eq!(inside["fields"]["ok"], true);
        assert_eq!(inside["spans"][0]["name"], "request");
        assert_eq!(inside["spans"][0]["route"], "/v1/tasks");
        assert_eq!(inside["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        let span_id = traceparent.split('-').nth(2).unwrap();
        assert_eq!(inside["span_id"], span_id);
        assert!(inside["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
