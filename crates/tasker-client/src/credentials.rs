//! Credential resolution (the configuration reference's client-side priority table) and
//! on-demand token minting. No credential appears in `Debug` output.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use tasker_jwt::{Claims, mint_token};

use crate::ClientEnv;
use crate::client::Api;
use crate::error::ClientError;

/// Settings of minted tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct MintSettings {
    /// PEM private key (PKCS#8 or PKCS#1).
    pub private_key_pem: String,
    /// `iss` (default `tasker-core`).
    pub issuer: String,
    /// `aud` (default `tasker-api`).
    pub audience: String,
    /// `sub` (default `tasker-client`).
    pub subject: String,
    /// Permissions claim (default `*`).
    pub permissions: Vec<String>,
    /// Token lifetime (default one hour).
    pub lifetime: Duration,
}

impl fmt::Debug for MintSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintSettings")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("subject", &self.subject)
            .field("permissions", &self.permissions)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// How requests to one API authenticate.
#[derive(Clone)]
pub enum Credential {
    /// No credentials (auth disabled on the server).
    None,
    /// A fixed bearer token.
    Bearer(String),
    /// An API key in a header.
    ApiKey {
        /// Header name.
        header: HeaderName,
        /// The key.
        key: String,
    },
    /// Tokens minted from a private key, renewed before they expire.
    Minted(Arc<Minter>),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::None => f.write_str("Credential::None"),
            Credential::Bearer(_) => f.write_str("Credential::Bearer(***)"),
            Credential::ApiKey { header, .. } => write!(f, "Credential::ApiKey({header}: ***)"),
            Credential::Minted(minter) => write!(f, "Credential::Minted({:?})", minter.settings),
        }
    }
}

impl Credential {
    /// Resolves the credential for `api` from `env`, in the documented priority order.
    pub fn resolve(api: Api, env: &ClientEnv) -> Result<Self, ClientError> {
        let endpoint_var = match api {
            Api::Orchestration => "TASKER_ORCHESTRATION_AUTH_TOKEN",
            Api::Worker => "TASKER_WORKER_AUTH_TOKEN",
        };
        if let Some(token) = env
            .get(endpoint_var)
            .or_else(|| env.get("TASKER_AUTH_TOKEN"))
        {
            return Ok(Credential::Bearer(token.trim().to_owned()));
        }
        if let Some(key) = env.get("TASKER_API_KEY") {
            let name = env.get("TASKER_API_KEY_HEADER").unwrap_or("X-API-Key");
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ClientError::Config(format!(
                    "TASKER_API_KEY_HEADER `{name}` is not a valid header name"
                ))
            })?;
            return Ok(Credential::ApiKey {
                header,
                key: key.trim().to_owned(),
            });
        }
        if let Some(path) = env.get("TASKER_JWT_PRIVATE_KEY_PATH") {
            let private_key_pem = tasker_config::read_bounded(path)
                .map_err(|e| ClientError::Config(format!("TASKER_JWT_PRIVATE_KEY_PATH: {e}")))?;
            let lifetime = match env.get("TASKER_JWT_EXPIRY_SECONDS") {
                Some(text) => text
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .map(Duration::from_secs)
                    .ok_or_else(|| {
                        ClientError::Config(
                            "TASKER_JWT_EXPIRY_SECONDS must be a positive integer".into(),
                        )
                    })?,
                None => Duration::from_secs(3600),
            };
            let settings = MintSettings {
                private_key_pem,
                issuer: env
                    .get("TASKER_JWT_ISSUER")
                    .unwrap_or("tasker-core")
                    .to_owned(),
                audience: env
                    .get("TASKER_JWT_AUDIENCE")
                    .unwrap_or("tasker-api")
                    .to_owned(),
                subject: env
                    .get("TASKER_JWT_SUBJECT")
                    .unwrap_or("tasker-client")
                    .to_owned(),
                permissions: env
                    .get("TASKER_JWT_PERMISSIONS")
                    .unwrap_or("*")
                    .split([',', ' '])
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect(),
                lifetime,
            };
            return Ok(Credential::Minted(Arc::new(Minter::new(settings)?)));
        }
        Ok(Credential::None)
    }

    /// Whether requests carry a credential.
    pub fn is_some(&self) -> bool {
        !matches!(self, Credential::None)
    }

    /// The header to send, if any.
    pub(crate) fn header(&self) -> Result<Option<(HeaderName, HeaderValue)>, ClientError> {
        let bearer = |token: &str| {
            HeaderValue::from_str(&format!("Bearer {token}"))
                .map(|mut v| {
                    v.set_sensitive(true);
                    Some((AUTHORIZATION, v))
                })
                .map_err(|_| {
                    ClientError::Config(
                        "the bearer token contains characters not allowed in a header".into(),
                    )
                })
        };
        match self {
            Credential::None => Ok(None),
            Credential::Bearer(token) => bearer(token),
            Credential::Minted(minter) => bearer(&minter.token()?),
            Credential::ApiKey { header, key } => {
                let mut value = HeaderValue::from_str(key).map_err(|_| {
                    ClientError::Config(
                        "the API key contains characters not allowed in a header".into(),
                    )
                })?;
                value.set_sensitive(true);
                Ok(Some((header.clone(), value)))
            }
        }
    }
}

/// Mints and caches tokens, minting a new one before the current one expires.
pub struct Minter {
    settings: MintSettings,
    current: Mutex<Option<(String, i64)>>,
}

impl fmt::Debug for Minter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Minter {
    /// A minter; fails when the key cannot sign.
    pub fn new(settings: MintSettings) -> Result<Self, ClientError> {
        let minter = Self {
            settings,
            current: Mutex::new(None),
        };
        minter.token()?;
        Ok(minter)
    }

    /// A token valid for a while yet.
    pub fn token(&self) -> Result<String, ClientError> {
        let now = chrono::Utc::now().timestamp();
        let lifetime = i64::try_from(self.settings.lifetime.as_secs()).unwrap_or(i64::MAX);
        let margin = (lifetime / 5).clamp(1, 60);
        let mut current = self.current.lock();
        if let Some((token, exp)) = current.as_ref()
            && exp - now > margin
        {
            return Ok(token.clone());
        }
        let s = &self.settings;
        let claims = Claims::new(
            &s.subject,
            &s.issuer,
            &s.audience,
            s.permissions.clone(),
            s.lifetime,
            now,
        )
        .map_err(|e| ClientError::Config(format!("cannot mint a token: {e}")))?;
        let token = mint_token(&s.private_key_pem, &claims, None).map_err(|e| {
            ClientError::Config(format!(
                "cannot mint a token from TASKER_JWT_PRIVATE_KEY_PATH: {e}"
            ))
        })?;
        *current = Some((token.clone(), claims.exp));
        Ok(token)
    }
}
