-- Web console sessions. The browser holds a random session id; only its SHA-256 is stored
-- (`session_hash`), and the signed-in credential is sealed with a key derived from the id, so
-- the table alone lets no one act as a signed-in operator. Times are epoch milliseconds.
CREATE TABLE console_sessions (
    session_hash TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    sealed_credential TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
