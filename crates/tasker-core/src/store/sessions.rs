//! Web console sessions as the store keeps them: the hash of a session id, the subject it
//! signed in as, the sealed credential and its expiry.

use chrono::{DateTime, Utc};

/// One signed-in console session. The store never sees the session id itself, only its
/// hash, and never the credential in the clear.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// Hex SHA-256 of the session id (the lookup key).
    pub session_hash: String,
    /// Who signed in (shown in the console and the log).
    pub subject: String,
    /// The credential, sealed with a key derived from the session id; `None` when auth is
    /// disabled.
    pub sealed_credential: Option<String>,
    /// When the session began.
    pub created_at: DateTime<Utc>,
    /// When it ends, no later than the credential's own expiry.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for ConsoleSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSession")
            .field("subject", &self.subject)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
