//! RFC 7638 JWK thumbprints of RSA public keys: the key id a static key answers to, so a token
//! minted with `kid` = the thumbprint names its key without any registry of ids.

use aws_lc_rs::rsa::{PublicKey, PublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// The RFC 7638 thumbprint (SHA-256, base64url without padding) of an RSA public key given as
/// PEM (SPKI `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`).
pub fn rsa_thumbprint(pem: &str) -> Result<String, String> {
    let der = pem_body(pem).ok_or_else(|| "not a PEM public key".to_owned())?;
    let key = PublicKey::from_der(&der)
        .map_err(|_| "not a valid RSA public key in PEM form".to_owned())?;
    let parts = PublicKeyComponents::<Vec<u8>>::from(&key);
    Ok(thumbprint_of(&parts.n, &parts.e))
}

/// The thumbprint of the RSA key with modulus `n` and exponent `e` (big-endian, no leading
/// zeros): the hash of the required members in lexicographic order, without whitespace.
fn thumbprint_of(n: &[u8], e: &[u8]) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(e),
        URL_SAFE_NO_PAD.encode(n)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// The DER bytes between the first `-----BEGIN …-----` line and its `-----END …-----` line.
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let mut lines = pem.lines().map(str::trim);
    lines.find(|line| line.starts_with("-----BEGIN "))?;
    let mut body = String::new();
    for line in lines {
        if line.starts_with("-----END ") {
            return STANDARD.decode(body).ok();
        }
        body.push_str(line);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name),
        )
        .unwrap()
    }

    // The example of RFC 7638 section 3.1.
    #[test]
    fn rfc_7638_example() {
        let n = URL_SAFE_NO_PAD
            .decode(
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            )
            .unwrap();
        let e = URL_SAFE_NO_PAD.decode("AQAB").unwrap();
        assert_eq!(
            thumbprint_of(&n, &e),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn spki_and_pkcs1_pem_of_one_key_have_its_jwk_thumbprint() {
        let jwks: serde_json::Value = serde_json::from_str(&fixture("jwks-keys.json")).unwrap();
        let jwk = &jwks["rsa-a"];
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
        let expected = thumbprint_of(&n, &e);
        assert_eq!(
            rsa_thumbprint(&fixture("rsa-a-public.pem")),
            Ok(expected.clone())
        );
        assert_eq!(
            rsa_thumbprint(&fixture("rsa-a-public-pkcs1.pem")),
            Ok(expected.clone())
        );
        let other = rsa_thumbprint(&fixture("rsa-b-public.pem")).unwrap();
        assert_ne!(other, expected);
        assert_eq!(other.len(), 43, "32 bytes in unpadded base64url");
    }

    #[test]
    fn non_rsa_or_junk_is_refused() {
        assert!(rsa_thumbprint("junk").is_err());
        assert!(rsa_thumbprint(&fixture("ec-p256-public.pem")).is_err());
        assert!(
            rsa_thumbprint("-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n").is_err()
        );
    }
}
