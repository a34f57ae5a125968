//! The API key registry: keys are hashed (SHA-256) at load, looked up by comparing digests in
//! constant time, and never kept in plaintext.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tasker_config::{ApiKeyConfig, parse_key_hash};
use tasker_proto::PermissionSet;

use crate::error::SetupError;

pub(crate) struct RegisteredKey {
    digest: [u8; 32],
    pub(crate) description: String,
    pub(crate) permissions: PermissionSet,
    pub(crate) expires_at: Option<i64>,
}

pub(crate) struct ApiKeyRegistry {
    keys: Vec<RegisteredKey>,
}

impl ApiKeyRegistry {
    pub(crate) fn from_config(entries: &[ApiKeyConfig]) -> Result<Self, SetupError> {
        let mut keys = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let path = format!("web.auth.api_keys[{index}]");
            let label = entry.label(index);
            let digest = match (&entry.key, &entry.key_hash) {
                (Some(key), None) if !key.is_empty() => {
                    Sha256::digest(key.expose().as_bytes()).into()
                }
                (None, Some(hash)) => parse_key_hash(hash.expose())
                    .map_err(|why| SetupError::new(&path, format!("{label}: {why}")))?,
                _ => {
                    return Err(SetupError::new(
                        &path,
                        format!("{label}: needs exactly one of key or key_hash"),
                    ));
                }
            };
            let expires_at = match &entry.expires_at {
                Some(text) => Some(
                    chrono::DateTime::parse_from_rfc3339(text)
                        .map_err(|_| {
                            SetupError::new(
                                format!("{path}.expires_at"),
                                format!("{label}: not an RFC 3339 instant"),
                            )
                        })?
                        .timestamp(),
                ),
                None => None,
            };
            keys.push(RegisteredKey {
                digest,
                description: if entry.description.trim().is_empty() {
                    format!("api key #{index}")
                } else {
                    entry.description.clone()
                },
                permissions: PermissionSet::parse(&entry.permissions),
                expires_at,
            });
        }
        Ok(Self { keys })
    }

    /// The entry whose digest equals the presented key's. Every entry is compared, in
    /// constant time, whatever matches.
    pub(crate) fn find(&self, presented: &[u8]) -> Option<&RegisteredKey> {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.digest.ct_eq(&digest)) {
                found = Some(key);
            }
        }
        found
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}
