//! Wire types shared by the Tasker servers, the worker and the client: the fixed permission
//! vocabulary and the JSON error envelope every API error uses.

pub mod api;
mod error_body;
mod permission;

pub use error_body::ErrorBody;
pub use permission::{Permission, PermissionGrant, PermissionSet, UnknownPermission};
