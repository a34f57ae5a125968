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
    /// Number of steps.
    pub step_count: usize,
}

/// One step of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateStepView {
    /// Step name.
    pub name: String,
    /// Handler callable.
    pub handler: String,
    /// Parents.
    pub depends_on: Vec<String>,
}

/// A registered template in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateView {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Semver version.
    pub version: String,
    /// Description.
    pub description: Option<String>,
    /// JSON Schema of the task context.
    pub input_schema: Option<Value>,
    /// Steps.
    pub steps: Vec<TemplateStepView>,
    /// The template document as registered.
    pub definition: Value,
}

/// Outcome of validating a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValidationReport {
    /// Whether the template is valid.
    pub valid: bool,
    /// What is wrong, one message per problem.
    pub errors: Vec<String>,
}
