//! The axum extractor that makes a handler's permission part of its signature:
//! `async fn create(auth: Authorized<perm::TasksCreate>, body: ...)`. It runs before any body
//! extractor, so a caller without the permission gets 403 even when the body is malformed.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use tasker_proto::{Permission, Scope};

use crate::authenticator::Authenticator;
use crate::error::AuthError;
use crate::principal::Principal;

/// A marker type naming the permission a route requires.
pub trait RequiredPermission: Send + Sync + 'static {
    /// The permission.
    const PERMISSION: Permission;
}

/// Marker types, one per permission of the vocabulary.
pub mod perm {
    use super::RequiredPermission;
    use tasker_proto::Permission;

    macro_rules! markers {
        ($($name:ident),+ $(,)?) => {$(
            #[doc = concat!("Requires `Permission::", stringify!($name), "`.")]
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl RequiredPermission for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )+};
    }

    tasker_proto::for_each_permission!(markers);
}

/// A request extension that asks a route for its permission instead of authorizing: the
/// extractor answers [`AuthError::Forbidden`] naming the permission, without authenticating,
/// logging or counting anything. Only server code can attach extensions (clients cannot send
/// one), and the role assembly uses it to derive the route → permission table from the
/// handlers' own signatures.
#[derive(Debug, Clone, Copy)]
pub struct PermissionProbe;

/// Proof that the request's principal holds `P`'s permission.
#[derive(Debug, Clone)]
pub struct Authorized<P> {
    /// Who is calling (its subject goes into audit records).
    pub principal: Arc<Principal>,
    marker: PhantomData<P>,
}

impl<P: RequiredPermission> Authorized<P> {
    /// The subject recorded as actor.
    pub fn subject(&self) -> &str {
        &self.principal.subject
    }

    /// The namespaces in which the caller holds this route's permission; services take it
    /// so that items of other namespaces stay invisible.
    pub fn scope(&self) -> Scope {
        self.principal.scope(P::PERMISSION)
    }

    /// The namespaces in which the caller holds another permission (for example whether a
    /// task's context may be shown to a reader of the task).
    pub fn scope_of(&self, permission: Permission) -> Scope {
        self.principal.scope(permission)
    }
}

impl<S, P> FromRequestParts<S> for Authorized<P>
where
    Arc<Authenticator>: FromRef<S>,
    S: Send + Sync,
    P: RequiredPermission,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.extensions.get::<PermissionProbe>().is_some() {
            return Err(AuthError::Forbidden(P::PERMISSION));
        }
        let authenticator = Arc::<Authenticator>::from_ref(state);
        let principal = authenticator
            .authorize(&parts.headers, P::PERMISSION)
            .await?;
        // The request's span (when traced) names who made it.
        tracing::Span::current().record("subject", principal.subject.as_str());
        Ok(Self {
            principal,
            marker: PhantomData,
        })
    }
}
