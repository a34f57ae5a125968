//! Child tasks of `subtask` steps: the child's context (the step's `context` merged with the
//! values its `context_from` paths select from the parent's context and parent results,
//! checked against the child template's `input_schema`) and the result the step completes
//! with once the child is complete. Pure: the store loads the rows and writes the child.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::template::{SubtaskSpec, TaskTemplate, select_path};

/// The child's context, or why none can be made (the step then fails permanently).
pub fn child_context(
    spec: &SubtaskSpec,
    child: &TaskTemplate,
    parent_context: &Value,
    parent_results: &BTreeMap<String, Value>,
) -> Result<Value, String> {
    let mut context = match &spec.context {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let root = json!({"context": parent_context, "parent_results": parent_results});
    for (field, path) in &spec.context_from {
        let value = select_path(&root, path)
            .ok_or_else(|| format!("subtask.context_from.{field}: nothing at `{path}`"))?;
        context.insert(field.clone(), value.clone());
    }
    let context = Value::Object(context);
    if let Some(schema) = &child.input_schema {
        crate::validate_context(schema, &context).map_err(|problems| {
            format!(
                "child context does not match {}/{}@{}: {}",
                child.namespace,
                child.name,
                child.version,
                problems.join("; ")
            )
        })?;
    }
    Ok(context)
}

/// The result a subtask step completes with: `{"task_uuid","status","results":{step: result}}`.
pub fn child_result(task_uuid: Uuid, status: &str, results: BTreeMap<String, Value>) -> Value {
    json!({"task_uuid": task_uuid, "status": status, "results": results})
}

/// Picks the child template among the registered versions of its name: the requested
/// version, or the newest.
pub fn pick_version<'a>(
    versions: &'a [TaskTemplate],
    wanted: Option<&str>,
) -> Option<&'a TaskTemplate> {
    match wanted {
        Some(v) => versions.iter().find(|t| t.version == v),
        None => versions.iter().max_by_key(|t| t.semver()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_template;

    #[test]
    fn context_merges_fixed_and_selected_values_and_checks_the_schema() {
        let child = parse_template(
            "name: c\nnamespace: n\nversion: 1.2.0\ninput_schema: {type: object, required: [amount]}\nsteps:\n  - {name: s, handler: {callable: h}}\n",
        )
        .unwrap();
        let spec: SubtaskSpec = serde_json::from_value(json!({
            "namespace": "n", "name": "c", "context": {"fixed": 1},
            "context_from": {"amount": "parent_results.quote.total", "who": "context.user"}
        }))
        .unwrap();
        let results = BTreeMap::from([("quote".to_owned(), json!({"total": 42}))]);
        let ctx = child_context(&spec, &child, &json!({"user": "ann"}), &results).unwrap();
        assert_eq!(ctx, json!({"fixed": 1, "amount": 42, "who": "ann"}));
        let err = child_context(&spec, &child, &json!({}), &results).unwrap_err();
        assert_eq!(err, "subtask.context_from.who: nothing at `context.user`");
        let spec: SubtaskSpec =
            serde_json::from_value(json!({"namespace": "n", "name": "c"})).unwrap();
        let err = child_context(&spec, &child, &json!({}), &BTreeMap::new()).unwrap_err();
        assert!(
            err.starts_with("child context does not match n/c@1.2.0: "),
            "{err}"
        );
    }

    #[test]
    fn newest_version_unless_one_is_asked_for() {
        let t = |v: &str| {
            parse_template(&format!(
                "name: c\nnamespace: n\nversion: {v}\nsteps:\n  - {{name: s, handler: {{callable: h}}}}\n"
            ))
            .unwrap()
        };
        let all = [t("1.10.0"), t("1.9.0"), t("2.0.0-rc.1")];
        assert_eq!(pick_version(&all, None).unwrap().version, "2.0.0-rc.1");
        assert_eq!(pick_version(&all, Some("1.9.0")).unwrap().version, "1.9.0");
        assert!(pick_version(&all, Some("3.0.0")).is_none());
    }
}
