//! The redacted view of a configuration. Redaction is by type: [`crate::Secret`] and
//! [`crate::DatabaseUrl`] serialize without their secret, so serializing the model is safe;
//! this module lists where the marker landed.

use serde::Serialize;
use serde_json::Value;

/// What every secret is replaced with.
pub const REDACTED: &str = "***REDACTED***";

/// A configuration as `/config` and `config show` present it.
#[derive(Debug, Clone, Serialize)]
pub struct RedactedView {
    /// The effective configuration, secrets replaced by [`REDACTED`].
    pub config: Value,
    /// Dotted paths of every redacted value.
    pub redacted_paths: Vec<String>,
}

/// Serializes `config` (secrets redact themselves) and lists the redacted paths.
pub fn redacted_view<C: Serialize>(config: &C) -> Result<RedactedView, serde_json::Error> {
    let config = serde_json::to_value(config)?;
    let mut redacted_paths = Vec::new();
    collect(&config, "", &mut redacted_paths);
    Ok(RedactedView {
        config,
        redacted_paths,
    })
}

fn collect(value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::String(text) if text.contains(REDACTED) => out.push(path.to_owned()),
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect(child, &child_path, out);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect(item, &format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}
