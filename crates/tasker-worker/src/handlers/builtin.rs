//! Built-in handlers: `builtin.echo`, `builtin.sleep`, `builtin.fail`, and the registration of
//! the arithmetic, dynamic-workflow and `builtin.command` handlers from their sibling modules.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::arithmetic::{Add, Multiply};
use super::registry::{HandlerError, HandlerRegistry, StepHandler, StepInput};

pub(crate) fn register(registry: &mut HandlerRegistry) {
    registry
        .register("builtin.echo", Echo)
        .register("builtin.sleep", Sleep)
        .register("builtin.fail", Fail)
        .register("builtin.add", Add)
        .register("builtin.multiply", Multiply)
        .register("builtin.command", super::command::CommandHandler)
        .register("builtin.choose", super::dynamic::Choose)
        .register("builtin.range_batches", super::dynamic::RangeBatches)
        .register("builtin.sum_range", super::dynamic::SumRange);
}

/// Returns the task context, the step's initialization and its parents' results.
struct Echo;

#[async_trait]
impl StepHandler for Echo {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        let mut out = json!({
            "step": input.step_name,
            "context": input.context,
            "initialization": input.initialization,
            "parent_results": input.parent_results,
        });
        if let Some(batch) = input.batch {
            out["batch"] = batch;
        }
        if !input.failed_batches.is_empty() {
            out["failed_batches"] = json!(input.failed_batches);
        }
        Ok(out)
    }
}

/// Sleeps `initialization.ms` milliseconds (default 0).
struct Sleep;

#[async_trait]
impl StepHandler for Sleep {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        let ms = input
            .initialization
            .get("ms")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(json!({ "slept_ms": ms }))
    }
}

/// Fails the first `initialization.times` attempts (every attempt when unset), retryable
/// unless `initialization.retryable` is false; then succeeds. With
/// `initialization.batch_indexes` only batch copies of those indexes fail; others succeed.
struct Fail;

#[async_trait]
impl StepHandler for Fail {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        let init = &input.initialization;
        let times = init
            .get("times")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        let retryable = init
            .get("retryable")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let chosen = match init.get("batch_indexes").and_then(Value::as_array) {
            None => true,
            Some(list) => {
                let index = input.batch.as_ref().and_then(|b| b.get("index"));
                index.is_some_and(|i| list.contains(i))
            }
        };
        if chosen && u64::from(input.attempt) <= times {
            let message = format!("builtin.fail: attempt {} fails by design", input.attempt);
            return Err(HandlerError {
                message,
                retryable,
                details: None,
            });
        }
        Ok(json!({ "attempt": input.attempt, "failed_before": times }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use uuid::Uuid;

    fn input(attempt: u32, initialization: Value) -> StepInput {
        StepInput {
            task_uuid: Uuid::nil(),
            step_uuid: Uuid::nil(),
            step_name: "s".into(),
            attempt,
            context: json!({"a": 1}),
            parent_results: BTreeMap::from([("p".to_owned(), json!({"value": 2}))]),
            initialization,
            log: crate::StepLog::discard(),
            ..StepInput::default()
        }
    }

    #[tokio::test]
    async fn echo_returns_inputs_and_parent_results() {
        let out = Echo.call(input(1, json!({"k": true}))).await.unwrap();
        assert_eq!(out["context"], json!({"a": 1}));
        assert_eq!(out["parent_results"]["p"]["value"], 2);
        assert_eq!(out["initialization"]["k"], true);
    }

    #[tokio::test]
    async fn fail_fails_the_first_times_attempts() {
        let init = json!({"times": 2, "retryable": false});
        let err = Fail.call(input(2, init.clone())).await.unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("attempt 2"));
        assert_eq!(Fail.call(input(3, init)).await.unwrap()["attempt"], 3);
        assert!(Fail.call(input(1, json!({}))).await.unwrap_err().retryable);
    }

    #[test]
    fn builtins_are_registered() {
        let r = HandlerRegistry::with_builtins();
        for name in [
            "builtin.echo",
            "builtin.sleep",
            "builtin.fail",
            "builtin.add",
            "builtin.multiply",
            "builtin.command",
        ] {
            assert!(r.contains(name), "{name}");
        }
    }
}
