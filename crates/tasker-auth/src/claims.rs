//! Reading permissions out of verified claims: a JSON array of strings or a space-delimited
//! string (OAuth `scope`, Okta `scp`), at a claim name or a dotted path into nested objects.

use serde_json::{Map, Value};

/// The permission strings at `path`; `None` when the claim has the wrong shape.
pub(crate) fn permissions_at(claims: &Map<String, Value>, path: &str) -> Option<Vec<String>> {
    let value = match claims.get(path) {
        Some(value) => Some(value),
        None => lookup_dotted(claims, path),
    };
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(text)) => Some(text.split_whitespace().map(str::to_owned).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect(),
        Some(_) => None,
    }
}

fn lookup_dotted<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn array_string_and_nested_paths() {
        let c = claims(json!({
            "permissions": ["tasks:read", "dlq:*"],
            "scope": "tasks:read  tasks:list",
            "realm_access": {"roles": ["*"]},
            "weird": 5,
            "mixed": ["a", 1]
        }));
        assert_eq!(
            permissions_at(&c, "permissions").unwrap(),
            ["tasks:read", "dlq:*"]
        );
        assert_eq!(
            permissions_at(&c, "scope").unwrap(),
            ["tasks:read", "tasks:list"]
        );
        assert_eq!(permissions_at(&c, "realm_access.roles").unwrap(), ["*"]);
        assert_eq!(permissions_at(&c, "absent").unwrap(), Vec::<String>::new());
        assert!(permissions_at(&c, "weird").is_none());
        assert!(permissions_at(&c, "mixed").is_none());
    }

    #[test]
    fn literal_dotted_claim_name_wins() {
        let c = claims(json!({"https://tasker.io.perms": ["tasks:read"]}));
        assert_eq!(
            permissions_at(&c, "https://tasker.io.perms").unwrap(),
            ["tasks:read"]
        );
    }
}
