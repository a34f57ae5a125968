//! The JWKS key source: fetches the identity provider's key set without blocking startup,
//! retries with backoff until the first success, refreshes on a timer, and refreshes at once
//! for an unknown `kid` — single-flight and at most once per cooldown, so forged kids cannot
//! cause a refresh storm. A failed or unusable fetch keeps the last good key set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use metrics::{counter, gauge};
use serde_json::Value;
use tasker_config::AuthConfig;

use crate::error::SetupError;
use crate::keys::{KeyStore, VerificationKey};

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 256 * 1024;
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Why a fetch did not produce a key set.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// Network or HTTP failure.
    #[error("JWKS fetch failed: {0}")]
    Fetch(String),
    /// The document is not a usable JWKS.
    #[error("JWKS document rejected: {0}")]
    Document(String),
}

/// Fetches and refreshes one JWKS URL into a [`KeyStore`].
pub struct JwksSource {
    url: String,
    client: reqwest::Client,
    keys: Arc<KeyStore>,
    refresh_interval: Duration,
    min_refresh_interval: Duration,
    last_on_demand: parking_lot::Mutex<Option<Instant>>,
    inflight: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksSource")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl JwksSource {
    /// A source for `[web.auth]`'s `jwks_url`, filling `keys`.
    pub fn new(auth: &AuthConfig, keys: Arc<KeyStore>) -> Result<Self, SetupError> {
        let timeout = Duration::from_secs(auth.jwks_fetch_timeout_seconds.max(1));
        let origin = host_of(&auth.jwks_url);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 3 || host_of(attempt.url().as_str()) != origin {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| {
                SetupError::new(
                    "web.auth.jwks_url",
                    format!("cannot build HTTP client: {e}"),
                )
            })?;
        Ok(Self {
            url: auth.jwks_url.clone(),
            client,
            keys,
            refresh_interval: Duration::from_secs(auth.jwks_refresh_interval_seconds.max(1)),
            min_refresh_interval: Duration::from_secs(auth.jwks_min_refresh_interval_seconds),
            last_on_demand: parking_lot::Mutex::new(None),
            inflight: tokio::sync::Mutex::new(()),
        })
    }

    /// The URL fetched.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Fetches once and, when the document holds at least one usable key, replaces the set.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let result = self.fetch().await;
        match &result {
            Ok(keys) => {
                let count = keys.len();
                self.keys.replace(keys.clone());
                counter!("tasker_jwks_refresh_total", "result" => "success").increment(1);
                gauge!("tasker_jwks_keys").set(count as f64);
                gauge!("tasker_jwks_last_success_timestamp_seconds")
                    .set(chrono::Utc::now().timestamp() as f64);
                tracing::info!(keys = count, "JWKS key set loaded");
            }
            Err(err) => {
                counter!("tasker_jwks_refresh_total", "result" => "failure").increment(1);
                tracing::warn!(error = %err, "JWKS refresh failed; keeping the previous key set");
            }
        }
        result.map(|keys| keys.len())
    }

    /// Refreshes because a token named an unknown `kid`. Concurrent callers share one fetch;
    /// outside a fetch, at most one refresh per cooldown. Returns whether the key set changed
    /// since the caller looked, so a retry can succeed.
    pub(crate) async fn refresh_for_unknown_kid(&self, seen_generation: u64) -> bool {
        let _flight = self.inflight.lock().await;
        if self.keys.snapshot().generation() != seen_generation {
            return true;
        }
        {
            let mut last = self.last_on_demand.lock();
            if last.is_some_and(|at| at.elapsed() < self.min_refresh_interval) {
                return false;
            }
            *last = Some(Instant::now());
        }
        self.refresh().await.is_ok()
    }

    /// Runs forever: first load with backoff, then periodic refreshes.
    pub async fn run(self: Arc<Self>) {
        let mut delay = FIRST_RETRY;
        while self.refresh().await.is_err() {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RETRY);
        }
        loop {
            tokio::time::sleep(self.refresh_interval).await;
            let _ = self.refresh().await;
        }
    }

    async fn fetch(&self) -> Result<Vec<VerificationKey>, JwksError> {
        let mut response = self
            .client
            .get(&self.url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| JwksError::Fetch(without_url(&e)))?;
        if !response.status().is_success() {
            return Err(JwksError::Fetch(format!("HTTP {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            return Err(JwksError::Document("larger than 256 KiB".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| JwksError::Fetch(without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwksError::Document("larger than 256 KiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body)
    }
}

/// Parses a JWKS document, skipping keys that cannot verify signatures (encryption keys,
/// unsupported types or curves, bad parameters). A document without one usable key is an
/// error, so it never replaces a good set. Public for the fuzz target (`fuzz/`); not an API.
#[doc(hidden)]
pub fn parse_jwks(body: &[u8]) -> Result<Vec<VerificationKey>, JwksError> {
    let document: Value =
        serde_json::from_slice(body).map_err(|_| JwksError::Document("not JSON".into()))?;
    let entries = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| JwksError::Document("no `keys` array".into()))?;
    let mut keys = Vec::new();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            tracing::debug!("skipping a JWK that does not parse");
            continue;
        };
        match VerificationKey::from_jwk(&jwk) {
            Some(Ok(key)) => keys.push(key),
            Some(Err(why)) => tracing::warn!(kid = ?jwk.common.key_id, why, "skipping JWK"),
            None => {}
        }
    }
    if keys.is_empty() {
        return Err(JwksError::Document("no usable signing key".into()));
    }
    Ok(keys)
}

fn host_of(url: &str) -> String {
    url.split_once("://")
        .map(|(_, rest)| {
            rest.split(['/', '?', '#'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

fn without_url(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_redirect() {
        "redirect refused"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_documents_are_errors() {
        assert!(parse_jwks(b"not json").is_err());
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(br#"{"keys": "x"}"#).is_err());
        assert!(parse_jwks(br#"{"keys": []}"#).is_err());
        assert!(parse_jwks(br#"{"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}"#).is_err());
        assert!(
            parse_jwks(br#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).is_err(),
            "HMAC keys are never used"
        );
    }

    #[test]
    fn encryption_keys_are_skipped() {
        let fixtures: Value =
            serde_json::from_str(include_str!("../tests/fixtures/jwks-keys.json")).unwrap();
        let mut enc = fixtures["rsa-a"].clone();
        enc["use"] = "enc".into();
        let doc = serde_json::json!({"keys": [enc, fixtures["rsa-b"], fixtures["ec-p256"], fixtures["ed25519"], {"kty": "weird"}]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid().unwrap().to_owned()).collect();
        assert_eq!(kids, ["rsa-b", "ec-p256", "ed25519"]);
    }

    #[test]
    fn host_comparison() {
        assert_eq!(
            host_of("https://Auth.example.com:443/x"),
            "auth.example.com:443"
        );
        assert_eq!(host_of("http://127.0.0.1:9/jwks?x"), "127.0.0.1:9");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::parse_jwks;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[a-zA-Z0-9_+/=-]{0,40}".prop_map(serde_json::Value::from),
            prop_oneof![
                Just("RSA"),
                Just("EC"),
                Just("OKP"),
                Just("oct"),
                Just("P-256"),
                Just("Ed25519"),
                Just("AQAB"),
                Just("sig"),
                Just("enc")
            ]
            .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("keys".to_owned()),
                        Just("kty".to_owned()),
                        Just("n".to_owned()),
                        Just("e".to_owned()),
                        Just("kid".to_owned()),
                        Just("crv".to_owned()),
                        Just("x".to_owned()),
                        Just("y".to_owned()),
                        Just("use".to_owned()),
                        Just("alg".to_owned()),
                        "[a-z]{1,4}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_jwks(&bytes);
        }

        #[test]
        fn arbitrary_documents_never_panic_and_never_yield_an_empty_set(doc in json_value()) {
            if let Ok(keys) = parse_jwks(doc.to_string().as_bytes()) {
                prop_assert!(!keys.is_empty());
            }
        }
    }
}
