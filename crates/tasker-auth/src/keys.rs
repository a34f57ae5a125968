//! Verification keys, held as an immutable [`KeySet`] that a [`KeyStore`] swaps atomically:
//! readers on the request path never take a lock, and a refresh replaces the whole set.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, DecodingKey};

/// Which algorithms a key can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

impl KeyFamily {
    pub(crate) fn accepts(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyFamily::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyFamily::EcP256 => alg == ES256,
            KeyFamily::EcP384 => alg == ES384,
            KeyFamily::Ed25519 => alg == EdDSA,
        }
    }
}

/// One public key able to verify tokens.
#[derive(Clone)]
pub struct VerificationKey {
    pub(crate) kid: Option<String>,
    pub(crate) family: KeyFamily,
    pub(crate) alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
}

impl VerificationKey {
    /// An RSA public key from PEM (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`).
    pub fn rsa_pem(pem: &str, kid: Option<String>) -> Result<Self, String> {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|_| "not a valid RSA public key in PEM form".to_owned())?;
        Ok(Self {
            kid,
            family: KeyFamily::Rsa,
            alg: None,
            key,
        })
    }

    /// A key from one JWK of a key set: RSA, EC P-256/P-384 or Ed25519. `None` for keys
    /// meant for encryption (`use = "enc"`) and key types Tasker does not verify with.
    pub fn from_jwk(jwk: &jsonwebtoken::jwk::Jwk) -> Option<Result<Self, String>> {
        use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, PublicKeyUse};
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return None;
        }
        let family = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => KeyFamily::Rsa,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => KeyFamily::EcP256,
                EllipticCurve::P384 => KeyFamily::EcP384,
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                KeyFamily::Ed25519
            }
            _ => return None,
        };
        let alg = match jwk.common.key_algorithm {
            Some(alg) => match alg.to_string().parse::<Algorithm>() {
                Ok(alg) => Some(alg),
                Err(_) => return None,
            },
            None => None,
        };
        Some(
            DecodingKey::from_jwk(jwk)
                .map(|key| Self {
                    kid: jwk.common.key_id.clone(),
                    family,
                    alg,
                    key,
                })
                .map_err(|_| "invalid key parameters".to_owned()),
        )
    }

    /// The key id, when the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish()
    }
}

/// An immutable set of keys with a generation number (cache entries of older generations are
/// stale).
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
    generation: u64,
}

impl KeySet {
    /// The key for a token's `kid`: by id, or the only key when the set has exactly one key
    /// and either side has no id.
    pub(crate) fn find(&self, kid: Option<&str>) -> Option<&VerificationKey> {
        if let Some(key) =
            kid.and_then(|kid| self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)))
        {
            return Some(key);
        }
        match self.keys.as_slice() {
            [only] if only.kid.is_none() || kid.is_none() => Some(only),
            _ => None,
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
}

/// The current key set, swappable without blocking readers.
#[derive(Debug)]
pub struct KeyStore {
    current: ArcSwap<KeySet>,
    loaded: AtomicBool,
    generations: AtomicU64,
}

impl KeyStore {
    /// A store that has never been loaded (JWT requests get 503 until [`KeyStore::replace`]).
    pub fn unloaded() -> Self {
        Self {
            current: ArcSwap::from_pointee(KeySet::default()),
            loaded: AtomicBool::new(false),
            generations: AtomicU64::new(0),
        }
    }

    /// A store holding `keys` from the start.
    pub fn with_keys(keys: Vec<VerificationKey>) -> Self {
        let store = Self::unloaded();
        store.replace(keys);
        store
    }

    /// Replaces the whole key set; tokens verified with removed keys stop being cached.
    pub fn replace(&self, keys: Vec<VerificationKey>) {
        let generation = self.generations.fetch_add(1, Ordering::AcqRel) + 1;
        self.current.store(Arc::new(KeySet { keys, generation }));
        self.loaded.store(true, Ordering::Release);
    }

    /// The current set.
    pub fn snapshot(&self) -> Arc<KeySet> {
        self.current.load_full()
    }

    /// Whether a key set was ever loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }
}
