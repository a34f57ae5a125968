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
    /// RFC 7638 thumbprint of a static key: the `kid` that names it.
    pub(crate) thumbprint: Option<String>,
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
            thumbprint: Some(crate::thumbprint::rsa_thumbprint(pem)?),
            family: KeyFamily::Rsa,
            alg: None,
            key,
        })
    }

    /// A key from one JWK of a key set: RSA, EC P-256/P-384 or Ed25519. `None` for keys
    /// meant for encryption (`use = "enc"`) and key types Tasker does not verify with;
    /// `Some(Err)` for a key that could never verify a signature: bad key material (an RSA
    /// modulus outside 2048..=8192 bits or a bad exponent, an EC point off its curve, a
    /// coordinate of the wrong length) or an `alg` its key type cannot verify. Such keys must
    /// not enter a key set, or a corrupted document would replace good keys with useless ones.
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
                Ok(alg) if family.accepts(alg) => Some(alg),
                Ok(alg) => {
                    return Some(Err(format!(
                        "`alg` {alg:?} cannot be verified with a {family:?} key"
                    )));
                }
                Err(_) => return None,
            },
            None => None,
        };
        Some(
            material::decoding_key(&jwk.algorithm, family).map(|key| Self {
                kid: jwk.common.key_id.clone(),
                thumbprint: None,
                family,
                alg,
                key,
            }),
        )
    }

    /// The key id, when the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The RFC 7638 thumbprint of a key read from PEM.
    pub fn thumbprint(&self) -> Option<&str> {
        self.thumbprint.as_deref()
    }
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("thumbprint", &self.thumbprint)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish()
    }
}

/// Key material checks: only material the verifier can use becomes a [`DecodingKey`].
mod material {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
    };
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::DecodingKey;
    use jsonwebtoken::jwk::AlgorithmParameters;

    use super::KeyFamily;

    /// RSA modulus sizes the verifier accepts (the `RSA_*_2048_8192_*` parameters).
    const RSA_MODULUS_BITS: std::ops::RangeInclusive<usize> = 2048..=8192;
    /// Largest RSA public exponent the crypto library accepts.
    const RSA_MAX_EXPONENT_BITS: usize = 33;

    pub(super) fn decoding_key(
        params: &AlgorithmParameters,
        family: KeyFamily,
    ) -> Result<DecodingKey, String> {
        let decode = |field: &str, text: &str| {
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| format!("`{field}` is not unpadded base64url"))
        };
        match (params, family) {
            (AlgorithmParameters::RSA(rsa), KeyFamily::Rsa) => {
                let n = decode("n", &rsa.n)?;
                let e = decode("e", &rsa.e)?;
                // Leading zero octets are not allowed by RFC 7518 but some providers emit
                // them; the crypto library refuses them, so drop them here.
                let (n, e) = (strip_leading_zeros(&n), strip_leading_zeros(&e));
                if !RSA_MODULUS_BITS.contains(&bit_length(n)) || !is_odd(n) {
                    return Err(format!(
                        "RSA modulus of {} bits (expected an odd modulus of 2048 to 8192 bits)",
                        bit_length(n)
                    ));
                }
                if !is_odd(e) || !(2..=RSA_MAX_EXPONENT_BITS).contains(&bit_length(e)) {
                    return Err("unusable RSA public exponent".into());
                }
                Ok(DecodingKey::from_rsa_raw_components(n, e))
            }
            (AlgorithmParameters::EllipticCurve(ec), KeyFamily::EcP256 | KeyFamily::EcP384) => {
                let (algorithm, size) = if family == KeyFamily::EcP256 {
                    (&ECDSA_P256_SHA256_FIXED, 32)
                } else {
                    (&ECDSA_P384_SHA384_FIXED, 48)
                };
                let x = decode("x", &ec.x)?;
                let y = decode("y", &ec.y)?;
                if x.len() != size || y.len() != size {
                    return Err(format!("EC coordinates must be {size} bytes each"));
                }
                let point = [&[4u8][..], &x, &y].concat();
                ParsedPublicKey::new(algorithm, &point)
                    .map_err(|_| "EC point is not on the curve".to_owned())?;
                DecodingKey::from_ec_components(&ec.x, &ec.y)
                    .map_err(|_| "invalid key parameters".to_owned())
            }
            (AlgorithmParameters::OctetKeyPair(okp), KeyFamily::Ed25519) => {
                let x = decode("x", &okp.x)?;
                if x.len() != 32 {
                    return Err("Ed25519 public key must be 32 bytes".into());
                }
                ParsedPublicKey::new(&ED25519, &x)
                    .map_err(|_| "invalid Ed25519 public key".to_owned())?;
                DecodingKey::from_ed_components(&okp.x)
                    .map_err(|_| "invalid key parameters".to_owned())
            }
            _ => Err("key parameters do not match the key type".into()),
        }
    }

    fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        &bytes[start..]
    }

    /// Bit length of a big-endian unsigned integer without leading zero octets.
    fn bit_length(bytes: &[u8]) -> usize {
        bytes
            .first()
            .map_or(0, |top| 8 * bytes.len() - top.leading_zeros() as usize)
    }

    fn is_odd(bytes: &[u8]) -> bool {
        bytes.last().is_some_and(|b| b & 1 == 1)
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
    /// The keys to try for a token's `kid`: the key whose id or thumbprint it is; the only key
    /// when the set has exactly one and either side has no id; every key when the token has no
    /// `kid` and no key has an id (static keys, at most five). Empty when nothing matches.
    pub(crate) fn candidates(&self, kid: Option<&str>) -> Vec<&VerificationKey> {
        if let Some(key) = kid.and_then(|kid| {
            self.keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid) || k.thumbprint.as_deref() == Some(kid))
        }) {
            return vec![key];
        }
        match self.keys.as_slice() {
            [only] if only.kid.is_none() || kid.is_none() => vec![only],
            keys if kid.is_none() && keys.iter().all(|k| k.kid.is_none()) => keys.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// The keys, in configuration order.
    pub(crate) fn keys(&self) -> &[VerificationKey] {
        &self.keys
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

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::jwk::Jwk;
    use serde_json::Value;

    use super::VerificationKey;

    fn fixture(name: &str) -> Value {
        let all: Value =
            serde_json::from_str(include_str!("../tests/fixtures/jwks-keys.json")).unwrap();
        all[name].clone()
    }

    fn from_value(value: Value) -> Option<Result<VerificationKey, String>> {
        VerificationKey::from_jwk(&serde_json::from_value::<Jwk>(value).unwrap())
    }

    // Found by the `jwks_document` fuzz target: a JWK whose modulus was cut short (about 1500
    // bits) was accepted, so a document holding only such keys replaced a good key set with
    // keys that verify nothing.
    #[test]
    fn rsa_modulus_outside_2048_to_8192_bits_is_refused() {
        let mut short = fixture("rsa-a");
        let n = short["n"].as_str().unwrap().to_owned();
        short["n"] = Value::from(format!("{}{}", &n[..250], &n[n.len() - 6..]));
        assert!(matches!(from_value(short), Some(Err(why)) if why.contains("RSA modulus")));
        let tiny = serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
        assert!(matches!(from_value(tiny), Some(Err(_))));
        let mut even_exponent = fixture("rsa-a");
        even_exponent["e"] = Value::from("AQAA");
        assert!(matches!(from_value(even_exponent), Some(Err(_))));
        let doc = serde_json::json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]});
        assert!(crate::jwks::parse_jwks(doc.to_string().as_bytes()).is_err());
    }

    #[test]
    fn ec_point_off_the_curve_or_of_the_wrong_length_is_refused() {
        let mut off_curve = fixture("ec-p256");
        let x = off_curve["x"].as_str().unwrap();
        let flipped = if x.starts_with('A') { "B" } else { "A" };
        off_curve["x"] = Value::from(format!("{flipped}{}", &x[1..]));
        assert!(matches!(from_value(off_curve), Some(Err(why)) if why.contains("curve")));
        let mut short = fixture("ec-p384");
        short["y"] = fixture("ec-p256")["y"].clone();
        assert!(matches!(from_value(short), Some(Err(_))));
        let mut ed = fixture("ed25519");
        ed["x"] = Value::from("AQAB");
        assert!(matches!(from_value(ed), Some(Err(_))));
    }

    #[test]
    fn alg_the_key_type_cannot_verify_is_refused() {
        let mut rsa = fixture("rsa-b");
        rsa["alg"] = Value::from("ES256");
        assert!(matches!(from_value(rsa), Some(Err(why)) if why.contains("alg")));
        let mut ec = fixture("ec-p256");
        ec["alg"] = Value::from("ES384");
        assert!(matches!(from_value(ec), Some(Err(_))));
    }

    #[test]
    fn fixture_keys_are_usable() {
        for name in ["rsa-a", "rsa-b", "ec-p256", "ec-p384", "ed25519"] {
            assert!(matches!(from_value(fixture(name)), Some(Ok(_))), "{name}");
        }
    }

    #[test]
    fn static_keys_are_picked_by_thumbprint_or_all_tried_without_kid() {
        let pem = |name: &str| {
            std::fs::read_to_string(format!(
                "{}/tests/fixtures/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap()
        };
        let a = VerificationKey::rsa_pem(&pem("rsa-a-public.pem"), None).unwrap();
        let b = VerificationKey::rsa_pem(&pem("rsa-b-public.pem"), None).unwrap();
        let b_kid = b.thumbprint().unwrap().to_owned();
        let set = super::KeySet {
            keys: vec![a.clone(), b],
            generation: 1,
        };
        let thumbprints = |keys: Vec<&VerificationKey>| -> Vec<String> {
            keys.iter()
                .map(|k| k.thumbprint().unwrap().to_owned())
                .collect()
        };
        assert_eq!(thumbprints(set.candidates(Some(&b_kid))), vec![b_kid]);
        assert_eq!(set.candidates(None).len(), 2);
        assert!(set.candidates(Some("key-7")).is_empty());
        let single = super::KeySet {
            keys: vec![a],
            generation: 1,
        };
        assert_eq!(
            single.candidates(Some("key-7")).len(),
            1,
            "one key: kid unchecked"
        );
    }

    #[test]
    fn a_modulus_with_a_leading_zero_octet_still_verifies() {
        let mut padded = fixture("rsa-a");
        let n = URL_SAFE_NO_PAD
            .decode(padded["n"].as_str().unwrap())
            .unwrap();
        padded["n"] = Value::from(URL_SAFE_NO_PAD.encode([&[0u8][..], &n].concat()));
        let key = from_value(padded).unwrap().unwrap();
        let token = tasker_testkit::Token::with_permissions(&["*"]).sign();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["tasker-api"]);
        jsonwebtoken::decode::<Value>(&token, &key.key, &validation).unwrap();
    }
}
