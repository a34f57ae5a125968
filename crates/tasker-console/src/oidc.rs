//! The console as an OpenID Connect relying party (a public client): discovery from
//! `<issuer>/.well-known/openid-configuration`, the authorization request with `state`,
//! `nonce` and a PKCE S256 challenge, the code exchange, and the checks of the ID token that
//! came back from the token endpoint (issuer, audience, nonce). The access token is not
//! judged here: the caller hands it to the API's authenticator like a pasted bearer token.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tasker_config::UiConfig;
use tokio::sync::Mutex;

use crate::session::SessionId;

/// Largest discovery document or token response read.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// How long a discovery document is reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// Time allowed for one request to the provider.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an OIDC step failed; the message is shown to the operator and names no secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OidcError {
    /// The provider could not be reached or answered something unusable.
    #[error("{0}")]
    Provider(String),
    /// The provider's answer does not belong to this sign-in.
    #[error("{0}")]
    Rejected(String),
}

/// The endpoints of the provider's discovery document.
#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

/// The console's OIDC client, shared by every request.
pub(crate) struct OidcClient {
    issuer: String,
    client_id: String,
    redirect_url: String,
    scopes: String,
    http: reqwest::Client,
    discovery: Mutex<Option<(Discovery, std::time::Instant)>>,
}

/// What the server keeps of a sign-in between the redirect to the provider and the
/// provider's redirect back (sealed in the store, never in the browser).
#[derive(Serialize, Deserialize)]
pub(crate) struct Pending {
    /// The `state` sent; the callback's must be equal.
    pub(crate) state: String,
    /// The `nonce` sent; the ID token's must be equal.
    pub(crate) nonce: String,
    /// The PKCE code verifier.
    pub(crate) verifier: String,
    /// The console page to open after signing in.
    pub(crate) next: String,
}

impl Pending {
    /// New random `state`, `nonce` and verifier (32 bytes each from the system generator).
    pub(crate) fn new(next: String) -> Self {
        Self {
            state: SessionId::generate().secret().to_owned(),
            nonce: SessionId::generate().secret().to_owned(),
            verifier: SessionId::generate().secret().to_owned(),
            next,
        }
    }

    /// Whether the callback's `state` is this sign-in's (constant-time comparison).
    pub(crate) fn state_matches(&self, state: &str) -> bool {
        bool::from(self.state.as_bytes().ct_eq(state.as_bytes()))
    }
}

/// The tokens of a successful code exchange.
pub(crate) struct Tokens {
    /// The access token, to be verified by the API's authenticator.
    pub(crate) access_token: String,
    /// `now + expires_in`, when the provider said.
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: String,
    id_token: Option<String>,
    expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct ProviderError {
    error: String,
}

/// The PKCE S256 challenge of a verifier.
pub(crate) fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl OidcClient {
    /// The client of `[web.ui]`, or `None` when OIDC sign-in is not configured.
    pub(crate) fn from_config(ui: &UiConfig) -> Option<Self> {
        if !ui.oidc_enabled() {
            return None;
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        Some(Self {
            issuer: ui.oidc_issuer.trim().to_owned(),
            client_id: ui.oidc_client_id.trim().to_owned(),
            redirect_url: ui.oidc_redirect_url.trim().to_owned(),
            scopes: ui
                .oidc_scopes
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            http,
            discovery: Mutex::new(None),
        })
    }

    /// The issuer's host, to name the provider on the sign-in page.
    pub(crate) fn provider_name(&self) -> &str {
        let rest = self
            .issuer
            .split_once("://")
            .map_or(self.issuer.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }

    /// The issuer, compared without a trailing slash.
    fn same_issuer(&self, other: &str) -> bool {
        self.issuer.trim_end_matches('/') == other.trim_end_matches('/')
    }

    /// The discovery document, fetched once an hour.
    async fn discovery(&self) -> Result<Discovery, OidcError> {
        let mut cached = self.discovery.lock().await;
        if let Some((doc, at)) = cached.as_ref()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(doc.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let response = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| provider(format!("its discovery document could not be fetched: {e}")))?;
        if !response.status().is_success() {
            return Err(provider(format!(
                "its discovery document answered {}",
                response.status()
            )));
        }
        let doc: Discovery = read_json(response).await?;
        if !self.same_issuer(&doc.issuer) {
            return Err(provider(
                "its discovery document names another issuer".to_owned(),
            ));
        }
        for (what, url) in [
            ("authorization_endpoint", &doc.authorization_endpoint),
            ("token_endpoint", &doc.token_endpoint),
        ] {
            tasker_config::check_web_url(url)
                .map_err(|why| provider(format!("its {what} is not usable: {why}")))?;
        }
        *cached = Some((doc.clone(), std::time::Instant::now()));
        Ok(doc)
    }

    /// The provider's authorization URL for a pending sign-in.
    pub(crate) async fn authorization_url(&self, pending: &Pending) -> Result<String, OidcError> {
        let doc = self.discovery().await?;
        let mut url = reqwest::Url::parse(&doc.authorization_endpoint)
            .map_err(|e| provider(format!("its authorization_endpoint is not a URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_url)
            .append_pair("scope", &self.scopes)
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge(&pending.verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Checks the `iss` of the authorization response (RFC 9207) when the provider sent one.
    pub(crate) fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), OidcError> {
        match iss {
            Some(iss) if !self.same_issuer(iss) => Err(OidcError::Rejected(
                "The answer came from another identity provider.".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    /// Exchanges the code (with the PKCE verifier) and checks the ID token.
    pub(crate) async fn exchange(
        &self,
        code: &str,
        pending: &Pending,
    ) -> Result<Tokens, OidcError> {
        let doc = self.discovery().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_url.as_str()),
            ("client_id", self.client_id.as_str()),
            ("code_verifier", pending.verifier.as_str()),
        ];
        let response = self
            .http
            .post(&doc.token_endpoint)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| provider(format!("its token endpoint could not be reached: {e}")))?;
        let status = response.status();
        if status.is_client_error() {
            let error = read_json::<ProviderError>(response)
                .await
                .map(|e| e.error)
                .unwrap_or_else(|_| status.to_string());
            return Err(OidcError::Rejected(format!(
                "The identity provider refused the code: {}.",
                printable(&error)
            )));
        }
        if !status.is_success() {
            return Err(provider(format!("its token endpoint answered {status}")));
        }
        let tokens: TokenResponse = read_json(response).await?;
        if !tokens.token_type.eq_ignore_ascii_case("bearer") {
            return Err(OidcError::Rejected(
                "The identity provider returned a token that is not a bearer token.".to_owned(),
            ));
        }
        let id_token = tokens.id_token.as_deref().ok_or_else(|| {
            OidcError::Rejected("The identity provider returned no ID token.".to_owned())
        })?;
        self.check_id_token(id_token, &pending.nonce)?;
        Ok(Tokens {
            access_token: tokens.access_token,
            expires_at: tokens
                .expires_in
                .filter(|s| *s > 0)
                .and_then(|s| Utc::now().checked_add_signed(chrono::Duration::seconds(s))),
        })
    }

    /// The ID token came straight from the token endpoint over the connection the server
    /// opened (OIDC Core 3.1.3.7 lets TLS stand for its signature then); its issuer, audience
    /// and nonce must be this sign-in's.
    fn check_id_token(&self, id_token: &str, nonce: &str) -> Result<(), OidcError> {
        let bad = |why: &str| OidcError::Rejected(format!("The ID token {why}."));
        let claims: serde_json::Value = id_token
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("is not a JWT"))?;
        if !claims["iss"]
            .as_str()
            .is_some_and(|iss| self.same_issuer(iss))
        {
            return Err(bad("names another issuer"));
        }
        let audience_ok = match &claims["aud"] {
            serde_json::Value::String(aud) => *aud == self.client_id,
            serde_json::Value::Array(all) => all.iter().any(|a| *a == *self.client_id),
            _ => false,
        };
        if !audience_ok {
            return Err(bad("is for another client"));
        }
        let sent = claims["nonce"].as_str().unwrap_or_default();
        if !bool::from(sent.as_bytes().ct_eq(nonce.as_bytes())) {
            return Err(bad("does not carry this sign-in's nonce"));
        }
        Ok(())
    }
}

fn provider(why: String) -> OidcError {
    OidcError::Provider(format!("The identity provider is not usable: {why}."))
}

/// An error code from the provider, shown only when it looks like one.
pub(crate) fn printable(code: &str) -> String {
    let code: String = code.chars().take(64).collect();
    if code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        code
    } else {
        "an unreadable error".to_owned()
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, OidcError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(provider("its answer is too large".to_owned()));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| provider(format!("its answer could not be read: {e}")))?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(provider("its answer is too large".to_owned()));
    }
    serde_json::from_slice(&bytes).map_err(|e| provider(format!("its answer is malformed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> OidcClient {
        let ui = UiConfig {
            oidc_issuer: "https://idp.example.com/realm/".to_owned(),
            oidc_client_id: "tasker-console".to_owned(),
            oidc_redirect_url: "https://tasker.example.com/ui/oidc/callback".to_owned(),
            ..UiConfig::default()
        };
        OidcClient::from_config(&ui).unwrap()
    }

    fn id_token(claims: serde_json::Value) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    #[test]
    fn the_pkce_challenge_is_the_rfc_7636_example() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_id_token_must_carry_issuer_audience_and_nonce() {
        let c = client();
        let good = serde_json::json!({"iss": "https://idp.example.com/realm", "aud": "tasker-console", "nonce": "n1"});
        assert!(c.check_id_token(&id_token(good.clone()), "n1").is_ok());
        assert!(c.check_id_token(&id_token(good.clone()), "n2").is_err());
        let mut other = good.clone();
        other["aud"] = serde_json::json!(["someone-else"]);
        assert!(c.check_id_token(&id_token(other), "n1").is_err());
        let mut other = good;
        other["iss"] = serde_json::json!("https://evil.example.com");
        assert!(c.check_id_token(&id_token(other), "n1").is_err());
        assert!(c.check_id_token("garbage", "n1").is_err());
    }

    #[test]
    fn pending_secrets_are_random_and_state_compares_exactly() {
        let a = Pending::new("/ui/tasks".to_owned());
        let b = Pending::new("/ui/tasks".to_owned());
        assert_ne!(a.state, b.state);
        assert_ne!(a.verifier, a.nonce);
        assert!(a.state_matches(&a.state.clone()));
        assert!(!a.state_matches(&b.state));
        assert!(!a.state_matches(""));
        assert_eq!(printable("access_denied"), "access_denied");
        assert_eq!(printable("<script>"), "an unreadable error");
    }
}
