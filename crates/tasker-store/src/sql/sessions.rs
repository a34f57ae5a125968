//! Web console sessions: insert, look up while unexpired, delete (sweeping expired ones).

use chrono::{DateTime, Utc};
use tasker_core::StoreError;
use tasker_core::store::ConsoleSession;

use super::SqlStore;
use crate::db::args;

impl SqlStore {
    pub(super) async fn create_console_session_impl(
        &self,
        session: &ConsoleSession,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        tx.exec(
            "INSERT INTO console_sessions (session_hash, subject, sealed_credential, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            args![
                session.session_hash.as_str(),
                session.subject.as_str(),
                session.sealed_credential.clone(),
                session.created_at,
                session.expires_at
            ],
        )
        .await?;
        tx.commit().await
    }

    pub(super) async fn console_session_impl(
        &self,
        session_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let row = self
            .pool
            .one(
                "SELECT session_hash, subject, sealed_credential, created_at, expires_at \
                 FROM console_sessions WHERE session_hash = $1 AND expires_at > $2",
                args![session_hash, now],
            )
            .await?;
        row.map(|r| {
            Ok(ConsoleSession {
                session_hash: r.text("session_hash")?,
                subject: r.text("subject")?,
                sealed_credential: r.opt_text("sealed_credential")?,
                created_at: r.time("created_at")?,
                expires_at: r.time("expires_at")?,
            })
        })
        .transpose()
    }

    pub(super) async fn delete_console_session_impl(
        &self,
        session_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        tx.exec(
            "DELETE FROM console_sessions WHERE session_hash = $1 OR expires_at <= $2",
            args![session_hash, now],
        )
        .await?;
        tx.commit().await
    }
}
