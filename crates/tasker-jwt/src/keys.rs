//! RSA key pair generation for token signing: a PKCS#8 private key and an SPKI public key,
//! both PEM-encoded.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::JwtError;

/// RSA modulus sizes [`generate_rsa_keypair`] accepts.
pub const SUPPORTED_KEY_SIZES: [u32; 3] = [2048, 3072, 4096];

/// A PEM-encoded private key. `Debug` never shows the key; only [`PrivateKeyPem::expose`]
/// reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKeyPem(String);

impl PrivateKeyPem {
    /// Wraps PEM text.
    pub fn new(pem: impl Into<String>) -> Self {
        Self(pem.into())
    }

    /// The PEM text. Callers must not log or display it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PrivateKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKeyPem(***)")
    }
}

/// A freshly generated RSA key pair.
#[derive(Debug, Clone)]
pub struct GeneratedKeyPair {
    /// PKCS#8 `PRIVATE KEY` PEM.
    pub private_key: PrivateKeyPem,
    /// SPKI `PUBLIC KEY` PEM, what servers configure as `jwt_public_key_path`.
    pub public_key_pem: String,
}

/// Generates an RSA key pair of `bits` (2048, 3072 or 4096).
///
/// Generation takes from tens of milliseconds (2048) to seconds (4096).
pub fn generate_rsa_keypair(bits: u32) -> Result<GeneratedKeyPair, JwtError> {
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        other => return Err(JwtError::UnsupportedKeySize(other)),
    };
    let pair = KeyPair::generate(size).map_err(|_| JwtError::KeyGeneration)?;
    let private: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| JwtError::KeyGeneration)?;
    let public: PublicKeyX509Der<'static> = pair
        .public_key()
        .as_der()
        .map_err(|_| JwtError::KeyGeneration)?;
    Ok(GeneratedKeyPair {
        private_key: PrivateKeyPem(pem_encode("PRIVATE KEY", private.as_ref())),
        public_key_pem: pem_encode("PUBLIC KEY", public.as_ref()),
    })
}

/// RFC 7468 text encoding: base64 in lines of 64 characters between the labels.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::OnceLock;

    use super::*;

    /// One 2048-bit pair for every test of this binary (generation is slow).
    pub(crate) fn fixture() -> &'static GeneratedKeyPair {
        static PAIR: OnceLock<GeneratedKeyPair> = OnceLock::new();
        PAIR.get_or_init(|| generate_rsa_keypair(2048).unwrap())
    }

    fn der_of(pem: &str, label: &str) -> Vec<u8> {
        let begin = format!("-----BEGIN {label}-----\n");
        let end = format!("-----END {label}-----\n");
        let body = pem
            .strip_prefix(&begin)
            .unwrap()
            .strip_suffix(&end)
            .unwrap();
        assert!(body.lines().all(|line| line.len() <= 64));
        assert!(body.lines().rev().skip(1).all(|line| line.len() == 64));
        STANDARD.decode(body.replace('\n', "")).unwrap()
    }

    #[test]
    fn pair_is_pkcs8_and_spki_pem_of_the_requested_size() {
        let pair = fixture();
        let private = der_of(pair.private_key.expose(), "PRIVATE KEY");
        let public = der_of(&pair.public_key_pem, "PUBLIC KEY");
        // Both parse back with the crypto library, and the private key's public half is the
        // public key written alongside it.
        let parsed = KeyPair::from_pkcs8(&private).unwrap();
        assert_eq!(parsed.public_modulus_len() * 8, 2048);
        let reencoded: PublicKeyX509Der<'static> = parsed.public_key().as_der().unwrap();
        assert_eq!(reencoded.as_ref(), public.as_slice());
    }

    #[test]
    fn unsupported_sizes_are_refused_before_generating() {
        for bits in [0, 1024, 2047, 8192] {
            assert!(matches!(
                generate_rsa_keypair(bits),
                Err(JwtError::UnsupportedKeySize(b)) if b == bits
            ));
        }
    }

    #[test]
    fn debug_hides_the_private_key() {
        let pair = fixture();
        let text = format!("{pair:?}");
        assert!(text.contains("PrivateKeyPem(***)"));
        assert!(!text.contains("PRIVATE KEY-----"));
        let body_line = pair.private_key.expose().lines().nth(1).unwrap();
        assert!(!text.contains(body_line));
    }
}
