//! The claims of a Tasker access token.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::JwtError;

/// Registered claims plus Tasker's `permissions` array. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who the token is for.
    pub sub: String,
    /// Who issued it; servers require their `jwt_issuer`.
    pub iss: String,
    /// Who it is for; servers require their `jwt_audience`.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// Not valid before.
    pub nbf: i64,
    /// Granted permissions (`resource:action`, `resource:*` or `*`).
    pub permissions: Vec<String>,
    /// Token id, when the caller wants tokens to be distinguishable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl Claims {
    /// Claims valid from `now` (Unix seconds) for `lifetime`.
    ///
    /// Fails when `lifetime` does not fit the timestamp range.
    pub fn new(
        subject: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        permissions: Vec<String>,
        lifetime: Duration,
        now: i64,
    ) -> Result<Self, JwtError> {
        let seconds = i64::try_from(lifetime.as_secs())
            .map_err(|_| JwtError::InvalidClaims("lifetime is too long"))?;
        let exp = now
            .checked_add(seconds)
            .ok_or(JwtError::InvalidClaims("lifetime is too long"))?;
        Ok(Self {
            sub: subject.into(),
            iss: issuer.into(),
            aud: audience.into(),
            exp,
            iat: now,
            nbf: now,
            permissions,
            jti: None,
        })
    }

    /// The same claims with a token id.
    pub fn with_jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_follow_now_and_lifetime() {
        let claims = Claims::new(
            "svc",
            "tasker-core",
            "tasker-api",
            vec!["tasks:read".into()],
            Duration::from_secs(3600),
            1_000,
        )
        .unwrap();
        assert_eq!((claims.iat, claims.nbf, claims.exp), (1_000, 1_000, 4_600));
        assert_eq!(claims.jti, None);
    }

    #[test]
    fn overflowing_lifetime_is_an_error() {
        let err = Claims::new("s", "i", "a", vec![], Duration::from_secs(u64::MAX), 0);
        assert!(matches!(err, Err(JwtError::InvalidClaims(_))));
        let err = Claims::new("s", "i", "a", vec![], Duration::from_secs(10), i64::MAX);
        assert!(matches!(err, Err(JwtError::InvalidClaims(_))));
    }

    #[test]
    fn jti_is_omitted_unless_set() {
        let claims = Claims::new("s", "i", "a", vec![], Duration::from_secs(1), 0).unwrap();
        let json = serde_json::to_value(&claims).unwrap();
        assert!(json.get("jti").is_none());
        let json = serde_json::to_value(claims.with_jti("id-1")).unwrap();
        assert_eq!(json["jti"], "id-1");
    }
}
