//! Reading TOML layers, checking each against the model, deep-merging them, and remembering
//! which file set which key (so errors can name the file).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::bounded::read_bounded;
use crate::error::ConfigError;

/// Which file (or variable) last set each key path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Provenance {
    origins: BTreeMap<String, String>,
}

impl Provenance {
    pub(crate) fn record(&mut self, key: &str, origin: &str) {
        self.origins.insert(key.to_owned(), origin.to_owned());
    }

    /// The origin of `key` or of its closest recorded ancestor; "built-in defaults" otherwise.
    pub(crate) fn origin_of(&self, key: &str) -> String {
        let mut candidate = key;
        loop {
            if let Some(origin) = self.origins.get(candidate) {
                return origin.clone();
            }
            match candidate.rfind(['.', '[']) {
                Some(cut) => candidate = &candidate[..cut],
                None => return "built-in defaults".to_owned(),
            }
        }
    }
}

/// Reads and parses one layer; a missing file is `Ok(None)`, anything but a regular file of
/// at most 1 MiB an error.
pub(crate) fn read_layer(path: &Path) -> Result<Option<Table>, ConfigError> {
    let text = match read_bounded(path) {
        Ok(text) => text,
        Err(err) if err.is_not_found() => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    parse_layer(&text, path).map(Some)
}

/// Parses TOML text. Errors carry line and column but no excerpt of the source, which could
/// contain a secret.
pub(crate) fn parse_layer(text: &str, path: &Path) -> Result<Table, ConfigError> {
    let mut table: Table = toml::from_str(text).map_err(|err| {
        let offset = err.span().map_or(0, |span| span.start);
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ConfigError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message: err.message().to_owned(),
        }
    })?;
    datetimes_to_strings(&mut table);
    Ok(table)
}

/// TOML datetimes (`expires_at = 2027-01-01T00:00:00Z`) become RFC 3339 strings.
fn datetimes_to_strings(table: &mut Table) {
    for (_, value) in table.iter_mut() {
        datetime_value_to_string(value);
    }
}

fn datetime_value_to_string(value: &mut Value) {
    match value {
        Value::Datetime(dt) => *value = Value::String(dt.to_string()),
        Value::Table(table) => datetimes_to_strings(table),
        Value::Array(items) => items.iter_mut().for_each(datetime_value_to_string),
        _ => {}
    }
}

/// Deserializes `table` as `T`, turning failures into an error naming `origin` and the key.
pub(crate) fn typed<T: DeserializeOwned>(table: &Table, origin: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(Value::Table(table.clone())).map_err(|err| {
        let mut key = err.path().to_string();
        let message = scrub(&err.inner().to_string());
        if let Some(field) = unknown_field_name(&message) {
            key = if key == "." || key.is_empty() {
                field.to_owned()
            } else {
                format!("{key}.{field}")
            };
        }
        let reason = if message.starts_with("unknown field") {
            format!("unknown key ({message})")
        } else {
            message
        };
        ConfigError::Invalid {
            origin: origin.to_owned(),
            key,
            reason,
        }
    })
}

fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name)
}

/// Removes quoted string values from a deserializer message (`invalid type: string "…"`,
/// `unknown variant `…`, expected …`), since the value might be a secret typed into the wrong
/// key.
fn scrub(message: &str) -> String {
    let message = scrub_variant(message);
    let mut out = String::with_capacity(message.len());
    let mut rest = message.as_str();
    while let Some(start) = rest.find("string \"") {
        out.push_str(&rest[..start]);
        out.push_str("a string");
        let after = &rest[start + "string \"".len()..];
        rest = match after.find('"') {
            Some(end) => &after[end + 1..],
            None => "",
        };
    }
    out.push_str(rest);
    // serde's message ends with a line/column note that toml adds for in-memory values.
    out.lines().next().unwrap_or_default().trim().to_owned()
}

/// `unknown variant `VALUE`, expected …` without the value (which may hold backticks itself,
/// so it ends at the last "`, expected").
fn scrub_variant(message: &str) -> String {
    const PREFIX: &str = "unknown variant `";
    let Some(start) = message.find(PREFIX) else {
        return message.to_owned();
    };
    let after = &message[start + PREFIX.len()..];
    match after.rfind("`, expected") {
        Some(end) => format!("{}unknown variant{}", &message[..start], &after[end + 1..]),
        None => format!("{}unknown variant", &message[..start]),
    }
}

/// Merges `layer` over `base`: tables merge recursively, everything else (arrays included) is
/// replaced. Records the origin of every key the layer sets.
pub(crate) fn merge(
    base: &mut Table,
    layer: Table,
    prefix: &str,
    origin: &str,
    prov: &mut Provenance,
) {
    for (key, value) in layer {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (base.get_mut(&key), value) {
            (Some(Value::Table(existing)), Value::Table(incoming)) => {
                merge(existing, incoming, &path, origin, prov);
            }
            (_, value) => {
                record_all(&value, &path, origin, prov);
                base.insert(key, value);
            }
        }
    }
}

fn record_all(value: &Value, path: &str, origin: &str, prov: &mut Provenance) {
    prov.record(path, origin);
    if let Value::Table(table) = value {
        for (key, child) in table {
            record_all(child, &format!("{path}.{key}"), origin, prov);
        }
    }
}

/// Sets a string at a dotted path, creating tables on the way.
pub(crate) fn set_string(table: &mut Table, path: &str, value: &str) {
    let mut current = table;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_owned(), Value::String(value.to_owned()));
            return;
        }
        let entry = current
            .entry(part.to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        match entry {
            Value::Table(next) => current = next,
            _ => return,
        }
    }
}

/// The layer files of `role` under `root` for `environment`, in merge order.
pub(crate) fn layer_paths(root: &Path, environment: &str, role_stem: &str) -> Vec<(PathBuf, bool)> {
    let env_dir = root.join("environments").join(environment);
    vec![
        (root.join("base").join("common.toml"), true),
        (env_dir.join("common.toml"), true),
        (root.join("base").join(format!("{role_stem}.toml")), false),
        (env_dir.join(format!("{role_stem}.toml")), false),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_arrays_and_merges_tables() {
        let mut prov = Provenance::default();
        let mut base: Table = toml::from_str("[a]\nx = 1\nlist = [1, 2]\n[a.b]\ny = 2").unwrap();
        let layer: Table = toml::from_str("[a]\nlist = [3]\n[a.b]\nz = 3").unwrap();
        merge(&mut base, layer, "", "env.toml", &mut prov);
        let expected: Table =
            toml::from_str("[a]\nx = 1\nlist = [3]\n[a.b]\ny = 2\nz = 3").unwrap();
        assert_eq!(base, expected);
        assert_eq!(prov.origin_of("a.list"), "env.toml");
        assert_eq!(prov.origin_of("a.list[0].key"), "env.toml");
        assert_eq!(prov.origin_of("a.x"), "built-in defaults");
    }

    #[test]
    fn scrub_removes_string_values() {
        let scrubbed = scrub("invalid type: string \"sk-secret\", expected a boolean");
        assert_eq!(scrubbed, "invalid type: a string, expected a boolean");
    }

    #[test]
    fn scrub_removes_unknown_variants() {
        let scrubbed = scrub("unknown variant `sk-se`cret`, expected `public_key` or `jwks`");
        assert_eq!(scrubbed, "unknown variant, expected `public_key` or `jwks`");
        assert_eq!(scrub("unknown variant `sk-cut"), "unknown variant");
    }

    #[test]
    fn syntax_errors_name_line_without_excerpt() {
        let err = parse_layer(
            "a = 1\nkey = \"sk-unterminated-secret\n",
            Path::new("f.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("f.toml: invalid TOML at line 2"), "{err}");
        assert!(!err.contains("sk-unterminated-secret"), "{err}");
    }
}
