//! The `{"error": "<snake_case_code>", "message": "..."}` envelope of every API error.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of every non-2xx API response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable snake_case code: `unauthorized`, `forbidden`, `not_found`, ...
    pub error: String,
    /// Human-readable explanation. Never contains a credential.
    pub message: String,
}

impl ErrorBody {
    /// Builds an envelope from a code and a message.
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            message: message.into(),
        }
    }
}
