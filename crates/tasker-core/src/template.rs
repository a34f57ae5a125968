//! Task templates: the YAML model of a workflow (steps, handlers, dependencies, retry policy)
//! and parsing from YAML or JSON text into a validated template.

mod dynamic;
mod flow_depth;
mod limits;
mod validate;
mod waiting;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use dynamic::{BatchFailure, BatchSpec, StepType};
pub use limits::{MAX_TEMPLATE_BYTES, MAX_TEMPLATE_DEPTH, MAX_TEMPLATE_STEPS};
pub use validate::{TemplateError, TemplateErrors};
pub use waiting::{ApprovalSpec, OnTimeout, SubtaskSpec, select_path};

/// A workflow definition: a DAG of steps, each run by a named handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    /// Template name, unique within its namespace and version.
    pub name: String,
    /// Namespace the template (and its steps) belong to; workers serve namespaces.
    pub namespace: String,
    /// Semantic version.
    pub version: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema every task context must satisfy.
    #[serde(default)]
    pub input_schema: Option<Value>,
    /// The steps, in any order; edges come from `depends_on`.
    pub steps: Vec<StepTemplate>,
    /// Schedules firing tasks of this template, registered whenever the template loads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<crate::schedule::ScheduleSpec>,
}

/// One node of the DAG.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepTemplate {
    /// Unique within the template.
    pub name: String,
    /// Step type; `standard` when unset.
    #[serde(
        default,
        rename = "type",
        skip_serializing_if = "StepType::is_standard"
    )]
    pub step_type: StepType,
    /// Steps a decision may choose to create (decisions only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<String>,
    /// The worker pattern and failure policy (batchable steps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchSpec>,
    /// An approval's timeout (approval steps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalSpec>,
    /// The child task to create (subtask steps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtask: Option<SubtaskSpec>,
    /// Which handler runs the step, and its static configuration (absent for the waiting
    /// types `approval` and `subtask`).
    #[serde(default, skip_serializing_if = "HandlerSpec::is_empty")]
    pub handler: HandlerSpec,
    /// Names of the steps that must finish first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Retry policy; unset fields take the engine defaults.
    #[serde(default)]
    pub retry: RetrySpec,
    /// Per-attempt time limit; engine default when unset.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// A handler reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerSpec {
    /// Registered handler name, e.g. `builtin.echo`.
    pub callable: String,
    /// Static configuration handed to the handler on every attempt.
    #[serde(default)]
    pub initialization: Value,
}

impl HandlerSpec {
    /// No handler given (a waiting step's).
    pub fn is_empty(&self) -> bool {
        self.callable.is_empty() && self.initialization.is_null()
    }
}

/// Retry settings of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Whether failures may be retried at all.
    #[serde(default = "default_true")]
    pub retryable: bool,
    /// Attempts including the first.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// First retry delay in milliseconds.
    #[serde(default)]
    pub backoff_base_ms: Option<u64>,
    /// Upper bound of the retry delay in milliseconds.
    #[serde(default)]
    pub max_backoff_ms: Option<u64>,
}

impl Default for RetrySpec {
    fn default() -> Self {
        Self {
            retryable: true,
            max_attempts: None,
            backoff_base_ms: None,
            max_backoff_ms: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// Parses a template from YAML (JSON is valid YAML) and validates its structure, within the
/// input limits ([`MAX_TEMPLATE_BYTES`], [`MAX_TEMPLATE_DEPTH`], [`MAX_TEMPLATE_STEPS`]).
/// Handler names are not checked here; see [`TaskTemplate::unknown_handlers`]. CPU-bound:
/// async callers run it off the executor.
pub fn parse_template(text: &str) -> Result<TaskTemplate, TemplateErrors> {
    limits::check_text(text).map_err(TemplateErrors::single)?;
    let template: TaskTemplate = serde_yaml::from_str(text)
        .map_err(|e| TemplateErrors::single(TemplateError::Syntax(e.to_string())))?;
    template.validate()?;
    Ok(template)
}

impl TaskTemplate {
    /// Structural validation: names, semver, dependencies, cycles, retry settings, schema.
    pub fn validate(&self) -> Result<(), TemplateErrors> {
        validate::validate(self)
    }

    /// Handler names used by this template that `known` does not recognise.
    pub fn unknown_handlers(&self, known: impl Fn(&str) -> bool) -> Vec<String> {
        let mut missing: Vec<String> = self
            .steps
            .iter()
            .filter(|s| !s.step_type.is_waiting())
            .map(|s| s.handler.callable.clone())
            .filter(|h| !known(h))
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }

    /// Looks a step up by name.
    pub fn step(&self, name: &str) -> Option<&StepTemplate> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Parsed semantic version (valid after [`TaskTemplate::validate`]).
    pub fn semver(&self) -> Option<semver::Version> {
        semver::Version::parse(&self.version).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIAMOND: &str = r#"
name: diamond
namespace: examples
version: 1.0.0
steps:
  - name: a
    handler: { callable: builtin.echo }
  - name: b
    handler: { callable: builtin.echo }
    depends_on: [a]
  - name: c
    handler: { callable: builtin.echo, initialization: { x: 1 } }
    depends_on: [a]
    retry: { retryable: false, max_attempts: 2 }
  - name: d
    handler: { callable: builtin.echo }
    depends_on: [b, c]
    timeout_seconds: 5
"#;

    #[test]
    fn parses_a_diamond() {
        let t = parse_template(DIAMOND).unwrap();
        assert_eq!(t.steps.len(), 4);
        let c = t.step("c").unwrap();
        assert!(!c.retry.retryable);
        assert_eq!(c.retry.max_attempts, Some(2));
        assert_eq!(c.handler.initialization["x"], 1);
        assert_eq!(t.step("d").unwrap().timeout_seconds, Some(5));
        assert!(t.step("a").unwrap().retry.retryable);
    }

    #[test]
    fn bad_yaml_is_an_error_not_a_panic() {
        let err = parse_template("name: [unclosed").unwrap_err();
        assert!(matches!(err.errors()[0], TemplateError::Syntax(_)));
        let err = parse_template("name: x\nnamespace: y\nversion: 1.0.0\nsteps: []\nbogus: 1")
            .unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    #[test]
    fn malformed_documents_are_errors() {
        let inputs = [
            "",
            "---",
            "null",
            "[]",
            "42",
            "steps: 5",
            "name: x\nnamespace: y\nversion: 1.0.0\nsteps: [{}]",
            "name: x\nnamespace: y\nversion: 1.0.0\nsteps: [{name: a, handler: 7}]",
            "name: x\nnamespace: y\nversion: 1.0.0\nsteps: [{name: a, handler: {callable: h}, depends_on: a}]",
            "{\"name\": \"x\", \"steps\": [",
            "\u{0}\u{1}\u{2}",
            &"[".repeat(10_000),
        ];
        for input in inputs {
            assert!(parse_template(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn schedules_are_declared_and_checked() {
        let with = format!(
            "{DIAMOND}schedules:\n  - {{cron: '0 3 * * *', timezone: Europe/Berlin, context: {{x: 1}}, overlap: skip, catchup: all}}\n  - {{cron: '@hourly'}}\n"
        );
        let t = parse_template(&with).unwrap();
        assert_eq!(t.schedules.len(), 2);
        assert_eq!(t.schedules[0].overlap, crate::Overlap::Skip);
        assert_eq!(t.schedules[0].catchup, crate::Catchup::All);
        assert_eq!(t.schedules[1].timezone, "UTC");
        assert_eq!(t.schedules[1].catchup, crate::Catchup::Latest);
        let bad = format!(
            "{DIAMOND}schedules:\n  - {{cron: '0 3 * *'}}\n  - {{cron: '@daily', timezone: Nowhere/City}}\n  - {{cron: '@daily', context: 5}}\n"
        );
        let messages = parse_template(&bad).unwrap_err().messages();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(
            messages[0].starts_with("schedules[0].cron: "),
            "{messages:?}"
        );
        assert!(
            messages[1].starts_with("schedules[1].timezone: "),
            "{messages:?}"
        );
        assert!(messages[1].contains("Nowhere/City"), "{messages:?}");
        assert_eq!(messages[2], "schedules[2].context: must be a JSON object");
    }

    #[test]
    fn unknown_handlers_are_listed_once() {
        let t = parse_template(DIAMOND).unwrap();
        assert_eq!(
            t.unknown_handlers(|_| false),
            vec!["builtin.echo".to_owned()]
        );
        assert!(t.unknown_handlers(|h| h == "builtin.echo").is_empty());
    }
}
