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
    //! `parse_jwks` on documents generated from the fixture keys (so many of them hold usable
    //! keys), each key intact or changed in one way the parser must cope with, plus documents
    //! of arbitrary JSON and bytes. An intact signing key is never dropped, an encryption key is
    //! never used, and a parsed set is never empty. A test checks the generator reaches every
    //! kind of document.
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use serde_json::{Value, json};

    use super::parse_jwks;

    const FIXTURES: &str = include_str!("../tests/fixtures/jwks-keys.json");

    fn fixture_keys() -> Vec<Value> {
        let all: Value = serde_json::from_str(FIXTURES).unwrap();
        ["rsa-a", "rsa-b", "ec-p256", "ec-p384", "ed25519"]
            .iter()
            .map(|kid| all[*kid].clone())
            .collect()
    }

    /// How a generated JWK differs from its fixture.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Change {
        /// Usable as is (`use`, `alg` or `kid` may be absent, `kid` may be renamed).
        Intact,
        /// `use: enc`: never a verification key.
        Encryption,
        /// Another or an unknown `kty`.
        KeyType,
        /// A parameter (`n`, `e`, `x`, `y`, `crv`) removed.
        Missing,
        /// A parameter cut short.
        Truncated,
        /// A parameter with characters outside base64url.
        Garbage,
        /// An unsupported curve.
        Curve,
        /// An `alg` of another key family.
        Alg,
        /// Not an object at all.
        NotObject,
    }

    #[derive(Debug, Clone)]
    struct Generated {
        jwk: Value,
        change: Change,
    }

    impl Generated {
        fn kid(&self) -> Option<&str> {
            self.jwk.get("kid").and_then(Value::as_str)
        }
    }

    fn params(jwk: &Value) -> Vec<String> {
        ["n", "e", "x", "y", "crv"]
            .iter()
            .filter(|p| jwk.get(**p).is_some())
            .map(|p| (*p).to_owned())
            .collect()
    }

    fn jwk() -> impl Strategy<Value = Generated> {
        let keys = fixture_keys();
        (
            any::<prop::sample::Index>(),
            0u8..100,
            any::<prop::sample::Index>(),
            0u8..4,
            "[a-z0-9-]{1,8}",
        )
            .prop_map(move |(which, roll, at, extra, name)| {
                let mut jwk = keys[which.index(keys.len())].clone();
                let params = params(&jwk);
                let param = params[at.index(params.len())].clone();
                let object = jwk.as_object_mut().unwrap();
                let change = match roll {
                    0..35 => {
                        match extra {
                            0 => drop(object.remove("use")),
                            1 => drop(object.remove("alg")),
                            2 => drop(object.insert("kid".into(), Value::from(name))),
                            _ => {}
                        }
                        Change::Intact
                    }
                    35..45 => {
                        object.insert("use".into(), Value::from("enc"));
                        Change::Encryption
                    }
                    45..53 => {
                        let kty = ["RSA", "EC", "OKP", "oct", "weird"][usize::from(extra)];
                        let kty = if object["kty"] == kty { "weird" } else { kty };
                        object.insert("kty".into(), Value::from(kty));
                        Change::KeyType
                    }
                    53..61 => {
                        object.remove(&param);
                        Change::Missing
                    }
                    61..71 => {
                        let text = object[&param].as_str().unwrap_or_default().to_owned();
                        let cut = at.index(text.len().max(1));
                        object.insert(param, Value::from(&text[..cut.min(text.len())]));
                        Change::Truncated
                    }
                    71..79 => {
                        let text = object[&param].as_str().unwrap_or_default();
                        let spoiled = format!("{}%!", &text[..text.len() / 2]);
                        object.insert(param, Value::from(spoiled));
                        Change::Garbage
                    }
                    79..86 => {
                        let crv = ["P-521", "secp256k1", "X25519", "Ed448"][usize::from(extra)];
                        object.insert("crv".into(), Value::from(crv));
                        Change::Curve
                    }
                    86..94 => {
                        let alg = if object["kty"] == "RSA" {
                            "ES256"
                        } else {
                            "RS256"
                        };
                        object.insert("alg".into(), Value::from(alg));
                        Change::Alg
                    }
                    _ => {
                        jwk = [json!(null), json!(5), json!("key"), json!([])][usize::from(extra)]
                            .clone();
                        Change::NotObject
                    }
                };
                Generated { jwk, change }
            })
    }

    /// A document of generated JWKs, sometimes with other top-level members.
    fn document() -> impl Strategy<Value = (Vec<Generated>, String)> {
        (proptest::collection::vec(jwk(), 0..5), any::<bool>()).prop_map(|(keys, extra)| {
            let mut doc = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
            if extra {
                doc["issuer"] = Value::from("https://idp.example.com");
            }
            (keys, doc.to_string())
        })
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-zA-Z0-9_+/=-]{0,40}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("keys".to_owned()),
                        Just("kty".to_owned()),
                        "[a-z]{1,4}"
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// What every parse of a generated document must satisfy; returns the kids it kept.
    fn check(keys: &[Generated], text: &str) -> Result<Option<BTreeSet<String>>, TestCaseError> {
        let intact: BTreeSet<&str> = keys
            .iter()
            .filter(|k| k.change == Change::Intact)
            .filter_map(Generated::kid)
            .collect();
        let usable_kids: BTreeSet<&str> = keys
            .iter()
            .filter(|k| !matches!(k.change, Change::Encryption | Change::NotObject))
            .filter_map(Generated::kid)
            .collect();
        match parse_jwks(text.as_bytes()) {
            Ok(parsed) => {
                prop_assert!(!parsed.is_empty());
                let kids: BTreeSet<String> = parsed
                    .iter()
                    .filter_map(|k| k.kid().map(str::to_owned))
                    .collect();
                for kid in &intact {
                    prop_assert!(kids.contains(*kid), "intact key {kid} dropped: {text}");
                }
                for kid in &kids {
                    prop_assert!(
                        usable_kids.contains(kid.as_str()),
                        "{kid} used although every key under it is unusable: {text}"
                    );
                }
                Ok(Some(kids))
            }
            Err(_) => {
                prop_assert!(
                    intact.is_empty() && !keys.iter().any(|k| k.change == Change::Intact),
                    "a document with an intact key was refused: {text}"
                );
                Ok(None)
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

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

        #[test]
        fn intact_keys_are_kept_and_unusable_ones_never_used((keys, text) in document()) {
            check(&keys, &text)?;
        }
    }

    #[test]
    fn the_generator_reaches_every_kind_of_document() {
        // Guard against a generator that never produces what the property is about.
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let mut changes = BTreeSet::new();
        let (mut usable, mut refused, mut mixed, mut changed_but_kept) = (0, 0, 0, 0);
        for _ in 0..1500 {
            let (keys, text) = document().new_tree(&mut runner).unwrap().current();
            changes.extend(keys.iter().map(|k| k.change));
            let intact = keys.iter().any(|k| k.change == Change::Intact);
            let broken = keys.iter().any(|k| k.change != Change::Intact);
            match check(&keys, &text).unwrap() {
                Some(_) if !intact => changed_but_kept += 1,
                Some(_) => usable += 1,
                None => refused += 1,
            }
            mixed += usize::from(intact && broken);
        }
        assert_eq!(changes.len(), 9, "changes reached: {changes:?}");
        assert!(
            [usable, refused, mixed].iter().all(|n| *n >= 100) && changed_but_kept > 0,
            "usable {usable}, refused {refused}, mixed {mixed}, changed but kept {changed_but_kept}"
        );
    }
}
