//! Arithmetic handlers for the example workflows. Operands: the `value` of every parent result
//! (in step-name order; each element of a batch worker's array of results), or the context field named by `initialization.input` (default
//! `value`) for a root step, followed by `initialization.operand` when set. Result:
//! `{"value": n}`.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::registry::{HandlerError, StepHandler, StepInput};

pub(crate) struct Add;
pub(crate) struct Multiply;

#[async_trait]
impl StepHandler for Add {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        let ops = operands(&input)?;
        Ok(normalise(json!({ "value": ops.iter().sum::<f64>() })))
    }
}

#[async_trait]
impl StepHandler for Multiply {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        let ops = operands(&input)?;
        Ok(normalise(json!({ "value": ops.iter().product::<f64>() })))
    }
}

/// Writes whole numbers as integers.
fn normalise(mut v: Value) -> Value {
    if let Some(f) = v["value"].as_f64()
        && f.fract() == 0.0
        && f.abs() < 9.0e15
    {
        v["value"] = json!(f as i64);
    }
    v
}

fn operands(input: &StepInput) -> Result<Vec<f64>, HandlerError> {
    let mut ops = Vec::new();
    if input.parent_results.is_empty() {
        let field = input
            .initialization
            .get("input")
            .and_then(Value::as_str)
            .unwrap_or("value");
        let v = input
            .context
            .get(field)
            .and_then(Value::as_f64)
            .ok_or_else(|| {
                HandlerError::permanent(format!("context field `{field}` must be a number"))
            })?;
        ops.push(v);
    } else {
        for (name, result) in &input.parent_results {
            // A batch worker's copies arrive as one array of results.
            let results = match result {
                Value::Array(items) => items.iter().collect(),
                one => vec![one],
            };
            for r in results {
                let v = r.get("value").and_then(Value::as_f64).ok_or_else(|| {
                    HandlerError::permanent(format!("parent `{name}` has no numeric `value`"))
                })?;
                ops.push(v);
            }
        }
    }
    if let Some(operand) = input.initialization.get("operand") {
        let v = operand
            .as_f64()
            .ok_or_else(|| HandlerError::permanent("`operand` must be a number"))?;
        ops.push(v);
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use uuid::Uuid;

    fn input(context: Value, parents: &[(&str, Value)], init: Value) -> StepInput {
        StepInput {
            task_uuid: Uuid::nil(),
            step_uuid: Uuid::nil(),
            step_name: "s".into(),
            attempt: 1,
            context,
            parent_results: parents
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
            initialization: init,
            log: crate::StepLog::discard(),
            ..StepInput::default()
        }
    }

    #[tokio::test]
    async fn root_step_reads_the_context() {
        let out = Add
            .call(input(json!({"value": 4}), &[], json!({"operand": 3})))
            .await
            .unwrap();
        assert_eq!(out, json!({"value": 7}));
        let out = Multiply
            .call(input(
                json!({"x": 2.5}),
                &[],
                json!({"input": "x", "operand": 2}),
            ))
            .await
            .unwrap();
        assert_eq!(out, json!({"value": 5}));
    }

    #[tokio::test]
    async fn join_combines_parents() {
        let parents = [("b", json!({"value": 6})), ("c", json!({"value": 9}))];
        assert_eq!(
            Add.call(input(json!({}), &parents, json!(null)))
                .await
                .unwrap(),
            json!({"value": 15})
        );
        assert_eq!(
            Multiply
                .call(input(json!({}), &parents, json!({})))
                .await
                .unwrap(),
            json!({"value": 54})
        );
    }

    #[tokio::test]
    async fn bad_operands_fail_permanently() {
        let err = Add
            .call(input(json!({"value": "x"}), &[], json!({})))
            .await
            .unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("`value`"));
    }
}
