//! The handler contract (`StepHandler`), what a handler receives (`StepInput`), how it fails
//! (`HandlerError`), and the name → handler registry.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use super::step_log::StepLog;

/// Everything a handler gets for one attempt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepInput {
    /// Task id.
    pub task_uuid: Uuid,
    /// Step id.
    pub step_uuid: Uuid,
    /// Step name in the template.
    pub step_name: String,
    /// Attempt number, starting at 1.
    pub attempt: u32,
    /// The task's input context.
    pub context: Value,
    /// Results of the parent steps by step name.
    pub parent_results: BTreeMap<String, Value>,
    /// The step's `handler.initialization` from the template.
    pub initialization: Value,
    /// The attempt's step log: lines written here are served by the step logs route.
    pub log: StepLog,
    /// For a batch copy: `{"index", "count", "cursor"}`.
    pub batch: Option<Value>,
    /// Indexes of the failed copies of a `continue` batch this step depends on.
    pub failed_batches: Vec<u32>,
    /// Raised when the step's task is cancelled while the handler runs: stop and return
    /// (any result is discarded); after `worker.cancel_grace_seconds` the handler is stopped.
    pub cancel: super::cancel::Cancellation,
}

/// A failed attempt.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    /// What went wrong.
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
    /// Extra structured details stored with the error.
    pub details: Option<Value>,
}

impl HandlerError {
    /// A failure worth retrying.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            details: None,
        }
    }

    /// A failure no retry will fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            details: None,
        }
    }
}

/// Runs one step. Implementations must be safe to call concurrently.
#[async_trait]
pub trait StepHandler: Send + Sync + 'static {
    /// Executes one attempt and returns the step's result.
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError>;
}

/// Handlers by name (`builtin.echo`, `payments.charge`, …).
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    handlers: HashMap<String, Arc<dyn StepHandler>>,
}

impl std::fmt::Debug for HandlerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerRegistry")
            .field("handlers", &self.names())
            .finish()
    }
}

impl HandlerRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding the built-in handlers.
    pub fn with_builtins() -> Self {
        let mut registry = Self::new();
        super::builtin::register(&mut registry);
        registry
    }

    /// Adds or replaces a handler.
    pub fn register(&mut self, name: impl Into<String>, handler: impl StepHandler) -> &mut Self {
        self.handlers.insert(name.into(), Arc::new(handler));
        self
    }

    /// Whether a handler has this name.
    pub fn contains(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }

    /// The handler registered under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn StepHandler>> {
        self.handlers.get(name).cloned()
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        names
    }
}
