//! What Tasker programs exchange: the request and response bodies of both APIs, the fixed
//! permission vocabulary, the JSON error envelope every API error uses, and the environment
//! snapshot every program reads its variables from.

pub mod api;
mod env;
mod error_body;
mod permission;
mod scope;

pub use env::Env;
pub use error_body::{ErrorBody, ErrorCode};
pub use permission::{Permission, PermissionGrant, PermissionSet, ScopedGrant, UnknownPermission};
pub use scope::{MAX_NAMESPACE_LEN, Scope, is_valid_namespace, scoped_label};
