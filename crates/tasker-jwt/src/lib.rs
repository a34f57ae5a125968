//! Tasker token minting, shared by `tasker-ctl` and the client library: the claims Tasker
//! servers expect, RS256 signing with a PEM private key, and RSA key pair generation.
//!
//! Nothing here depends on a web framework or a database. Private keys are held in
//! [`PrivateKeyPem`], whose `Debug` prints nothing of the key; tokens are returned as plain
//! strings for the caller to wrap.

mod claims;
mod error;
mod keys;
mod mint;

pub use claims::Claims;
pub use error::JwtError;
pub use keys::{GeneratedKeyPair, PrivateKeyPem, SUPPORTED_KEY_SIZES, generate_rsa_keypair};
pub use mint::mint_token;
