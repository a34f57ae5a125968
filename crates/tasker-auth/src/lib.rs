//! Authentication and authorization for both Tasker servers: bearer JWTs verified against a
//! static RSA key (or a key set that can be swapped at run time), API keys stored hashed,
//! permission checks as an axum extractor, and the auth metrics.
//!
//! A server builds one [`Authenticator`] from its `[web.auth]` section at startup and puts it
//! in its router state; handlers declare the permission they need with [`Authorized`].

mod api_keys;
mod authenticator;
mod cache;
mod claims;
mod error;
mod extract;
mod jwks;
mod jwt;
mod keys;
mod metrics;
mod principal;
mod thumbprint;
mod token_rules;

pub use authenticator::Authenticator;
pub use error::{AuthError, FailureReason, SetupError};
pub use extract::{Authorized, PermissionProbe, RequiredPermission, perm};
#[doc(hidden)]
pub use jwks::parse_jwks;
pub use jwks::{JwksError, JwksSource};
pub use jwt::{JwtVerifier, MAX_TOKEN_BYTES, VerifiedToken};
pub use keys::{KeySet, KeyStore, VerificationKey};
pub use principal::{AuthMethod, Principal};
pub use thumbprint::rsa_thumbprint;
