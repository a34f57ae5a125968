//! The request-level decision: which credential a request carries (a bearer token decides
//! when present, else the API key header), whether it is valid, and whether it grants a
//! permission. Records the auth metrics and logs, never a credential.
//!
//! The state behind the decision (keys, API keys, permission rules, JWKS settings) is one
//! immutable value that [`Authenticator::reload`] replaces whole: each request decides with
//! the state it started with, and a new state applies from the next request on.

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tasker_config::{AuthConfig, MAX_STATIC_KEYS, SPAN_TARGET, VerificationMethod};
use tasker_proto::Permission;
use tracing::Instrument;

use crate::api_keys::ApiKeyRegistry;
use crate::error::{AuthError, FailureReason, SetupError};
use crate::jwks::JwksSource;
use crate::jwt::{JwtVerifier, VerifyError};
use crate::keys::{KeyStore, VerificationKey};
use crate::metrics;
use crate::principal::{AuthMethod, Principal};

/// Authenticates requests as `[web.auth]` says. Cheap to share behind an `Arc`; its state is
/// swapped atomically by [`Authenticator::reload`].
pub struct Authenticator {
    current: ArcSwap<AuthState>,
    background: parking_lot::Mutex<Background>,
}

/// The JWKS refresher of the current state, once background work has started.
#[derive(Default)]
struct Background {
    runtime: Option<tokio::runtime::Handle>,
    jwks_task: Option<tokio::task::AbortHandle>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("summary", &self.current.load().summary)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Everything allowed, no credentials needed.
    pub fn disabled() -> Self {
        Self::with_state(AuthState::disabled())
    }

    /// Builds the authenticator from `[web.auth]`, loading the static keys when that is the
    /// method. JWKS keys start unloaded and are filled by [`Authenticator::start_background`].
    pub fn from_config(auth: &AuthConfig) -> Result<Self, SetupError> {
        AuthState::from_config(auth).map(Self::with_state)
    }

    fn with_state(state: AuthState) -> Self {
        Self {
            current: ArcSwap::from_pointee(state),
            background: parking_lot::Mutex::new(Background::default()),
        }
    }

    /// Replaces the whole auth state with one built from `auth` (a reloaded configuration).
    /// Requests already past authentication keep the old state; the next ones use the new.
    /// On error nothing changes. `enabled` and `api_key_header` shape the served application
    /// (its layers and OpenAPI document), so changing them needs a restart and is refused.
    /// A JWKS source at an unchanged URL starts from the keys already loaded.
    pub fn reload(&self, auth: &AuthConfig) -> Result<(), SetupError> {
        let mut background = self.background.lock();
        let old = self.current.load_full();
        if auth.enabled != old.enabled {
            return Err(SetupError::new(
                "web.auth.enabled",
                "turning authentication on or off needs a restart",
            ));
        }
        let next = AuthState::from_config(auth)?;
        if next.api_key_header != old.api_key_header {
            return Err(SetupError::new(
                "web.auth.api_key_header",
                "changing the API key header needs a restart",
            ));
        }
        if let (Some(new_source), Some(old_source), Some(new_jwt), Some(old_jwt)) =
            (&next.jwks, &old.jwks, &next.jwt, &old.jwt)
            && new_source.url() == old_source.url()
            && old_jwt.keys().is_loaded()
        {
            new_jwt
                .keys()
                .replace(old_jwt.keys().snapshot().keys().to_vec());
        }
        let next = Arc::new(next);
        self.current.store(next.clone());
        if let Some(task) = background.jwks_task.take() {
            task.abort();
        }
        if let (Some(runtime), Some(jwks)) = (&background.runtime, &next.jwks) {
            background.jwks_task = Some(runtime.spawn(jwks.clone().run()).abort_handle());
        }
        tracing::info!("{}", next.summary);
        Ok(())
    }

    /// Whether credentials are required.
    pub fn is_enabled(&self) -> bool {
        self.current.load().enabled
    }

    /// One line describing the active auth (never a secret), for the log.
    pub fn summary(&self) -> String {
        self.current.load().summary.clone()
    }

    /// The current JWT verifier, when auth is enabled.
    pub fn jwt(&self) -> Option<Arc<JwtVerifier>> {
        self.current.load().jwt.clone()
    }

    /// Starts background work (the JWKS loader and refresher, again after each reload). Call
    /// once, inside the Tokio runtime; does nothing for a static key.
    pub fn start_background(&self) {
        let mut background = self.background.lock();
        let runtime = tokio::runtime::Handle::current();
        if let Some(jwks) = &self.current.load().jwks {
            background.jwks_task = Some(runtime.spawn(jwks.clone().run()).abort_handle());
        }
        background.runtime = Some(runtime);
    }

    /// `Some((loaded, key count))` when keys come from a JWKS.
    pub fn jwks_status(&self) -> Option<(bool, usize)> {
        self.current.load().jwks_status()
    }

    /// The header API keys are read from (fixed for the life of the process).
    pub fn api_key_header(&self) -> HeaderName {
        self.current.load().api_key_header.clone()
    }

    /// Authenticates and checks `permission`, recording metrics and logs.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        permission: Permission,
    ) -> Result<Arc<Principal>, AuthError> {
        let state = self.current.load_full();
        state.authorize(headers, permission).await
    }

    /// Authenticates a request from its headers.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Principal>, AuthError> {
        let state = self.current.load_full();
        state.authenticate(headers).await
    }
}

/// One immutable auth configuration: what a request is decided with.
struct AuthState {
    enabled: bool,
    api_key_header: HeaderName,
    registry: Option<ApiKeyRegistry>,
    jwt: Option<Arc<JwtVerifier>>,
    jwks: Option<Arc<JwksSource>>,
    anonymous: Arc<Principal>,
    summary: String,
    successes: metrics::Successes,
}

impl AuthState {
    fn disabled() -> Self {
        Self {
            enabled: false,
            api_key_header: HeaderName::from_static("x-api-key"),
            registry: None,
            jwt: None,
            jwks: None,
            anonymous: Arc::new(Principal::anonymous()),
            summary: "auth disabled: every route is open".to_owned(),
            successes: metrics::Successes::default(),
        }
    }

    fn from_config(auth: &AuthConfig) -> Result<Self, SetupError> {
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
            VerificationMethod::PublicKey => Arc::new(KeyStore::with_keys(static_keys(auth)?)),
            VerificationMethod::Jwks => Arc::new(KeyStore::unloaded()),
        };
        let jwks = match auth.jwt_verification_method {
            VerificationMethod::Jwks => Some(Arc::new(JwksSource::new(auth, keys.clone())?)),
            VerificationMethod::PublicKey => None,
        };
        let jwt = Arc::new(JwtVerifier::new(auth, keys)?);
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
            successes: metrics::Successes::default(),
        })
    }

    fn jwks_status(&self) -> Option<(bool, usize)> {
        let keys = self.jwt.as_ref()?.keys();
        self.jwks
            .as_ref()
            .map(|_| (keys.is_loaded(), keys.snapshot().len()))
    }

    /// The decision for one request, in an `auth` span carrying the method and the result
    /// (never the credential).
    async fn authorize(
        &self,
        headers: &HeaderMap,
        permission: Permission,
    ) -> Result<Arc<Principal>, AuthError> {
        let span = tracing::info_span!(target: SPAN_TARGET, "auth",
            auth.permission = permission.as_str(),
            auth.method = tracing::field::Empty,
            auth.result = tracing::field::Empty);
        // With tracing export off the span is disabled: entering it on every poll is skipped.
        let (method, result) = if span.is_disabled() {
            self.decide(headers).await
        } else {
            self.decide(headers).instrument(span.clone()).await
        };
        let result = result.and_then(|principal| {
            if principal.allows(permission) {
                return Ok(principal);
            }
            metrics::denial(permission);
            let _entered = span.enter();
            tracing::warn!(subject = %principal.subject, permission = permission.as_str(), "permission denied");
            Err(AuthError::Forbidden(permission))
        });
        if !span.is_disabled() {
            span.record("auth.method", method);
            span.record(
                "auth.result",
                match &result {
                    Ok(_) => "allowed",
                    Err(AuthError::Forbidden(_)) => "forbidden",
                    Err(_) => "unauthenticated",
                },
            );
        }
        result
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Principal>, AuthError> {
        self.decide(headers).await.1
    }

    /// Authenticates, recording metrics and logs; also names the credential's method.
    async fn decide(
        &self,
        headers: &HeaderMap,
    ) -> (&'static str, Result<Arc<Principal>, AuthError>) {
        if !self.enabled {
            return ("disabled", Ok(self.anonymous.clone()));
        }
        let (method, result) = self.credential(headers).await;
        match &result {
            Ok(principal) => {
                self.successes.record(principal.method);
                tracing::info!(subject = %principal.subject, method = principal.method.as_str(), "authenticated");
            }
            Err(err) => {
                let reason = err.reason().unwrap_or(FailureReason::Invalid);
                metrics::failure(method, reason);
                tracing::warn!(method, reason = reason.as_str(), message = %err, "authentication failed");
            }
        }
        (method, result)
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
            let result = match bearer_token(value) {
                Ok(token) => self.verify_bearer(token).await,
                Err(err) => Err(err),
            };
            return ("jwt", result);
        }
        let mut api_keys = headers.get_all(&self.api_key_header).iter();
        if let Some(value) = api_keys.next() {
            if api_keys.next().is_some() {
                // No bearer token was sent: the challenge carries no `invalid_token`.
                return ("api_key", Err(malformed_key("Multiple API key headers")));
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

/// The current static key, then the previous ones still accepted during a rotation.
fn static_keys(auth: &AuthConfig) -> Result<Vec<VerificationKey>, SetupError> {
    if auth.jwt_previous_public_key_paths.len() >= MAX_STATIC_KEYS {
        return Err(SetupError::new(
            "web.auth.jwt_previous_public_key_paths",
            format!("at most {} previous keys", MAX_STATIC_KEYS - 1),
        ));
    }
    let mut keys = vec![static_key(auth)?];
    for (index, path) in auth.jwt_previous_public_key_paths.iter().enumerate() {
        let name = format!("web.auth.jwt_previous_public_key_paths[{index}]");
        let pem = read_key_file(&name, path)?;
        keys.push(VerificationKey::rsa_pem(&pem, None).map_err(|why| SetupError::new(name, why))?);
    }
    Ok(keys)
}

fn static_key(auth: &AuthConfig) -> Result<VerificationKey, SetupError> {
    let (key, pem) = if !auth.jwt_public_key_path.is_empty() {
        let key = "web.auth.jwt_public_key_path";
        (key, read_key_file(key, &auth.jwt_public_key_path)?)
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

/// A key file, through the bounded read every key and config file takes (a regular file of
/// at most 1 MiB; the error names the path, never the content).
fn read_key_file(key: &str, path: &str) -> Result<String, SetupError> {
    tasker_config::read_bounded(path).map_err(|e| SetupError::new(key, e.to_string()))
}

fn bearer_token(value: &HeaderValue) -> Result<&str, AuthError> {
    // Visible ASCII only (one pass); anything else is no token.
    let text = value
        .to_str()
        .map_err(|_| malformed("Malformed Authorization header"))?;
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
