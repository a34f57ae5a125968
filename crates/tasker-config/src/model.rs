//! The typed configuration model of both roles. Every struct denies unknown keys and has the
//! documented defaults, so any layer (or none) deserializes on its own.

mod auth;
pub(crate) mod engine;
mod telemetry;

use serde::{Deserialize, Serialize};

pub use auth::{ApiKeyConfig, AuthConfig, MAX_STATIC_KEYS, VerificationMethod};
pub use engine::{
    BackoffConfig, DatabaseConfig, DlqConfig, EngineConfig, LogFormat, LoggingConfig,
    MAX_CANCEL_GRACE_SECONDS, MAX_PREFETCH, MAX_STEP_LOG_BYTES, OrchestrationSection,
    StalenessConfig, TemplatesConfig, WorkerSection,
};
pub use telemetry::{SPAN_TARGET, TelemetryConfig};

/// Which process a configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// `tasker-server`: `orchestration.toml`.
    Orchestration,
    /// `tasker-worker`: `worker.toml`.
    Worker,
}

impl Role {
    /// File stem of the role's files (`orchestration` / `worker`).
    pub fn file_stem(self) -> &'static str {
        match self {
            Role::Orchestration => "orchestration",
            Role::Worker => "worker",
        }
    }

    /// Listen address used when `web.bind_address` is not set.
    pub fn default_bind_address(self) -> &'static str {
        match self {
            Role::Orchestration => "127.0.0.1:8080",
            Role::Worker => "127.0.0.1:8081",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.file_stem())
    }
}

/// `[web]` of either role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Listen address; the role's default when unset.
    pub bind_address: Option<String>,
    /// Whether `GET /config` is registered (default false: 404).
    pub config_endpoint_enabled: bool,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: Option<usize>,
    /// Per-request timeout in seconds.
    pub request_timeout_seconds: Option<u64>,
    /// Time a client has to send a complete request head, from its first byte (or from the
    /// connection's opening for its first request), in milliseconds.
    pub header_read_timeout_ms: u64,
    /// Time a keep-alive connection may wait between requests before it is closed.
    pub idle_timeout_seconds: u64,
    /// Time a response write may make no progress (a peer that never reads) before the
    /// connection is closed.
    pub write_timeout_seconds: u64,
    /// Most connections served at once; more are accepted and closed at once. Lowered at start
    /// to what the open-file limit allows.
    pub max_connections: usize,
    /// `[web.auth]`.
    pub auth: AuthConfig,
    /// `[web.ui]`: the operator console of `tasker-server`.
    pub ui: UiConfig,
}

/// `[web.ui]`: the web console served at `/ui/` by `tasker-server` (ignored by the worker).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// Whether the console is served (default true).
    pub enabled: bool,
    /// Longest console session in hours; a session also ends when its credential expires.
    pub session_hours: u64,
    /// OIDC sign-in: the identity provider's issuer URL (its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`). OIDC sign-in is offered when this,
    /// `oidc_client_id` and `oidc_redirect_url` are all set.
    pub oidc_issuer: String,
    /// OIDC sign-in: the console's client id at the provider (a public client: no secret,
    /// PKCE S256).
    pub oidc_client_id: String,
    /// OIDC sign-in: the console's callback as the browser reaches it, ending in
    /// `/ui/oidc/callback` (registered at the provider).
    pub oidc_redirect_url: String,
    /// OIDC sign-in: the scopes asked for, separated by spaces; must include `openid`.
    pub oidc_scopes: String,
}

impl UiConfig {
    /// Whether OIDC sign-in is configured (issuer, client id and redirect URL all set).
    pub fn oidc_enabled(&self) -> bool {
        !self.oidc_issuer.trim().is_empty()
            && !self.oidc_client_id.trim().is_empty()
            && !self.oidc_redirect_url.trim().is_empty()
    }
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            session_hours: 12,
            oidc_issuer: String::new(),
            oidc_client_id: String::new(),
            oidc_redirect_url: String::new(),
            oidc_scopes: "openid".to_owned(),
        }
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            bind_address: None,
            config_endpoint_enabled: false,
            max_body_bytes: None,
            request_timeout_seconds: None,
            header_read_timeout_ms: 10_000,
            idle_timeout_seconds: 60,
            write_timeout_seconds: 30,
            max_connections: 1024,
            auth: AuthConfig::default(),
            ui: UiConfig::default(),
        }
    }
}

impl WebConfig {
    /// The listen address (set by the loader to the role default when absent).
    pub fn bind_address(&self) -> &str {
        self.bind_address.as_deref().unwrap_or("127.0.0.1:8080")
    }
}

/// The sections a `common.toml` layer may contain.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommonLayer {
    /// `[database]`
    pub database: DatabaseConfig,
    /// `[engine]`
    pub engine: EngineConfig,
    /// `[backoff]`
    pub backoff: BackoffConfig,
    /// `[templates]`
    pub templates: TemplatesConfig,
    /// `[logging]`
    pub logging: LoggingConfig,
    /// `[telemetry]`
    pub telemetry: TelemetryConfig,
}

/// Effective configuration of `tasker-server`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrchestrationConfig {
    /// `[database]`
    pub database: DatabaseConfig,
    /// `[engine]`
    pub engine: EngineConfig,
    /// `[backoff]`
    pub backoff: BackoffConfig,
    /// `[templates]`
    pub templates: TemplatesConfig,
    /// `[logging]`
    pub logging: LoggingConfig,
    /// `[telemetry]`
    pub telemetry: TelemetryConfig,
    /// `[web]` and `[web.auth]`
    pub web: WebConfig,
    /// `[orchestration]`
    pub orchestration: OrchestrationSection,
    /// `[dlq]`
    pub dlq: DlqConfig,
    /// `[worker]`: settings of the embedded worker.
    pub worker: WorkerSection,
}

/// Effective configuration of `tasker-worker`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// `[database]`
    pub database: DatabaseConfig,
    /// `[engine]`
    pub engine: EngineConfig,
    /// `[backoff]`
    pub backoff: BackoffConfig,
    /// `[templates]`
    pub templates: TemplatesConfig,
    /// `[logging]`
    pub logging: LoggingConfig,
    /// `[telemetry]`
    pub telemetry: TelemetryConfig,
    /// `[web]` and `[web.auth]`
    pub web: WebConfig,
    /// `[worker]`
    pub worker: WorkerSection,
}
