//! Fixture keys (compiled in from `crates/tasker-auth/tests/fixtures`) and RS256 token minting.
//! Signing costs about a millisecond, so pools of distinct tokens are minted on every core
//! before any timing starts.

use anyhow::{Context, Result, anyhow};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

/// Private key of fixture `rsa-a` (PKCS#8 PEM).
pub(crate) const PRIVATE_KEY_PEM: &str =
    include_str!("../../tasker-auth/tests/fixtures/rsa-a-private.pem");
/// Public key of fixture `rsa-a` (SPKI PEM), as the server is configured with it.
pub(crate) const PUBLIC_KEY_PEM: &str =
    include_str!("../../tasker-auth/tests/fixtures/rsa-a-public.pem");
/// Public key of fixture `rsa-a` (PKCS#1 PEM), the form raw RSA verification takes.
pub(crate) const PUBLIC_KEY_PKCS1_PEM: &str =
    include_str!("../../tasker-auth/tests/fixtures/rsa-a-public-pkcs1.pem");

/// Permission carried by every minted token (the bench route needs `templates:read`).
pub(crate) const PERMISSION: &str = "templates:read";

/// Mints `count` valid tokens that differ only by `jti`, using all available cores.
pub(crate) fn mint(count: usize) -> Result<Vec<String>> {
    let key = EncodingKey::from_rsa_pem(PRIVATE_KEY_PEM.as_bytes())
        .context("fixture private key does not parse")?;
    let now = chrono::Utc::now().timestamp();
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = count.div_ceil(threads).max(1);
    let key = &key;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                let end = (start + chunk).min(count);
                scope.spawn(move || {
                    (start..end)
                        .map(|i| sign(key, now, i))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut tokens = Vec::with_capacity(count);
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| anyhow!("a minting thread panicked"))??;
            tokens.extend(part);
        }
        Ok(tokens)
    })
}

fn sign(key: &EncodingKey, now: i64, index: usize) -> Result<String> {
    let claims = json!({
        "sub": "tasker-bench",
        "iss": "tasker-core",
        "aud": "tasker-api",
        "iat": now,
        "exp": now + 3600,
        "jti": format!("bench-{index}-{}", uuid::Uuid::new_v4().simple()),
        "permissions": [PERMISSION],
    });
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, key)
        .context("cannot sign a token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_distinct() {
        let tokens = mint(5).unwrap();
        assert_eq!(tokens.len(), 5);
        let mut unique = tokens.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 5);
    }
}
