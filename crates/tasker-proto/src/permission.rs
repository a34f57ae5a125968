//! The fixed permission vocabulary (`resource:action`), its wildcards, and permission sets.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::scope::Scope;

/// Declares the vocabulary once: the enum, its strings, and `for_each_permission!`, which other
/// crates use to derive one item per permission (the route markers of `tasker-auth`) from this
/// same list. `$d` is a literal `$`, needed to write the inner macro's own variables.
macro_rules! permissions {
    ($d:tt $($variant:ident => $text:literal),+ $(,)?) => {
        /// One permission of the vocabulary. Serialized as its `resource:action` string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission {
            $(#[doc = $text] $variant,)+
        }

        impl Permission {
            /// Every permission of the vocabulary, in documentation order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)+];

            /// The `resource:action` string.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $text,)+
                }
            }
        }

        /// Expands `callback!(Variant, ...)` with the variant name of every permission of the
        /// vocabulary, in documentation order.
        #[macro_export]
        macro_rules! for_each_permission {
            ($d callback:ident) => {
                $d callback!($($variant),+);
            };
        }
    };
}

permissions! { $
    TasksCreate => "tasks:create",
    TasksRead => "tasks:read",
    TasksList => "tasks:list",
    TasksCancel => "tasks:cancel",
    TasksContextRead => "tasks:context_read",
    StepsRead => "steps:read",
    StepsResolve => "steps:resolve",
    DlqRead => "dlq:read",
    DlqUpdate => "dlq:update",
    DlqStats => "dlq:stats",
    TemplatesRead => "templates:read",
    TemplatesValidate => "templates:validate",
    SystemConfigRead => "system:config_read",
    SystemHandlersRead => "system:handlers_read",
    SystemAnalyticsRead => "system:analytics_read",
    WorkerConfigRead => "worker:config_read",
    WorkerTemplatesRead => "worker:templates_read",
    SchedulesRead => "schedules:read",
    SchedulesWrite => "schedules:write",
}

impl Permission {
    /// The resource part (`tasks` for `tasks:create`).
    pub fn resource(self) -> &'static str {
        let text = self.as_str();
        text.split_once(':').map_or(text, |(resource, _)| resource)
    }

    /// Whether the permission can be limited to one namespace (`tasks:read@payments`): every
    /// one but `system:*` and `worker:config_read`, which concern the server itself.
    pub fn is_scopable(self) -> bool {
        self.resource() != "system" && self != Permission::WorkerConfigRead
    }

    /// The distinct resources of the vocabulary, in documentation order.
    pub fn resources() -> Vec<&'static str> {
        let mut seen = Vec::new();
        for permission in Self::ALL {
            if !seen.contains(&permission.resource()) {
                seen.push(permission.resource());
            }
        }
        seen
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is neither a permission of the vocabulary nor a valid wildcard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission `{0}`")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPermission(s.to_owned()))
    }
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What one permission string grants: everything, one resource, or one permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PermissionGrant {
    /// `*`
    All,
    /// `resource:*`, holding the resource name from the vocabulary.
    Resource(&'static str),
    /// One permission.
    One(Permission),
}

impl PermissionGrant {
    /// Whether this grant covers `permission`.
    pub fn covers(self, permission: Permission) -> bool {
        match self {
            PermissionGrant::All => true,
            PermissionGrant::Resource(resource) => permission.resource() == resource,
            PermissionGrant::One(granted) => granted == permission,
        }
    }
}

impl FromStr for PermissionGrant {
    type Err = UnknownPermission;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "*" {
            return Ok(PermissionGrant::All);
        }
        if let Some(resource) = s.strip_suffix(":*") {
            return Permission::resources()
                .into_iter()
                .find(|known| *known == resource)
                .map(PermissionGrant::Resource)
                .ok_or_else(|| UnknownPermission(s.to_owned()));
        }
        s.parse().map(PermissionGrant::One)
    }
}

impl fmt::Display for PermissionGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PermissionGrant::All => f.write_str("*"),
            PermissionGrant::Resource(resource) => write!(f, "{resource}:*"),
            PermissionGrant::One(permission) => f.write_str(permission.as_str()),
        }
    }
}

/// One permission string: a grant, optionally limited to one namespace (`grant@namespace`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopedGrant {
    /// What is granted.
    pub grant: PermissionGrant,
    /// The namespace it is limited to; `None` for every namespace.
    pub namespace: Option<String>,
}

impl ScopedGrant {
    /// Whether this grant covers `permission` in some namespace. A scoped `*@ns` covers only
    /// the scopable permissions.
    pub fn covers(&self, permission: Permission) -> bool {
        self.grant.covers(permission) && (self.namespace.is_none() || permission.is_scopable())
    }
}

impl FromStr for ScopedGrant {
    type Err = UnknownPermission;

    /// `grant` or `grant@namespace`; the scoped form of a global permission (`system:*`,
    /// `worker:config_read`, or a wildcard including one) is unknown.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownPermission(s.to_owned());
        let Some((head, namespace)) = s.split_once('@') else {
            return Ok(ScopedGrant {
                grant: s.parse()?,
                namespace: None,
            });
        };
        if !crate::scope::is_valid_namespace(namespace) {
            return Err(unknown());
        }
        let grant: PermissionGrant = head.parse().map_err(|_| unknown())?;
        let scopable = match grant {
            PermissionGrant::All => true,
            PermissionGrant::Resource(resource) => Permission::ALL
                .iter()
                .filter(|p| p.resource() == resource)
                .all(|p| p.is_scopable()),
            PermissionGrant::One(permission) => permission.is_scopable(),
        };
        if !scopable {
            return Err(unknown());
        }
        Ok(ScopedGrant {
            grant,
            namespace: Some(namespace.to_owned()),
        })
    }
}

impl fmt::Display for ScopedGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{}@{namespace}", self.grant),
            None => write!(f, "{}", self.grant),
        }
    }
}

/// The grants a credential carries, plus the strings that were not recognized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionSet {
    grants: BTreeSet<ScopedGrant>,
    unknown: Vec<String>,
}

impl PermissionSet {
    /// Parses every string; unrecognized ones are kept aside in [`PermissionSet::unknown`].
    pub fn parse<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = PermissionSet::default();
        for item in items {
            let text = item.as_ref();
            match text.parse::<ScopedGrant>() {
                Ok(grant) => {
                    set.grants.insert(grant);
                }
                Err(_) => set.unknown.push(text.to_owned()),
            }
        }
        set
    }

    /// A set granting everything.
    pub fn all() -> Self {
        Self::parse(["*"])
    }

    /// Whether some grant covers `permission`, in at least one namespace (the route-level
    /// check; [`PermissionSet::scope`] tells which namespaces).
    pub fn allows(&self, permission: Permission) -> bool {
        self.grants.iter().any(|grant| grant.covers(permission))
    }

    /// The namespaces in which `permission` is held.
    pub fn scope(&self, permission: Permission) -> Scope {
        let covering = self.grants.iter().filter(|g| g.covers(permission));
        let mut namespaces = BTreeSet::new();
        for grant in covering {
            match &grant.namespace {
                None => return Scope::All,
                Some(namespace) => {
                    namespaces.insert(namespace.clone());
                }
            }
        }
        Scope::Namespaces(namespaces)
    }

    /// Strings that were neither a permission nor a valid wildcard.
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }

    /// The recognized grants.
    pub fn grants(&self) -> impl Iterator<Item = &ScopedGrant> + '_ {
        self.grants.iter()
    }

    /// Forgets the unrecognized strings (non-strict validation ignores them).
    pub fn without_unknown(mut self) -> Self {
        self.unknown.clear();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_holds_the_seeds_permissions() {
        const SEED: &[&str] = &[
            "tasks:create",
            "tasks:read",
            "tasks:list",
            "tasks:cancel",
            "tasks:context_read",
            "steps:read",
            "steps:resolve",
            "dlq:read",
            "dlq:update",
            "dlq:stats",
            "templates:read",
            "templates:validate",
            "system:config_read",
            "system:handlers_read",
            "system:analytics_read",
            "worker:config_read",
            "worker:templates_read",
        ];
        for text in SEED {
            assert!(text.parse::<Permission>().is_ok(), "{text}");
        }
        assert_eq!(Permission::ALL.len(), 19);
        assert_eq!(
            Permission::ALL[SEED.len()..]
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>(),
            ["schedules:read", "schedules:write"]
        );
        let scoped = PermissionSet::parse(["schedules:*@payments"]);
        assert!(scoped.unknown().is_empty());
        assert!(
            scoped
                .scope(Permission::SchedulesWrite)
                .contains("payments")
        );
        assert!(!scoped.scope(Permission::SchedulesRead).contains("billing"));
        for permission in Permission::ALL {
            assert_eq!(permission.as_str().parse::<Permission>(), Ok(*permission));
        }
        assert_eq!(
            Permission::resources(),
            [
                "tasks",
                "steps",
                "dlq",
                "templates",
                "system",
                "worker",
                "schedules"
            ]
        );
    }

    #[test]
    fn wildcards_cover_their_scope_only() {
        let set = PermissionSet::parse(["dlq:*"]);
        assert!(set.allows(Permission::DlqRead));
        assert!(set.allows(Permission::DlqUpdate));
        assert!(!set.allows(Permission::TasksRead));
        let all = PermissionSet::all();
        assert!(Permission::ALL.iter().all(|p| all.allows(*p)));
    }

    #[test]
    fn unknown_strings_are_kept_aside() {
        let set = PermissionSet::parse(["tasks:read", "tasks:fly", "nope:*", "tasks", ""]);
        assert!(set.allows(Permission::TasksRead));
        assert_eq!(set.unknown(), ["tasks:fly", "nope:*", "tasks", ""]);
        assert!(set.clone().without_unknown().unknown().is_empty());
    }

    #[test]
    fn scoped_grants_cover_their_namespace_only() {
        let set = PermissionSet::parse(["tasks:read@payments", "dlq:*@billing", "*@ops"]);
        assert!(set.unknown().is_empty(), "{:?}", set.unknown());
        assert!(set.allows(Permission::TasksRead));
        let names = |scope: Scope| scope.namespaces().unwrap_or_default();
        assert_eq!(names(set.scope(Permission::TasksRead)), ["ops", "payments"]);
        assert_eq!(names(set.scope(Permission::DlqUpdate)), ["billing", "ops"]);
        assert_eq!(names(set.scope(Permission::TasksCreate)), ["ops"]);
        // `*@ops` never reaches the global permissions.
        assert!(!set.allows(Permission::SystemConfigRead));
        assert!(!set.allows(Permission::WorkerConfigRead));
        assert!(set.allows(Permission::WorkerTemplatesRead));
        let mixed = PermissionSet::parse(["tasks:read@payments", "tasks:read"]);
        assert_eq!(mixed.scope(Permission::TasksRead), Scope::All);
        assert_eq!(
            PermissionSet::parse(["steps:read"]).scope(Permission::TasksRead),
            Scope::Namespaces(BTreeSet::new())
        );
    }

    #[test]
    fn bad_scopes_are_unknown() {
        let bad = [
            "tasks:read@",
            "tasks:read@Payments",
            "tasks:read@pay.ments",
            "system:config_read@x",
            "system:*@x",
            "worker:config_read@x",
            "worker:*@x",
            "*@",
            "tasks:fly@x",
            "tasks:read@a@b",
        ];
        let set = PermissionSet::parse(bad);
        assert_eq!(set.unknown(), bad);
        assert_eq!(
            "tasks:*@payments"
                .parse::<ScopedGrant>()
                .unwrap()
                .to_string(),
            "tasks:*@payments"
        );
    }

    #[test]
    fn exact_permission_does_not_grant_siblings() {
        let set = PermissionSet::parse(["tasks:create"]);
        assert!(set.allows(Permission::TasksCreate));
        assert!(!set.allows(Permission::TasksList));
    }

    #[test]
    fn permission_serializes_as_its_string() {
        let json = serde_json::to_string(&Permission::SystemConfigRead).unwrap();
        assert_eq!(json, "\"system:config_read\"");
        assert!(serde_json::from_str::<Permission>("\"system:root\"").is_err());
    }
}
