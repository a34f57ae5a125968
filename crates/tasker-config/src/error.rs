//! The one error type of configuration loading and validation. Every variant names where the
//! problem is (file, key) and why; none carries a configured value.

use std::path::PathBuf;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read, or is not a regular file of at most 1 MiB.
    #[error(transparent)]
    Read(#[from] crate::bounded::FileReadError),
    /// A file is not valid TOML.
    #[error("{path}: invalid TOML at line {line}, column {column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser found wrong (no source excerpt, which could hold a secret).
        message: String,
    },
    /// A key is unknown, mistyped or has an invalid value.
    #[error("{origin}: `{key}`: {reason}")]
    Invalid {
        /// The file (or environment variable) that set the key.
        origin: String,
        /// Dotted key path, e.g. `web.auth.jwks_url`.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The configuration root has no files for the role.
    #[error("no configuration found: {0}")]
    NotFound(String),
}
