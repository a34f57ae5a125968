//! Built-in handlers for dynamic workflows, used by the example templates and the tests:
//! `builtin.choose` (a decision), `builtin.range_batches` (a batchable splitting a range into
//! cursors) and `builtin.sum_range` (a batch worker summing its cursor's range).

use async_trait::async_trait;
use serde_json::{Value, json};

use super::registry::{HandlerError, StepHandler, StepInput};

/// A decision: `{"create": branches}` where the branches come from the context field named by
/// `initialization.field` (default `route`). With `initialization.routes` (an object of
/// value → list of branches) the field's value is looked up there (`initialization.default`
/// when absent); without it the field holds the branch name or list of names itself.
pub(crate) struct Choose;

#[async_trait]
impl StepHandler for Choose {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        let init = &input.initialization;
        let field = init.get("field").and_then(Value::as_str).unwrap_or("route");
        let value = input.context.get(field).cloned().unwrap_or(Value::Null);
        let chosen = match init.get("routes") {
            Some(routes) => value
                .as_str()
                .and_then(|key| routes.get(key))
                .or_else(|| init.get("default"))
                .cloned()
                .ok_or_else(|| {
                    HandlerError::permanent(format!(
                        "context field `{field}` matches no route and there is no default"
                    ))
                })?,
            None => value,
        };
        let chosen = match chosen {
            Value::String(s) => json!([s]),
            Value::Null => json!([]),
            other => other,
        };
        Ok(json!({ "create": chosen }))
    }
}

/// A batchable: splits the inclusive range `context.from ..= context.to` into
/// `context.parts` cursors `{"from", "to"}` of near-equal size (field names can be changed
/// with `initialization.from`, `.to` and `.parts`). Fewer numbers than parts give one cursor
/// per number; an empty range gives none.
pub(crate) struct RangeBatches;

#[async_trait]
impl StepHandler for RangeBatches {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        let field = |key: &str| {
            let name = input
                .initialization
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or(key);
            input
                .context
                .get(name)
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    HandlerError::permanent(format!("context field `{name}` must be an integer"))
                })
        };
        let (from, to, parts) = (field("from")?, field("to")?, field("parts")?);
        if parts < 0 {
            return Err(HandlerError::permanent("`parts` must not be negative"));
        }
        Ok(json!({ "batches": split(from, to, parts) }))
    }
}

fn split(from: i64, to: i64, parts: i64) -> Vec<Value> {
    let len = if to < from {
        0
    } else {
        to.saturating_sub(from).saturating_add(1)
    };
    let parts = parts.min(len);
    (0..parts)
        .map(|i| {
            let start = from + len / parts * i + (i.min(len % parts));
            let size = len / parts + i64::from(i < len % parts);
            json!({ "from": start, "to": start + size - 1 })
        })
        .collect()
}

/// A batch worker: `{"value": sum of batch.cursor.from ..= batch.cursor.to}`.
pub(crate) struct SumRange;

#[async_trait]
impl StepHandler for SumRange {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        let cursor = input
            .batch
            .as_ref()
            .and_then(|b| b.get("cursor"))
            .ok_or_else(|| HandlerError::permanent("builtin.sum_range runs as a batch copy"))?;
        let bound = |key: &str| {
            cursor.get(key).and_then(Value::as_i64).ok_or_else(|| {
                HandlerError::permanent(format!("batch cursor `{key}` must be an integer"))
            })
        };
        let (from, to) = (i128::from(bound("from")?), i128::from(bound("to")?));
        let sum = if to < from {
            0
        } else {
            (from + to) * (to - from + 1) / 2
        };
        let value = i64::try_from(sum).map_err(|_| HandlerError::permanent("sum overflows"))?;
        Ok(json!({ "value": value }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_into_near_equal_cursors() {
        assert_eq!(
            split(1, 10, 3),
            vec![
                json!({"from": 1, "to": 4}),
                json!({"from": 5, "to": 7}),
                json!({"from": 8, "to": 10})
            ]
        );
        assert_eq!(split(1, 2, 5).len(), 2);
        assert!(split(5, 1, 3).is_empty());
        assert!(split(1, 10, 0).is_empty());
    }

    #[tokio::test]
    async fn choose_maps_routes_and_sum_range_reads_its_cursor() {
        let input = StepInput {
            context: json!({"route": "express"}),
            initialization: json!({"routes": {"express": ["ship_fast"]}, "default": []}),
            ..StepInput::default()
        };
        assert_eq!(
            Choose.call(input).await.unwrap(),
            json!({"create": ["ship_fast"]})
        );
        let input = StepInput {
            context: json!({"route": ["a", "b"]}),
            ..StepInput::default()
        };
        assert_eq!(
            Choose.call(input).await.unwrap(),
            json!({"create": ["a", "b"]})
        );
        let input = StepInput {
            batch: Some(json!({"index": 0, "count": 1, "cursor": {"from": 1, "to": 100}})),
            ..StepInput::default()
        };
        assert_eq!(SumRange.call(input).await.unwrap(), json!({"value": 5050}));
    }
}
