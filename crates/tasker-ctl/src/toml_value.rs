//! JSON → TOML for `config show --format toml`. TOML has no null, so nulls (unset optional
//! keys) are dropped.

use serde_json::Value;

/// The TOML form of `value`; `None` for null.
pub(crate) fn from_json(value: &Value) -> Option<toml::Value> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            // u64 above i64::MAX and fractions: TOML integers are i64, so use a float.
            None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => toml::Value::Array(items.iter().filter_map(from_json).collect()),
        Value::Object(map) => toml::Value::Table(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), from_json(v)?)))
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nulls_are_dropped_and_nesting_kept() {
        let value = json!({
            "a": null,
            "web": {"bind_address": "x:1", "max": null, "auth": {"api_keys": [{"k": 1}]}},
            "f": 1.5,
            "list": [1, null, 2],
        });
        let toml = from_json(&value).unwrap();
        let text = toml::to_string(&toml).unwrap();
        let back: toml::Table = toml::from_str(&text).unwrap();
        assert!(!back.contains_key("a"));
        assert!(!back["web"].as_table().unwrap().contains_key("max"));
        assert_eq!(
            back["web"]["auth"]["api_keys"][0]["k"].as_integer(),
            Some(1)
        );
        assert_eq!(back["f"].as_float(), Some(1.5));
        assert_eq!(back["list"].as_array().unwrap().len(), 2);
    }
}
