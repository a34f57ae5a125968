//! Bearer JWT verification: size limit, algorithm allow-list (asymmetric only), `typ`, the
//! header and claim hygiene of `token_rules`, key lookup by `kid` (or each static key in turn
//! for a token without one) with a key-type match, `exp`/`nbf`/`iat` with leeway, exact
//! issuer, audience membership, required `sub`, then permissions from the configured claim.

use std::sync::Arc;
use std::time::Instant;

use jsonwebtoken::{Algorithm, Validation, decode, decode_header, errors::ErrorKind};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tasker_config::AuthConfig;
use tasker_proto::PermissionSet;

use crate::cache::TokenCache;
use crate::claims::permissions_at;
use crate::error::{AuthError, FailureReason, SetupError};
use crate::keys::{KeyStore, VerificationKey};
use crate::metrics;
use crate::principal::{AuthMethod, Principal};
use crate::token_rules;

/// Tokens larger than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
const CACHE_CAPACITY: usize = 10_000;

/// What a verified token says (for `tasker-ctl auth validate-token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `sub`
    pub subject: String,
    /// `iss`
    pub issuer: String,
    /// `aud`, as a list.
    pub audience: Vec<String>,
    /// `exp` (Unix seconds).
    pub expires_at: i64,
    /// The raw permission strings of the permissions claim.
    pub permissions: Vec<String>,
    /// Strings a lenient server ignores (under strict validation the token is refused).
    pub ignored: Vec<String>,
    /// What the token grants.
    pub granted: PermissionSet,
}

/// Verifies bearer tokens against a [`KeyStore`].
pub struct JwtVerifier {
    validations: Vec<(Algorithm, Validation)>,
    leeway: i64,
    permissions_claim: String,
    strict: bool,
    log_unknown: bool,
    max_lifetime: u64,
    keys: Arc<KeyStore>,
    cache: TokenCache,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field(
                "algorithms",
                &self.validations.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
            )
            .field("permissions_claim", &self.permissions_claim)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier with the `[web.auth]` claim rules over `keys`.
    pub fn new(auth: &AuthConfig, keys: Arc<KeyStore>) -> Result<Self, SetupError> {
        let mut validations = Vec::new();
        for name in &auth.jwt_allowed_algorithms {
            let alg: Algorithm = name.parse().map_err(|_| {
                SetupError::new(
                    "web.auth.jwt_allowed_algorithms",
                    format!("unknown algorithm `{name}`"),
                )
            })?;
            if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                return Err(SetupError::new(
                    "web.auth.jwt_allowed_algorithms",
                    "HMAC algorithms are not accepted",
                ));
            }
            let mut validation = Validation::new(alg);
            validation.leeway = auth.jwt_leeway_seconds;
            validation.set_issuer(&[&auth.jwt_issuer]);
            validation.set_audience(&[&auth.jwt_audience]);
            validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
            validation.validate_nbf = true;
            validations.push((alg, validation));
        }
        Ok(Self {
            validations,
            leeway: i64::try_from(auth.jwt_leeway_seconds).unwrap_or(i64::MAX),
            permissions_claim: auth.permissions_claim.clone(),
            strict: auth.strict_validation,
            log_unknown: auth.log_unknown_permissions,
            max_lifetime: auth.jwt_max_lifetime_seconds,
            keys,
            cache: TokenCache::new(CACHE_CAPACITY),
        })
    }

    /// The key store this verifier reads.
    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    /// Verifies `token` at Unix time `now`, using the verified-token cache.
    pub fn authenticate(&self, token: &str, now: i64) -> Result<Arc<Principal>, AuthError> {
        self.try_authenticate(token, now)
            .map_err(VerifyError::into_auth)
    }

    /// Like [`JwtVerifier::authenticate`], telling an unknown `kid` apart so the caller can
    /// refresh the key set and retry.
    pub(crate) fn try_authenticate(
        &self,
        token: &str,
        now: i64,
    ) -> Result<Arc<Principal>, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::unauthorized(
                FailureReason::Malformed,
                "Token exceeds 8 KiB",
                true,
            )
            .into());
        }
        if !self.keys.is_loaded() {
            return Err(AuthError::Unavailable(
                "Token verification keys are not available yet; retry shortly".into(),
            )
            .into());
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let generation = self.keys.snapshot().generation();
        if let Some(principal) = self.cache.get(&digest, now, generation) {
            return Ok(principal);
        }
        let started = Instant::now();
        let verified = self.verify(token, now);
        metrics::verification_time(started.elapsed());
        let (claims, generation) = verified?;
        let (subject, _, permissions) = self.grants(&claims).map_err(VerifyError::Auth)?;
        let principal = Arc::new(Principal {
            subject,
            method: AuthMethod::Jwt,
            permissions,
        });
        let expires_at = claims.get("exp").and_then(Value::as_i64).unwrap_or(now);
        self.cache
            .insert(digest, principal.clone(), expires_at, now, generation);
        Ok(principal)
    }

    /// The subject, the raw permission strings and the granted set of verified claims: the
    /// permissions claim must be an array of strings or a space-delimited string, and unknown
    /// strings are refused (strict) or dropped (lenient).
    fn grants(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<(String, Vec<String>, PermissionSet), AuthError> {
        let raw = permissions_at(claims, &self.permissions_claim).ok_or_else(|| {
            AuthError::unauthorized(
                FailureReason::Invalid,
                format!(
                    "Claim `{}` must be an array of strings or a space-delimited string",
                    self.permissions_claim
                ),
                true,
            )
        })?;
        let subject = string_claim(claims, "sub").unwrap_or_default();
        let granted = self.check_permissions(PermissionSet::parse(&raw), &subject)?;
        Ok((subject, raw, granted))
    }

    /// Verifies `token` exactly as a server does (signature, claims, the permissions claim and
    /// strict validation), without the cache, and reports its claims.
    pub fn inspect(&self, token: &str, now: i64) -> Result<VerifiedToken, AuthError> {
        let (claims, _) = self.verify(token, now).map_err(VerifyError::into_auth)?;
        let (subject, permissions, granted) = self.grants(&claims)?;
        let audience = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        let ignored = PermissionSet::parse(&permissions).unknown().to_vec();
        Ok(VerifiedToken {
            subject,
            issuer: string_claim(&claims, "iss").unwrap_or_default(),
            audience,
            expires_at: claims
                .get("exp")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            permissions,
            ignored,
            granted,
        })
    }

    /// Applies strict / lenient handling of unrecognized permission strings.
    pub(crate) fn check_permissions(
        &self,
        set: PermissionSet,
        subject: &str,
    ) -> Result<PermissionSet, AuthError> {
        if set.unknown().is_empty() {
            return Ok(set);
        }
        let unknown = set.unknown().join(", ");
        if self.strict {
            return Err(AuthError::unauthorized(
                FailureReason::UnknownPermissions,
                format!("Unknown permissions: {unknown}"),
                true,
            ));
        }
        if self.log_unknown {
            tracing::warn!(subject, unknown = %unknown, "ignoring unknown permissions (strict_validation = false)");
        }
        Ok(set.without_unknown())
    }

    fn verify(&self, token: &str, now: i64) -> Result<(Map<String, Value>, u64), VerifyError> {
        let invalid = |message: &str| {
            VerifyError::Auth(AuthError::unauthorized(
                FailureReason::Invalid,
                message,
                true,
            ))
        };
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::unauthorized(
                FailureReason::Malformed,
                "Token exceeds 8 KiB",
                true,
            )
            .into());
        }
        token_rules::check_shape(token)?;
        let header = decode_header(token).map_err(|_| {
            AuthError::unauthorized(FailureReason::Malformed, "Malformed token", true)
        })?;
        let Some((_, validation)) = self.validations.iter().find(|(alg, _)| *alg == header.alg)
        else {
            return Err(invalid(&format!(
                "Token algorithm {:?} is not allowed",
                header.alg
            )));
        };
        if let Some(typ) = header.typ.as_deref() {
            let typ = typ.to_ascii_lowercase();
            if !matches!(typ.as_str(), "jwt" | "at+jwt" | "application/at+jwt") {
                return Err(invalid("Token type is not accepted"));
            }
        }
        let keys = self.keys.snapshot();
        let candidates = keys.candidates(header.kid.as_deref());
        if candidates.is_empty() {
            if header.kid.is_none() {
                return Err(invalid(
                    "Token has no key id (kid) and the key set has several keys",
                ));
            }
            return Err(VerifyError::UnknownKid);
        }
        let claims = verify_with_any(token, &candidates, header.alg, validation)?;
        token_rules::check_claims(&claims, self.max_lifetime)?;
        if claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| iat > now + self.leeway)
        {
            return Err(invalid("Token was issued in the future"));
        }
        if string_claim(&claims, "sub").is_none_or(|s| s.is_empty()) {
            return Err(invalid("Token has no subject"));
        }
        Ok((claims, keys.generation()))
    }
}

/// The verified claims of `token` under the first of `keys` whose signature matches. A key of
/// the wrong type is skipped; a bad signature moves on to the next key; any other failure
/// (expired, wrong audience, ...) comes from a key whose signature matched, so it is final.
fn verify_with_any(
    token: &str,
    keys: &[&VerificationKey],
    alg: Algorithm,
    validation: &Validation,
) -> Result<Map<String, Value>, AuthError> {
    let mut failure = AuthError::unauthorized(
        FailureReason::Invalid,
        "Token algorithm does not match the signing key",
        true,
    );
    for key in keys {
        if !key.family.accepts(alg) || key.alg.is_some_and(|key_alg| key_alg != alg) {
            continue;
        }
        match decode::<Map<String, Value>>(token, &key.key, validation) {
            Ok(data) => return Ok(data.claims),
            Err(err) if *err.kind() == ErrorKind::InvalidSignature => {
                failure = map_decode_error(err.kind());
            }
            Err(err) => return Err(map_decode_error(err.kind())),
        }
    }
    Err(failure)
}

/// A verification failure; an unknown `kid` may succeed after a key-set refresh.
#[derive(Debug)]
pub(crate) enum VerifyError {
    UnknownKid,
    Auth(AuthError),
}

impl From<AuthError> for VerifyError {
    fn from(err: AuthError) -> Self {
        VerifyError::Auth(err)
    }
}

impl VerifyError {
    pub(crate) fn into_auth(self) -> AuthError {
        match self {
            VerifyError::UnknownKid => AuthError::unauthorized(
                FailureReason::Invalid,
                "Token signing key is unknown",
                true,
            ),
            VerifyError::Auth(err) => err,
        }
    }
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn map_decode_error(kind: &ErrorKind) -> AuthError {
    let (reason, message) = match kind {
        ErrorKind::ExpiredSignature => (FailureReason::Expired, "Token has expired".to_owned()),
        ErrorKind::ImmatureSignature => {
            (FailureReason::Invalid, "Token is not yet valid".to_owned())
        }
        ErrorKind::InvalidIssuer => (FailureReason::Invalid, "Invalid token issuer".to_owned()),
        ErrorKind::InvalidAudience => (FailureReason::Invalid, "Invalid token audience".to_owned()),
        ErrorKind::InvalidSignature => {
            (FailureReason::Invalid, "Invalid token signature".to_owned())
        }
        ErrorKind::MissingRequiredClaim(claim) => (
            FailureReason::Invalid,
            format!("Token is missing the `{claim}` claim"),
        ),
        ErrorKind::InvalidClaimFormat(claim) => (
            FailureReason::Invalid,
            format!("Token claim `{claim}` has an invalid format"),
        ),
        ErrorKind::InvalidAlgorithm => (
            FailureReason::Invalid,
            "Token algorithm does not match the signing key".to_owned(),
        ),
        ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_)
        | ErrorKind::InvalidToken => (FailureReason::Malformed, "Malformed token".to_owned()),
        _ => (FailureReason::Invalid, "Invalid token".to_owned()),
    };
    AuthError::unauthorized(reason, message, true)
}
