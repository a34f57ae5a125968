//! A snapshot of the process environment: the one reader of `TASKER_*` and the other variables
//! every Tasker program takes (the configuration loader's overrides and `${VAR}` interpolation,
//! the client's credential resolution), so they agree on what "set" means and tests can supply
//! their own variables.

use std::collections::BTreeMap;
use std::fmt;

/// Environment variables. A value that is empty or only whitespace counts as unset (the seed:
/// "empty variables count as unset"). `Debug` lists names only, never values.
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// Captures the current process environment (variables that are valid UTF-8).
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment made of the given pairs only.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `name`; an empty or blank value is unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The value of `name` even when empty (`${VAR}` with `VAR=""` substitutes "").
    pub fn get_raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_values_are_unset_and_debug_shows_names_only() {
        let env = Env::from_pairs([("A", "x"), ("EMPTY", ""), ("BLANK", "  "), ("S", "s3cr3t")]);
        assert_eq!(env.get("A"), Some("x"));
        assert_eq!(env.get("EMPTY"), None);
        assert_eq!(env.get("BLANK"), None);
        assert_eq!(env.get_raw("EMPTY"), Some(""));
        assert_eq!(env.get("MISSING"), None);
        let debug = format!("{env:?}");
        assert!(
            debug.contains("\"S\"") && !debug.contains("s3cr3t"),
            "{debug}"
        );
    }
}
