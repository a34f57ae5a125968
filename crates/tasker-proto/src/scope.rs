//! Namespace scopes of permissions: `tasks:read@payments` grants `tasks:read` in the
//! `payments` namespace only. A [`Scope`] says which namespaces one permission covers for a
//! caller; services take it as a parameter, so a handler cannot forget to apply it.

use std::collections::BTreeSet;

/// Longest namespace name.
pub const MAX_NAMESPACE_LEN: usize = 64;

/// Whether `name` is a valid namespace for a scope: `[a-z0-9_-]{1,64}`.
pub fn is_valid_namespace(name: &str) -> bool {
    (1..=MAX_NAMESPACE_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `permission@namespace` as a 403 message names it; a name that is not a valid namespace
/// (too long, bad characters) is never echoed.
pub fn scoped_label(permission: crate::Permission, namespace: &str) -> String {
    if is_valid_namespace(namespace) {
        format!("{permission}@{namespace}")
    } else {
        format!("{permission} (in the requested namespace)")
    }
}

/// The namespaces in which a caller holds one permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace (an unscoped grant, or auth disabled).
    All,
    /// These namespaces only (possibly none).
    Namespaces(BTreeSet<String>),
}

impl Scope {
    /// Whether the permission is held in `namespace`.
    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespaces(set) => set.contains(namespace),
        }
    }

    /// `None` for every namespace, else the namespaces (a list filter).
    pub fn namespaces(&self) -> Option<Vec<String>> {
        match self {
            Scope::All => None,
            Scope::Namespaces(set) => Some(set.iter().cloned().collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_follow_the_grammar() {
        for good in ["payments", "a", "team_1-x", &"n".repeat(64)] {
            assert!(is_valid_namespace(good), "{good}");
        }
        for bad in [
            "",
            "Payments",
            "pay ments",
            "pay.ments",
            "é",
            &"n".repeat(65),
        ] {
            assert!(!is_valid_namespace(bad), "{bad}");
        }
    }

    #[test]
    fn labels_never_echo_a_bad_name() {
        let p = crate::Permission::TasksCreate;
        assert_eq!(scoped_label(p, "billing"), "tasks:create@billing");
        assert_eq!(
            scoped_label(p, &"X".repeat(100)),
            "tasks:create (in the requested namespace)"
        );
    }

    #[test]
    fn scopes_contain_their_namespaces() {
        let some = Scope::Namespaces(BTreeSet::from(["a".to_owned()]));
        assert!(some.contains("a") && !some.contains("b"));
        assert!(Scope::All.contains("anything"));
        assert_eq!(Scope::All.namespaces(), None);
        assert_eq!(some.namespaces(), Some(vec!["a".to_owned()]));
    }
}
