//! Validation of a task context against a template's `input_schema`.

use serde_json::Value;

/// Checks `context` against `schema`; each error names the failing location.
pub fn validate_context(schema: &Value, context: &Value) -> Result<(), Vec<String>> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| vec![format!("template input_schema is invalid: {e}")])?;
    let errors: Vec<String> = validator
        .iter_errors(context)
        .map(|e| {
            let path = e.instance_path.to_string();
            if path.is_empty() {
                format!("context: {e}")
            } else {
                format!("context{path}: {e}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_each_violation_with_its_path() {
        let schema = json!({
            "type": "object",
            "required": ["n"],
            "properties": {"n": {"type": "integer"}, "s": {"type": "string"}}
        });
        assert!(validate_context(&schema, &json!({"n": 3})).is_ok());
        let errs = validate_context(&schema, &json!({"s": 4})).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(
            errs.iter()
                .any(|e| e.contains("\"n\" is a required property")),
            "{errs:?}"
        );
        assert!(errs.iter().any(|e| e.starts_with("context/s")), "{errs:?}");
    }
}
