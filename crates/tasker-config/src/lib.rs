//! Tasker configuration: the layered TOML loader (base → environment → role), `${VAR}`
//! interpolation, the seed's environment overrides, the typed model for both roles, startup
//! validation, and the redacted view served by `/config` and `tasker-ctl config show`.

mod bounded;
mod error;
mod interpolate;
mod layers;
mod loader;
mod model;
mod redact;
mod secret;
mod validate;

pub use bounded::{FileReadError, MAX_FILE_BYTES, read_bounded, read_bounded_to};
pub use error::ConfigError;
pub use loader::{LoadOptions, Loaded, RoleConfig, load_merged_table};
pub use model::{
    ApiKeyConfig, AuthConfig, BackoffConfig, CommonLayer, DatabaseConfig, DlqConfig, EngineConfig,
    LogFormat, LoggingConfig, MAX_CANCEL_GRACE_SECONDS, MAX_PREFETCH, MAX_STATIC_KEYS,
    MAX_STEP_LOG_BYTES, OrchestrationConfig, OrchestrationSection, Role, SPAN_TARGET,
    StalenessConfig, TelemetryConfig, TemplatesConfig, UiConfig, VerificationMethod, WebConfig,
    WorkerConfig, WorkerSection,
};
pub use redact::{REDACTED, RedactedView, redacted_view};
pub use secret::{DatabaseUrl, Secret};
pub use tasker_proto::Env;
pub use validate::{ALLOWED_ALGORITHMS, check_jwks_url, check_web_url, parse_key_hash};
