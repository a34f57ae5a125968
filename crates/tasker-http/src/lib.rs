//! HTTP scaffolding both Tasker servers share: the API error envelope and the JSON/path/query
//! extractors that use it, the public health and metrics routes, the opt-in `/config` route,
//! the middleware stack (request counting, the traced request span, request ids, body limit,
//! timeout, sensitive headers, tracing), logging and tracing setup (through
//! `tasker-telemetry`), serving with connection limits and graceful shutdown (a second SIGTERM
//! exits at once), and the SIGHUP reload of the auth state.

mod app;
mod boot;
mod common_routes;
mod error;
mod extract;
mod fd_limit;
mod http_metrics;
mod layers;
mod metrics_recorder;
mod openapi;
mod permissions;
mod reload;
mod request_span;
mod serve;
mod termination;

pub use app::{RoleApi, RoleProbes, assemble, listen, store_readiness};
pub use boot::{Booted, ConfigFlags, boot, run_server};
pub use common_routes::{CommonState, Readiness, common_routes};
pub use error::ApiError;
pub use extract::{ApiJson, ApiPath, ApiQuery};
pub use layers::apply_layers;
pub use metrics_recorder::metrics_handle;
pub use openapi::finish_openapi;
pub use permissions::required_permissions;
pub use serve::serve;
pub use tasker_telemetry::current_traceparent;
pub use termination::shutdown_signal;
