//! Client errors: API errors come back typed (status, code, message).

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error envelope.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Envelope code (`unauthorized`, `forbidden`, `not_found`, ...).
        code: String,
        /// Envelope message.
        message: String,
    },
    /// The server could not be reached or the connection failed.
    #[error("cannot reach {url}: {reason}")]
    Transport {
        /// Base URL of the endpoint.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The response was not the expected JSON.
    #[error("unexpected response from {url}: {reason}")]
    Decode {
        /// Request URL.
        url: String,
        /// What did not parse.
        reason: String,
    },
    /// Credentials or settings from the environment are unusable.
    #[error("{0}")]
    Config(String),
}

impl ClientError {
    /// HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}
