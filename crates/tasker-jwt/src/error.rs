//! The one error type of this crate. No variant carries key material or a token.

/// Why a key pair could not be generated or a token could not be minted.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The requested RSA modulus size is not one of [`crate::SUPPORTED_KEY_SIZES`].
    #[error("unsupported RSA key size {0}; expected 2048, 3072 or 4096")]
    UnsupportedKeySize(u32),
    /// The crypto library failed to generate or serialize a key.
    #[error("RSA key generation failed")]
    KeyGeneration,
    /// The text is not a PEM `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) block.
    #[error("not a PEM private key (expected BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)")]
    NotPrivateKeyPem,
    /// The PEM block does not hold a usable RSA private key.
    #[error("invalid RSA private key: {0}")]
    InvalidPrivateKey(#[source] jsonwebtoken::errors::Error),
    /// The claims could not be serialized for signing.
    #[error("cannot sign token: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
    /// The claims are not acceptable (e.g. a lifetime that overflows).
    #[error("invalid claims: {0}")]
    InvalidClaims(&'static str),
}
