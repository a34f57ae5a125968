//! The request-level decision: which credential a request carries (a bearer token decides
//! when present, else the API key header), whether it is valid, and whether it grants a
//! permission. Records the auth metrics and logs, never a credential.

use std::sync::Arc;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName};
use tasker_config::{AuthConfig, VerificationMethod};
use tasker_proto::Permission;

use crate::api_keys::ApiKeyRegistry;
use crate::error::{AuthError, FailureReason, SetupError};
use crate::jwks::JwksSource;
use crate::jwt::{JwtVerifier, VerifyError};
use crate::keys::{KeyStore, VerificationKey};
use crate::metrics;
use crate::principal::{AuthMethod, Principal};

/// Authenticates requests as `[web.auth]` says. Cheap to share behind an `Arc`.
pub struct Authenticator {
    enabled: bool,
    api_key_header: HeaderName,
    registry: Option<ApiKeyRegistry>,
    jwt: Option<JwtVerifier>,
    jwks: Option<Arc<JwksSource>>,
    anonymous: Arc<Principal>,
    summary: String,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Everything allowed, no credentials needed.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            api_key_header: HeaderName::from_static("x-api-key"),
            registry: None,
            jwt: None,
            jwks: None,
            anonymous: Arc::new(Principal::anonymous()),
            summary: "auth disabled: every route is open".to_owned(),
        }
    }

    /// Builds the authenticator from `[web.auth]`, loading the static key when that is the
    /// method. JWKS keys start unloaded and are filled by the caller's key refresher.
    pub fn from_config(auth: &AuthConfig) -> Result<Self, SetupError> {
        if !auth.enabled {
            return Ok(Self::disabled());
        }
        let api_key_header =
            HeaderName::from_bytes(auth.api_key_header.as_bytes()).map_err(|_| {
                SetupError::new("web.auth.api_key_header", "is not a valid HTTP header name")
            })?;
        let registry = if auth.api_key_registry_active() {
            Some(ApiKeyRegistry::from_config(&auth.api_keys)?)
        } else {
            None
        };
        let keys = match auth.jwt_verification_method {
            VerificationMethod::PublicKey => Arc::new(KeyStore::with_keys(vec![static_key(auth)?])),
            VerificationMethod::Jwks => Arc::new(KeyStore::unloaded()),
        };
        let jwks = match auth.jwt_verification_method {
            VerificationMethod::Jwks => Some(Arc::new(JwksSource::new(auth, keys.clone())?)),
            VerificationMethod::PublicKey => None,
        };
        let jwt = JwtVerifier::new(auth, keys)?;
        let method = match auth.jwt_verification_method {
            VerificationMethod::PublicKey => "public_key",
            VerificationMethod::Jwks => "jwks",
        };
        let summary = format!(
            "auth enabled: jwt via {method} ({}), issuer {:?}, audience {:?}, permissions claim {:?}, strict_validation {}; api keys: {}",
            auth.jwt_allowed_algorithms.join(","),
            auth.jwt_issuer,
            auth.jwt_audience,
            auth.permissions_claim,
            auth.strict_validation,
            match &registry {
                Some(r) => format!("{} in header {}", r.len(), auth.api_key_header),
                None => "registry off".to_owned(),
            }
        );
        Ok(Self {
            enabled: true,
            api_key_header,
            registry,
            jwt: Some(jwt),
            jwks,
            anonymous: Arc::new(Principal::anonymous()),
            summary,
        })
    }

    /// Whether credentials are required.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// One line describing the active auth (never a secret), for the startup log.
    pub fn summary(&self) -> &str {
        &self.summary
    }

    /// The JWT verifier, when auth is enabled.
    pub fn jwt(&self) -> Option<&JwtVerifier> {
        self.jwt.as_ref()
    }

    /// Starts background work (the JWKS loader and refresher). Call once, inside the Tokio
    /// runtime; does nothing for a static key.
    pub fn start_background(&self) {
        if let Some(jwks) = &self.jwks {
            tokio::spawn(jwks.clone().run());
        }
    }

    /// `Some((loaded, key count))` when keys come from a JWKS.
    pub fn jwks_status(&self) -> Option<(bool, usize)> {
        let keys = self.jwt.as_ref()?.keys();
        self.jwks
            .as_ref()
            .map(|_| (keys.is_loaded(), keys.snapshot().len()))
    }

    /// The header API keys are read from.
    pub fn api_key_header(&self) -> &HeaderName {
        &self.api_key_header
    }

    /// Authenticates and checks `permission`, recording metrics and logs.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        permission: Permission,
    ) -> Result<Arc<Principal>, AuthError> {
        let principal = self.authenticate(headers).await?;
        if principal.allows(permission) {
            return Ok(principal);
        }
        metrics::denial(permission);
        tracing::warn!(subject = %principal.subject, permission = permission.as_str(), "permission denied");
        Err(AuthError::Forbidden(permission))
    }

    /// Authenticates a request from its headers.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Principal>, AuthError> {
        if !self.enabled {
            return Ok(self.anonymous.clone());
        }
        let (method, result) = self.credential(headers).await;
        match &result {
            Ok(principal) => {
                metrics::success(principal.method);
                tracing::info!(subject = %principal.subject, method = principal.method.as_str(), "authenticated");
            }
            Err(err) => {
                let reason = err.reason().unwrap_or(FailureReason::Invalid);
                metrics::failure(method, reason);
                tracing::warn!(method, reason = reason.as_str(), message = %err, "authentication failed");
            }
        }
        result
    }

    async fn credential(
        &self,
        headers: &HeaderMap,
    ) -> (&'static str, Result<Arc<Principal>, AuthError>) {
        let mut authorization = headers.get_all(AUTHORIZATION).iter();
        if let Some(value) = authorization.next() {
            if authorization.next().is_some() {
                return ("jwt", Err(malformed("Multiple Authorization headers")));
            }
            let result = match bearer_token(value.as_bytes()) {
                Ok(token) => self.verify_bearer(token).await,
                Err(err) => Err(err),
            };
            return ("jwt", result);
        }
        let mut api_keys = headers.get_all(&self.api_key_header).iter();
        if let Some(value) = api_keys.next() {
            if api_keys.next().is_some() {
                return ("api_key", Err(malformed("Multiple API key headers")));
            }
            return ("api_key", self.verify_api_key(value.as_bytes()));
        }
        ("none", Err(AuthError::missing()))
    }

    async fn verify_bearer(&self, token: &str) -> Result<Arc<Principal>, AuthError> {
        let jwt = self.jwt.as_ref().ok_or_else(AuthError::missing)?;
        let seen = jwt.keys().snapshot().generation();
        match jwt.try_authenticate(token, now()) {
            Err(VerifyError::UnknownKid) => {
                if let Some(jwks) = &self.jwks
                    && jwks.refresh_for_unknown_kid(seen).await
                {
                    return jwt.authenticate(token, now());
                }
                Err(VerifyError::UnknownKid.into_auth())
            }
            other => other.map_err(VerifyError::into_auth),
        }
    }

    fn verify_api_key(&self, presented: &[u8]) -> Result<Arc<Principal>, AuthError> {
        let invalid = || AuthError::unauthorized(FailureReason::Invalid, "Invalid API key", false);
        let Some(registry) = &self.registry else {
            return Err(AuthError::unauthorized(
                FailureReason::Invalid,
                "API key authentication is not enabled",
                false,
            ));
        };
        let presented = trim_ascii(presented);
        if presented.is_empty() {
            return Err(malformed_key("Empty API key"));
        }
        let key = registry.find(presented).ok_or_else(invalid)?;
        if key.expires_at.is_some_and(|at| at <= now()) {
            return Err(AuthError::unauthorized(
                FailureReason::Expired,
                "API key has expired",
                false,
            ));
        }
        let permissions = match &self.jwt {
            Some(jwt) => jwt.check_permissions(key.permissions.clone(), &key.description)?,
            None => key.permissions.clone(),
        };
        Ok(Arc::new(Principal {
            subject: key.description.clone(),
            method: AuthMethod::ApiKey,
            permissions,
        }))
    }
}

fn static_key(auth: &AuthConfig) -> Result<VerificationKey, SetupError> {
    let (key, pem) = if !auth.jwt_public_key_path.is_empty() {
        let pem = tasker_config::read_bounded(&auth.jwt_public_key_path)
            .map_err(|e| SetupError::new("web.auth.jwt_public_key_path", e.to_string()))?;
        ("web.auth.jwt_public_key_path", pem)
    } else if !auth.jwt_public_key.trim().is_empty() {
        ("web.auth.jwt_public_key", auth.jwt_public_key.clone())
    } else {
        return Err(SetupError::new(
            "web.auth.jwt_public_key_path",
            "jwt_verification_method = \"public_key\" needs jwt_public_key_path or jwt_public_key",
        ));
    };
    VerificationKey::rsa_pem(&pem, None).map_err(|why| SetupError::new(key, why))
}

fn bearer_token(value: &[u8]) -> Result<&str, AuthError> {
    let text = std::str::from_utf8(value)
        .ok()
        .filter(|t| t.is_ascii())
        .ok_or_else(|| malformed("Malformed Authorization header"))?;
    let (scheme, token) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(malformed(
            "Unsupported Authorization scheme (expected Bearer)",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(malformed("Empty bearer token"));
    }
    Ok(token)
}

fn malformed(message: &str) -> AuthError {
    AuthError::unauthorized(FailureReason::Malformed, message, true)
}

fn malformed_key(message: &str) -> AuthError {
    AuthError::unauthorized(FailureReason::Malformed, message, false)
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
