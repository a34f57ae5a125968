//! Logging and tracing for the Tasker processes: [`init`] installs the global subscriber from
//! `[logging]` and `[telemetry]` (text or JSON log lines on stderr, and, when
//! `telemetry.otlp_endpoint` is set, OpenTelemetry spans exported over OTLP/HTTP by a batch
//! processor); [`current_traceparent`] and [`set_parent`] carry W3C trace context across
//! processes (HTTP headers, the task row, a program's environment).
//!
//! Only spans with the target [`tasker_config::SPAN_TARGET`] are exported. With no endpoint
//! (and text logs) no OpenTelemetry layer is installed and those spans are disabled at their
//! call sites, so they cost what a disabled `tracing` span costs.

mod export;
mod json_lines;
mod propagation;
mod setup;

pub use propagation::{current_traceparent, set_parent};
pub use setup::{Telemetry, init};
