//! Console sessions: the random id the browser holds, what the store keeps of it (a hash and
//! the credential sealed with a key derived from the id), the CSRF token bound to it, and the
//! session cookie.
//!
//! The store never holds anything that signs a request in: without the cookie's id, a stored
//! row can be neither looked up by a browser nor unsealed into the credential.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Name of the session cookie.
pub(crate) const COOKIE_NAME: &str = "tasker_console";

/// The random session id; only the browser's cookie holds it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionId(String);

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(..)")
    }
}

/// What a signed-in operator pasted; kept only sealed in the store.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// An API key, sent in the configured API key header.
    ApiKey(String),
    /// A bearer token, sent as `Authorization: Bearer`.
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::ApiKey(_) => f.write_str("ApiKey(***)"),
            Credential::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

impl Credential {
    /// The request headers an API client would send with this credential.
    pub(crate) fn headers(&self, api_key_header: axum::http::HeaderName) -> Option<HeaderMap> {
        let mut headers = HeaderMap::new();
        match self {
            Credential::ApiKey(key) => {
                headers.insert(api_key_header, key.parse().ok()?);
            }
            Credential::Bearer(token) => {
                let value = format!("Bearer {token}");
                headers.insert(axum::http::header::AUTHORIZATION, value.parse().ok()?);
            }
        }
        Some(headers)
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Credential::ApiKey(key) => format!("k:{key}").into_bytes(),
            Credential::Bearer(token) => format!("b:{token}").into_bytes(),
        }
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        if let Some(key) = text.strip_prefix("k:") {
            Some(Credential::ApiKey(key.to_owned()))
        } else {
            text.strip_prefix("b:")
                .map(|token| Credential::Bearer(token.to_owned()))
        }
    }
}

impl SessionId {
    /// A new id: 32 bytes from a cryptographically secure generator (reseeded from the operating system).
    pub(crate) fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The id of the request's session cookie, when it has a well-formed one.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        Self::from_cookie(headers, COOKIE_NAME)
    }

    /// The id held by the cookie `name`, when it is well-formed.
    pub(crate) fn from_cookie(headers: &HeaderMap, name: &str) -> Option<Self> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
            .filter(|v| v.len() == 43 && URL_SAFE_NO_PAD.decode(v).is_ok())
            .map(|v| Self(v.to_owned()))
    }

    fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(purpose.as_bytes());
        digest.update([0]);
        digest.update(self.0.as_bytes());
        digest.finalize().into()
    }

    /// The store's key for this session.
    pub(crate) fn lookup_hash(&self) -> String {
        hex::encode(self.derive("tasker-console-lookup"))
    }

    /// The CSRF token of this session's forms.
    pub(crate) fn csrf_token(&self) -> String {
        hex::encode(self.derive("tasker-console-csrf"))
    }

    /// The store's key for a row of another kind (a pending OIDC sign-in), never equal to a
    /// session's for the same id.
    pub(crate) fn lookup_hash_for(&self, purpose: &str) -> String {
        hex::encode(self.derive(&format!("{purpose}-lookup")))
    }

    fn key(&self, purpose: &str) -> Option<LessSafeKey> {
        let key = UnboundKey::new(&AES_256_GCM, &self.derive(purpose)).ok()?;
        Some(LessSafeKey::new(key))
    }

    /// Seals a credential for the store (AES-256-GCM, random nonce, base64).
    pub(crate) fn seal(&self, credential: &Credential) -> Option<String> {
        self.seal_bytes("tasker-console-seal", credential.encode())
    }

    /// Opens a sealed credential; `None` when it was not sealed for this id.
    pub(crate) fn open(&self, sealed: &str) -> Option<Credential> {
        Credential::decode(&self.open_bytes("tasker-console-seal", sealed)?)
    }

    /// Seals `data` under the key this id derives for `purpose`.
    pub(crate) fn seal_bytes(&self, purpose: &str, mut data: Vec<u8>) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        self.key(purpose)?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"tasker-console"),
                &mut data,
            )
            .ok()?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        Some(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// Opens what [`SessionId::seal_bytes`] sealed for the same id and purpose.
    pub(crate) fn open_bytes(&self, purpose: &str, sealed: &str) -> Option<Vec<u8>> {
        let mut bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let mut data = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).ok()?;
        let plain = self
            .key(purpose)?
            .open_in_place(nonce, Aad::from(b"tasker-console"), &mut data)
            .ok()?;
        Some(plain.to_vec())
    }

    /// The random value itself, for a single-use secret (OIDC `state`, `nonce`, PKCE
    /// verifier) that is never stored in a cookie.
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }

    /// The `Set-Cookie` value that stores this id in the browser for `max_age` seconds.
    pub(crate) fn cookie(&self, max_age: i64, secure: bool) -> String {
        format!(
            "{COOKIE_NAME}={}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
            self.0,
            if secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` value of a pending OIDC sign-in: `SameSite=Lax`, because the
    /// identity provider's redirect back is a navigation from another site, and only for
    /// the callback's path.
    pub(crate) fn pending_cookie(
        &self,
        name: &str,
        path: &str,
        max_age: i64,
        secure: bool,
    ) -> String {
        format!(
            "{name}={}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
            self.0,
            if secure { "; Secure" } else { "" }
        )
    }
}

/// The `Set-Cookie` value that removes the session cookie.
pub(crate) fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE_NAME}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether the browser reached the server over TLS (directly or through a proxy that says
/// so), so the cookie is marked `Secure`.
pub(crate) fn behind_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_credential_opens_only_with_its_own_id() {
        let id = SessionId::generate();
        let credential = Credential::ApiKey("sk-secret".to_owned());
        let sealed = id.seal(&credential).unwrap();
        assert!(!sealed.contains("sk-secret"));
        assert_eq!(id.open(&sealed), Some(credential));
        assert_eq!(SessionId::generate().open(&sealed), None);
    }

    #[test]
    fn the_lookup_hash_and_csrf_token_differ_from_the_id_and_each_other() {
        let id = SessionId::generate();
        assert_ne!(id.lookup_hash(), id.csrf_token());
        assert!(!id.lookup_hash().contains(&id.0));
        assert_eq!(id.lookup_hash(), id.clone().lookup_hash());
    }

    #[test]
    fn the_cookie_is_read_back_and_malformed_ids_are_ignored() {
        let id = SessionId::generate();
        let mut headers = HeaderMap::new();
        let cookie = format!("other=1; {COOKIE_NAME}={}", id.0);
        headers.insert(COOKIE, cookie.parse().unwrap());
        assert_eq!(SessionId::from_headers(&headers), Some(id.clone()));
        headers.insert(COOKIE, format!("{COOKIE_NAME}=short").parse().unwrap());
        assert_eq!(SessionId::from_headers(&headers), None);
        let set = id.cookie(60, true);
        assert!(set.contains("HttpOnly; SameSite=Strict") && set.ends_with("; Secure"));
        assert!(set.contains("Path=/ui;"));
    }
}
