//! Template bodies.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A registered template, summarised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateSummary {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Semver version.
    pub version: String,
    /// Description.
    pub description: Option<String>,
    /// Step names in template order.
    pub steps: Vec<String>,
    /// Whether task contexts are validated against an input schema.
    pub has_input_schema: bool,
}

/// The handler of a template step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateHandlerView {
    /// Registered handler name (`builtin.echo`, ...).
    pub callable: String,
    /// Handler settings.
    #[serde(default)]
    pub initialization: Value,
}

/// One step of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateStepView {
    /// Step name.
    pub name: String,
    /// `standard`, `decision`, `deferred_convergence`, `batchable`, `batch_worker`, `approval` or
    /// `subtask`.
    #[serde(rename = "type", default = "standard")]
    pub step_type: String,
    /// A decision's branches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<String>,
    /// A batchable's `{"worker", "failure"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub batch: Option<Value>,
    /// Handler.
    pub handler: TemplateHandlerView,
    /// Parents.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Retry policy; unset fields take the engine defaults.
    pub retry: TemplateRetryView,
    /// Per-attempt time limit.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// Retry settings of a template step, as written in the template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TemplateRetryView {
    /// Whether failures may be retried at all.
    pub retryable: bool,
    /// Attempts including the first.
    pub max_attempts: Option<u32>,
    /// First retry delay in milliseconds.
    pub backoff_base_ms: Option<u64>,
    /// Upper bound of the retry delay in milliseconds.
    pub max_backoff_ms: Option<u64>,
}

/// A registered template in full (the YAML document as JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateView {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Semver version.
    pub version: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema of the task context.
    #[serde(default)]
    pub input_schema: Option<Value>,
    /// Steps.
    pub steps: Vec<TemplateStepView>,
}

/// Outcome of validating a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValidationReport {
    /// Whether the template is valid.
    pub valid: bool,
    /// What is wrong, one message per problem.
    pub errors: Vec<String>,
}

fn standard() -> String {
    "standard".to_owned()
}
