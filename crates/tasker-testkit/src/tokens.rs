//! Token minting from the committed fixture keys.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Map, Value, json};

use crate::fixtures::fixture_text;

/// A token under construction: claims and header, defaults valid for the default config.
#[derive(Debug, Clone)]
pub struct Token {
    /// Claims to sign.
    pub claims: Map<String, Value>,
    /// JOSE header.
    pub header: Header,
    /// Private key fixture name.
    pub key: String,
}

impl Token {
    /// A valid token (issuer `tasker-core`, audience `tasker-api`, one hour) carrying
    /// `permissions`, signed with fixture key `rsa-a`.
    pub fn with_permissions(permissions: &[&str]) -> Self {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "sub": "test-user",
            "iss": "tasker-core",
            "aud": "tasker-api",
            "iat": now,
            "exp": now + 3600,
            "permissions": permissions,
        });
        Self {
            claims: claims.as_object().cloned().unwrap(),
            header: Header::new(Algorithm::RS256),
            key: "rsa-a-private.pem".into(),
        }
    }

    /// Sets a claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    /// Removes a claim.
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Signs with another fixture private key.
    pub fn signed_by(mut self, key: &str) -> Self {
        self.key = key.into();
        self
    }

    /// Changes the header.
    pub fn header(mut self, f: impl FnOnce(&mut Header)) -> Self {
        f(&mut self.header);
        self
    }

    /// The signed compact token.
    pub fn sign(&self) -> String {
        let pem = fixture_text(&self.key);
        let key = match self.header.alg {
            Algorithm::ES256 | Algorithm::ES384 => {
                EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()
            }
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        };
        encode(&self.header, &self.claims, &key).unwrap()
    }
}
