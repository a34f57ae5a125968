//! Why a request was refused, and the one mapping of refusals to HTTP responses
//! (`401` with `WWW-Authenticate`, `403`, `503` with `Retry-After`).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tasker_proto::{ErrorBody, ErrorCode, Permission};

/// Failure categories, exported as the `reason` label of `tasker_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// No credentials at all.
    Missing,
    /// A header or token that cannot be parsed.
    Malformed,
    /// Bad signature, wrong issuer/audience, unknown key, bad API key.
    Invalid,
    /// An expired token or API key.
    Expired,
    /// Unrecognized permission strings under strict validation.
    UnknownPermissions,
    /// The JWKS has never been loaded.
    JwksUnavailable,
}

impl FailureReason {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Missing => "missing",
            FailureReason::Malformed => "malformed",
            FailureReason::Invalid => "invalid",
            FailureReason::Expired => "expired",
            FailureReason::UnknownPermissions => "unknown_permissions",
            FailureReason::JwksUnavailable => "jwks_unavailable",
        }
    }
}

/// A refused request. Messages never contain a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 401: credentials missing or not acceptable.
    #[error("{message}")]
    Unauthorized {
        /// Category for metrics.
        reason: FailureReason,
        /// Human-readable reason.
        message: String,
        /// Whether a bearer token was presented (adds `error="invalid_token"`).
        token_sent: bool,
    },
    /// 403: authenticated but lacking the permission.
    #[error("Missing required permission: {0}")]
    Forbidden(Permission),
    /// 503: the JWKS has not been loaded yet.
    #[error("{0}")]
    Unavailable(String),
}

impl AuthError {
    pub(crate) fn unauthorized(
        reason: FailureReason,
        message: impl Into<String>,
        token_sent: bool,
    ) -> Self {
        AuthError::Unauthorized {
            reason,
            message: message.into(),
            token_sent,
        }
    }

    pub(crate) fn missing() -> Self {
        Self::unauthorized(
            FailureReason::Missing,
            "Missing authentication credentials",
            false,
        )
    }

    /// The failure category (for metrics); `None` for 403.
    pub fn reason(&self) -> Option<FailureReason> {
        match self {
            AuthError::Unauthorized { reason, .. } => Some(*reason),
            AuthError::Forbidden(_) => None,
            AuthError::Unavailable(_) => Some(FailureReason::JwksUnavailable),
        }
    }
}

/// Seconds clients are asked to wait while the key set is unavailable.
const RETRY_AFTER_SECONDS: &str = "5";

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, code, challenge) = match &self {
            AuthError::Unauthorized { token_sent, .. } => (
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                Some(if *token_sent {
                    r#"Bearer realm="tasker", error="invalid_token""#
                } else {
                    r#"Bearer realm="tasker""#
                }),
            ),
            AuthError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                Some(r#"Bearer realm="tasker", error="insufficient_scope""#),
            ),
            AuthError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServiceUnavailable,
                None,
            ),
        };
        let mut response = (status, Json(ErrorBody::new(code, message))).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

/// An `[web.auth]` setting that cannot be used, found while building the authenticator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {reason}")]
pub struct SetupError {
    /// Dotted config key, e.g. `web.auth.jwt_public_key_path`.
    pub key: String,
    /// What is wrong (never the configured secret).
    pub reason: String,
}

impl SetupError {
    pub(crate) fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
