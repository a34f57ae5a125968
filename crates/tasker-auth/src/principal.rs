//! Who made a request, as handlers and audit records see it.

use std::fmt;

use tasker_proto::{Permission, PermissionSet, Scope};

/// How a principal authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A bearer JWT.
    Jwt,
    /// An API key from the registry.
    ApiKey,
    /// Authentication is disabled; everything is allowed.
    Disabled,
}

impl AuthMethod {
    /// Label used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Disabled => "disabled",
        }
    }
}

/// An authenticated caller. Holds no credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Principal {
    /// `sub` of a token, the description of an API key, or `anonymous`.
    pub subject: String,
    /// How the caller authenticated.
    pub method: AuthMethod,
    /// The granted permissions.
    pub permissions: PermissionSet,
}

impl Principal {
    /// The principal of every request while authentication is disabled.
    pub fn anonymous() -> Self {
        Self {
            subject: "anonymous".to_owned(),
            method: AuthMethod::Disabled,
            permissions: PermissionSet::all(),
        }
    }

    /// Whether the principal holds `permission` in at least one namespace.
    pub fn allows(&self, permission: Permission) -> bool {
        self.method == AuthMethod::Disabled || self.permissions.allows(permission)
    }

    /// The namespaces in which the principal holds `permission` (all of them when auth is
    /// disabled).
    pub fn scope(&self, permission: Permission) -> Scope {
        if self.method == AuthMethod::Disabled {
            Scope::All
        } else {
            self.permissions.scope(permission)
        }
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.subject)
            .field("method", &self.method)
            .field(
                "grants",
                &self
                    .permissions
                    .grants()
                    .map(|g| g.to_string())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
