//! The `{"error": "<snake_case_code>", "message": "..."}` envelope of every API error, and the
//! closed set of codes the servers send.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Body of every non-2xx API response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable code, one of `ErrorCode`. A later server version may add codes: treat
    /// an unknown one by its HTTP status.
    // A `String` in Rust so this crate's client still reads a code a newer server adds; the
    // document names the enum the servers send today.
    #[schema(value_type = ErrorCode)]
    pub error: String,
    /// Human-readable explanation. Never contains a credential.
    pub message: String,
}

impl ErrorBody {
    /// Builds an envelope from a code and a message.
    pub fn new(error: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: error.as_str().to_owned(),
            message: message.into(),
        }
    }
}

/// The codes of `ErrorBody.error`, one per HTTP error status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: malformed path, query or body.
    BadRequest,
    /// 401: missing or invalid credentials.
    Unauthorized,
    /// 403: the credential lacks the permission.
    Forbidden,
    /// 404: no such resource or route.
    NotFound,
    /// 405: the route does not take this method.
    MethodNotAllowed,
    /// 409: the request conflicts with the current state.
    Conflict,
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 422: well-formed but invalid.
    Unprocessable,
    /// 500: a server fault (the cause is logged, not returned).
    Internal,
    /// 503: a dependency is not available yet (the JWKS, the store).
    ServiceUnavailable,
}

impl ErrorCode {
    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unprocessable => "unprocessable",
            Self::Internal => "internal",
            Self::ServiceUnavailable => "service_unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_names() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::PayloadTooLarge,
            ErrorCode::ServiceUnavailable,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        let body = ErrorBody::new(ErrorCode::NotFound, "task x not found");
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            serde_json::json!({"error": "not_found", "message": "task x not found"})
        );
    }
}
