//! A snapshot of the variables the client reads, so resolution is testable without touching
//! the process environment.

use std::collections::BTreeMap;

/// Environment variables for credential and URL resolution. `Debug` shows names only.
#[derive(Clone, Default)]
pub struct ClientEnv {
    vars: BTreeMap<String, String>,
}

impl ClientEnv {
    /// The current process environment.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .filter(|(k, _)| k.starts_with("TASKER_"))
                .collect(),
        }
    }

    /// Exactly the given variables.
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

    /// A variable's value; empty counts as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

impl std::fmt::Debug for ClientEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientEnv")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish()
    }
}
