//! The orchestration error type; each variant maps to one HTTP status.

use tasker_core::StoreError;

/// Why an orchestration operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The named task, step, template or entry does not exist (404).
    #[error("{0} not found")]
    NotFound(String),
    /// The caller holds the route's permission, but not in the namespace concerned (403);
    /// the message names the scoped permission.
    #[error("Missing required permission: {0}")]
    Forbidden(String),
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed but invalid; every problem is listed (422).
    #[error("{}", .0.join("; "))]
    Unprocessable(Vec<String>),
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// Something failed inside (500). The message includes the cause, for logs; HTTP bodies
    /// must use a generic message instead.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// 403 naming `permission@namespace` (or the permission alone when the name is not a
    /// valid namespace, so an oversized or hostile name is never echoed).
    pub fn forbidden_in(permission: tasker_proto::Permission, namespace: &str) -> Self {
        Error::Forbidden(tasker_proto::scoped_label(permission, namespace))
    }
}

impl From<tasker_store::TemplateLoadError> for Error {
    fn from(e: tasker_store::TemplateLoadError) -> Self {
        use tasker_store::TemplateLoadError as E;
        match e {
            E::Invalid(problems) => Error::Unprocessable(problems),
            E::Store(store) => store.into(),
            io @ E::Io { .. } => Error::Internal(Box::new(io)),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Error::NotFound(what),
            StoreError::DuplicateIdempotencyKey { existing } => {
                Error::Conflict(format!("idempotency key already used by task {existing}"))
            }
            StoreError::Conflict(m) => Error::Conflict(m),
            StoreError::Transition(t) => Error::Conflict(t.to_string()),
            other @ (StoreError::Corrupt(_) | StoreError::Backend(_)) => {
                Error::Internal(Box::new(other))
            }
        }
    }
}
