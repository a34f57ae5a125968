//! `[web.auth]` and `[[web.auth.api_keys]]`, with the seed's defaults.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// How bearer tokens are verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMethod {
    /// A static RSA public key (`jwt_public_key_path` or `jwt_public_key`).
    #[default]
    PublicKey,
    /// Keys fetched from `jwks_url`, refreshed for rotation.
    Jwks,
}

/// `[web.auth]`. Defaults are those of the configuration reference.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Master switch; false leaves every route open.
    pub enabled: bool,
    /// Required `iss` claim.
    pub jwt_issuer: String,
    /// Required member of the `aud` claim.
    pub jwt_audience: String,
    /// Lifetime of tokens minted by the CLI and client.
    pub jwt_token_expiry_hours: u64,
    /// `public_key` or `jwks`.
    pub jwt_verification_method: VerificationMethod,
    /// PEM file of the RSA public key; takes precedence over `jwt_public_key`.
    pub jwt_public_key_path: String,
    /// Inline PEM public key.
    pub jwt_public_key: String,
    /// PEM public key files still accepted during a static key rotation (at most four, so at
    /// most five keys in all).
    pub jwt_previous_public_key_paths: Vec<String>,
    /// Inline PEM private key, used only to mint tokens.
    pub jwt_private_key: Secret,
    /// File holding the private key (read into `jwt_private_key` at load).
    pub jwt_private_key_file: Option<PathBuf>,
    /// JWKS endpoint.
    pub jwks_url: String,
    /// Periodic key-set refresh.
    pub jwks_refresh_interval_seconds: u64,
    /// Shortest time between two refreshes caused by unknown `kid`s.
    pub jwks_min_refresh_interval_seconds: u64,
    /// Timeout of one JWKS fetch.
    pub jwks_fetch_timeout_seconds: u64,
    /// Claim holding the permissions (dotted path into nested objects allowed).
    pub permissions_claim: String,
    /// Reject credentials carrying unrecognized permission strings.
    pub strict_validation: bool,
    /// Log unrecognized permissions even when not strict.
    pub log_unknown_permissions: bool,
    /// Header carrying API keys.
    pub api_key_header: String,
    /// Multi-key registry switch; `None` when not written (then: on iff keys exist).
    pub api_keys_enabled: Option<bool>,
    /// JWS algorithms accepted (asymmetric only).
    pub jwt_allowed_algorithms: Vec<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub jwt_leeway_seconds: u64,
    /// Longest accepted `exp - iat` of a token; 0 means no limit (then `iat` is optional).
    pub jwt_max_lifetime_seconds: u64,
    /// `[[web.auth.api_keys]]`
    pub api_keys: Vec<ApiKeyConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            jwt_issuer: "tasker-core".to_owned(),
            jwt_audience: "tasker-api".to_owned(),
            jwt_token_expiry_hours: 24,
            jwt_verification_method: VerificationMethod::PublicKey,
            jwt_public_key_path: String::new(),
            jwt_public_key: String::new(),
            jwt_previous_public_key_paths: Vec::new(),
            jwt_private_key: Secret::default(),
            jwt_private_key_file: None,
            jwks_url: String::new(),
            jwks_refresh_interval_seconds: 3600,
            jwks_min_refresh_interval_seconds: 30,
            jwks_fetch_timeout_seconds: 5,
            permissions_claim: "permissions".to_owned(),
            strict_validation: true,
            log_unknown_permissions: true,
            api_key_header: "X-API-Key".to_owned(),
            api_keys_enabled: None,
            jwt_allowed_algorithms: vec!["RS256".to_owned()],
            jwt_leeway_seconds: 60,
            jwt_max_lifetime_seconds: 0,
            api_keys: Vec::new(),
        }
    }
}

/// Most verification keys a static-key configuration holds: the current key and up to four
/// previous ones. A token without `kid` is tried against each.
pub const MAX_STATIC_KEYS: usize = 5;

impl AuthConfig {
    /// Whether the API key registry is consulted: as written, or, when `api_keys_enabled` is
    /// not written, whenever keys are configured.
    pub fn api_key_registry_active(&self) -> bool {
        self.api_keys_enabled.unwrap_or(!self.api_keys.is_empty())
    }
}

/// One `[[web.auth.api_keys]]` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The key in plaintext (hashed at load by the auth layer).
    pub key: Option<Secret>,
    /// `sha256:<hex>` of the key, instead of `key`.
    pub key_hash: Option<Secret>,
    /// File holding the key (read into `key` at load).
    pub key_file: Option<PathBuf>,
    /// Permissions (`resource:action`, `resource:*` or `*`).
    pub permissions: Vec<String>,
    /// Names the key in logs and audit records.
    pub description: String,
    /// RFC 3339 instant after which the key is refused.
    pub expires_at: Option<String>,
}

impl ApiKeyConfig {
    /// How the entry is named in messages: its description, never the key.
    pub fn label(&self, index: usize) -> String {
        if self.description.trim().is_empty() {
            format!("api_keys[{index}] (no description)")
        } else {
            format!("api_keys[{index}] \"{}\"", self.description)
        }
    }
}
