//! The JWKS document parser of `tasker-auth` (`parse_jwks`: the fetched body to a key set).
//!
//! Properties: never a panic; a document yields keys exactly when it holds at least one usable
//! signing key, and then it yields exactly those keys, in document order: a key whose material
//! a verifier would reject (an RSA modulus outside 2048..=8192 bits or with a bad exponent, an
//! EC point off its curve or of the wrong length, an Ed25519 key of the wrong length) or whose
//! `alg` its key type cannot verify never enters the set, so a corrupted document can never
//! replace a good key set with keys that verify nothing. The oracle below is written against
//! the crypto library directly, not against `tasker-auth`'s code.
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::rsa::PublicEncryptingKey;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey,
    RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tasker_auth::parse_jwks;

/// Whether an independent reading of one JWK finds a usable signing key.
fn usable(entry: &Value) -> bool {
    let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
        return false;
    };
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return false;
    }
    let decode = |text: &str| URL_SAFE_NO_PAD.decode(text).ok();
    let (material_ok, algorithms): (bool, &[Algorithm]) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            use Algorithm::*;
            let ok = match (decode(&rsa.n), decode(&rsa.e)) {
                (Some(n), Some(e)) => rsa_ok(&n, &e),
                _ => false,
            };
            (ok, &[RS256, RS384, RS512, PS256, PS384, PS512])
        }
        AlgorithmParameters::EllipticCurve(ec) => {
            let (alg, size, algorithm) = match ec.curve {
                EllipticCurve::P256 => (&ECDSA_P256_SHA256_FIXED, 32, &[Algorithm::ES256]),
                EllipticCurve::P384 => (&ECDSA_P384_SHA384_FIXED, 48, &[Algorithm::ES384]),
                _ => return false,
            };
            let ok = match (decode(&ec.x), decode(&ec.y)) {
                (Some(x), Some(y)) if x.len() == size && y.len() == size => {
                    let point = [&[4u8][..], &x, &y].concat();
                    ParsedPublicKey::new(alg, point).is_ok()
                }
                _ => false,
            };
            (ok, algorithm)
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            let ok = decode(&okp.x)
                .is_some_and(|x| x.len() == 32 && ParsedPublicKey::new(&ED25519, x).is_ok());
            (ok, &[Algorithm::EdDSA])
        }
        _ => return false,
    };
    let alg_ok = match jwk.common.key_algorithm {
        None => true,
        Some(alg) => alg
            .to_string()
            .parse::<Algorithm>()
            .is_ok_and(|alg| algorithms.contains(&alg)),
    };
    material_ok && alg_ok
}

/// RSA components a verifier accepts: 2048..=8192-bit odd modulus, odd exponent of 2..=33
/// bits below the modulus (leading zero octets, which some providers emit, are ignored).
fn rsa_ok(n: &[u8], e: &[u8]) -> bool {
    let strip = |b: &[u8]| -> Vec<u8> { b.iter().copied().skip_while(|x| *x == 0).collect() };
    let (n, e) = (strip(n), strip(e));
    let bits = |b: &[u8]| {
        b.first()
            .map_or(0, |top| 8 * b.len() - top.leading_zeros() as usize)
    };
    let odd = |b: &[u8]| b.last().is_some_and(|x| x & 1 == 1);
    let components = RsaPublicKeyComponents { n: &n, e: &e };
    let encrypting: Result<PublicEncryptingKey, _> = components.try_into();
    encrypting.is_ok_and(|k| (2048..=8192).contains(&k.key_size_bits()))
        && odd(&n)
        && odd(&e)
        && (2..=33).contains(&bits(&e))
}

fn fixture_document() -> Vec<u8> {
    let fixtures: Value = serde_json::from_str(include_str!(
        "../../crates/tasker-auth/tests/fixtures/jwks-keys.json"
    ))
    .expect("fixture JWKS");
    let keys: Vec<Value> = fixtures
        .as_object()
        .expect("object")
        .values()
        .cloned()
        .collect();
    serde_json::json!({ "keys": keys }).to_string().into_bytes()
}

static CHECKED: LazyLock<()> = LazyLock::new(|| {
    // The oracle and the parser agree that every fixture key is usable.
    let doc = fixture_document();
    let keys = parse_jwks(&doc).expect("the fixture key set parses");
    let value: Value = serde_json::from_slice(&doc).expect("JSON");
    let entries = value["keys"].as_array().expect("keys");
    assert!(entries.iter().all(usable), "oracle refuses a fixture key");
    assert_eq!(keys.len(), entries.len());
});

fuzz_target!(|data: &[u8]| {
    LazyLock::force(&CHECKED);
    let result = parse_jwks(data);
    let expected: Vec<Option<String>> = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|doc| doc.get("keys").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter(|entry| usable(entry))
        .map(|entry| entry.get("kid").and_then(Value::as_str).map(str::to_owned))
        .collect();
    match result {
        Ok(keys) => {
            assert!(!keys.is_empty(), "an empty key set was accepted");
            let kids: Vec<Option<String>> =
                keys.iter().map(|k| k.kid().map(str::to_owned)).collect();
            assert_eq!(
                kids, expected,
                "the key set differs from the usable keys of the document"
            );
        }
        Err(err) => {
            assert!(
                expected.is_empty(),
                "usable keys {expected:?} were refused: {err}"
            );
            assert!(!err.to_string().is_empty());
        }
    }
});
