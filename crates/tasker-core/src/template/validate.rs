//! Structural validation of templates; every problem found is reported, each naming the step,
//! dependency, cycle or field at fault.

use std::collections::HashSet;
use std::fmt;

use super::TaskTemplate;
use crate::dag;

/// One problem with a template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The text is not a well-formed template document.
    #[error("invalid template document: {0}")]
    Syntax(String),
    /// The document is larger than [`super::MAX_TEMPLATE_BYTES`].
    #[error("template document is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The document nests deeper than [`super::MAX_TEMPLATE_DEPTH`].
    #[error("template document nests deeper than {limit} levels")]
    TooDeep {
        /// The limit in levels.
        limit: usize,
    },
    /// The template has more than [`super::MAX_TEMPLATE_STEPS`] steps.
    #[error("template has more than {limit} steps")]
    TooManySteps {
        /// The limit in steps.
        limit: usize,
    },
    /// A required text field is empty.
    #[error("`{0}` must not be empty")]
    Empty(&'static str),
    /// The version is not semver.
    #[error("version `{version}` is not a semantic version: {reason}")]
    InvalidVersion {
        /// The offending value.
        version: String,
        /// Parser message.
        reason: String,
    },
    /// A template needs at least one step.
    #[error("template has no steps")]
    NoSteps,
    /// Two steps share a name.
    #[error("duplicate step name `{0}`")]
    DuplicateStep(String),
    /// `depends_on` names a step that does not exist.
    #[error("step `{step}` depends on unknown step `{dependency}`")]
    UnknownDependency {
        /// The dependent step.
        step: String,
        /// The missing parent.
        dependency: String,
    },
    /// The dependencies form a cycle (listed in order, first step repeated at the end).
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// Retry settings are inconsistent.
    #[error("step `{step}`: invalid retry settings: {reason}")]
    InvalidRetry {
        /// The step.
        step: String,
        /// What is wrong.
        reason: String,
    },
    /// `timeout_seconds` is zero.
    #[error("step `{0}`: timeout_seconds must be greater than 0")]
    InvalidTimeout(String),
    /// `input_schema` is not a valid JSON Schema.
    #[error("input_schema is not a valid JSON Schema: {0}")]
    InvalidInputSchema(String),
    /// A dynamic step type's rule is broken (see the dynamic template module).
    #[error("step `{step}`: {reason}")]
    InvalidStepType {
        /// The step.
        step: String,
        /// What is wrong.
        reason: String,
    },
    /// Decisions nest deeper than `engine.max_decision_depth`.
    #[error("decisions nest {depth} deep, more than engine.max_decision_depth ({max})")]
    DecisionTooDeep {
        /// Depth found.
        depth: usize,
        /// The configured limit.
        max: usize,
    },
    /// No registered handler has this name.
    #[error("step `{step}`: unknown handler `{handler}`")]
    UnknownHandler {
        /// The step.
        step: String,
        /// The handler name.
        handler: String,
    },
    /// An entry of `schedules:` is invalid (bad cron or timezone, context not an object).
    #[error("schedules[{index}].{problem}")]
    InvalidSchedule {
        /// Position in the list.
        index: usize,
        /// The field and what is wrong with it.
        problem: String,
    },
}

/// Every problem found in a template (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateErrors(Vec<TemplateError>);

impl TemplateErrors {
    pub(crate) fn single(error: TemplateError) -> Self {
        Self(vec![error])
    }

    /// The individual problems.
    pub fn errors(&self) -> &[TemplateError] {
        &self.0
    }

    /// Problems as display strings.
    pub fn messages(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for TemplateErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.messages().join("; "))
    }
}

impl std::error::Error for TemplateErrors {}

impl TaskTemplate {
    /// Checks that every handler is known, naming each step whose handler is not.
    pub fn check_handlers(&self, known: impl Fn(&str) -> bool) -> Result<(), TemplateErrors> {
        let errors: Vec<TemplateError> = self
            .steps
            .iter()
            .filter(|s| !s.step_type.is_waiting() && !known(&s.handler.callable))
            .map(|s| TemplateError::UnknownHandler {
                step: s.name.clone(),
                handler: s.handler.callable.clone(),
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TemplateErrors(errors))
        }
    }
}

pub(super) fn validate(t: &TaskTemplate) -> Result<(), TemplateErrors> {
    super::limits::check_template(t).map_err(TemplateErrors::single)?;
    let mut errors = Vec::new();
    for (field, value) in [("name", &t.name), ("namespace", &t.namespace)] {
        if value.trim().is_empty() {
            errors.push(TemplateError::Empty(field));
        }
    }
    if let Err(e) = semver::Version::parse(&t.version) {
        errors.push(TemplateError::InvalidVersion {
            version: t.version.clone(),
            reason: e.to_string(),
        });
    }
    if t.steps.is_empty() {
        errors.push(TemplateError::NoSteps);
    }
    if let Some(Err(e)) = t.input_schema.as_ref().map(jsonschema::validator_for) {
        errors.push(TemplateError::InvalidInputSchema(e.to_string()));
    }
    let mut seen = HashSet::new();
    for step in &t.steps {
        if step.name.trim().is_empty() {
            errors.push(TemplateError::Empty("steps[].name"));
        } else if !seen.insert(step.name.as_str()) {
            errors.push(TemplateError::DuplicateStep(step.name.clone()));
        }
        if !step.step_type.is_waiting() && step.handler.callable.trim().is_empty() {
            errors.push(TemplateError::Empty("steps[].handler.callable"));
        }
        if step.timeout_seconds == Some(0) {
            errors.push(TemplateError::InvalidTimeout(step.name.clone()));
        }
        if let Some(reason) = retry_problem(step) {
            errors.push(TemplateError::InvalidRetry {
                step: step.name.clone(),
                reason,
            });
        }
    }
    let names: HashSet<&str> = t.steps.iter().map(|s| s.name.as_str()).collect();
    let mut dangling = false;
    for step in &t.steps {
        for dep in &step.depends_on {
            if !names.contains(dep.as_str()) {
                dangling = true;
                errors.push(TemplateError::UnknownDependency {
                    step: step.name.clone(),
                    dependency: dep.clone(),
                });
            }
        }
    }
    if !dangling {
        let edges: Vec<(&str, Vec<&str>)> = t
            .steps
            .iter()
            .map(|s| {
                let deps = s.depends_on.iter().map(String::as_str).collect();
                (s.name.as_str(), deps)
            })
            .collect();
        if let Some(cycle) = dag::find_cycle(&edges) {
            errors.push(TemplateError::Cycle(cycle));
        }
    }
    errors.extend(
        crate::schedule::declared_problems(&t.schedules)
            .into_iter()
            .map(|(index, problem)| TemplateError::InvalidSchedule { index, problem }),
    );
    super::dynamic::check(t, &mut errors);
    super::waiting::check(t, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(TemplateErrors(errors))
    }
}

fn retry_problem(step: &super::StepTemplate) -> Option<String> {
    let r = &step.retry;
    if r.max_attempts == Some(0) {
        return Some("max_attempts must be at least 1".to_owned());
    }
    match (r.backoff_base_ms, r.max_backoff_ms) {
        (Some(base), Some(max)) if max < base => Some(format!(
            "max_backoff_ms ({max}) is smaller than backoff_base_ms ({base})"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::template::{TemplateError, parse_template};

    fn errors_of(yaml: &str) -> Vec<TemplateError> {
        parse_template(yaml).unwrap_err().errors().to_vec()
    }

    const HEAD: &str = "name: t\nnamespace: ns\nversion: 1.0.0\n";

    #[test]
    fn duplicate_step_is_named() {
        let e = errors_of(&format!(
            "{HEAD}steps:\n  - {{name: a, handler: {{callable: h}}}}\n  - {{name: a, handler: {{callable: h}}}}\n"
        ));
        assert_eq!(e, vec![TemplateError::DuplicateStep("a".into())]);
    }

    #[test]
    fn unknown_dependency_is_named() {
        let e = errors_of(&format!(
            "{HEAD}steps:\n  - {{name: a, handler: {{callable: h}}, depends_on: [ghost]}}\n"
        ));
        assert_eq!(
            e,
            vec![TemplateError::UnknownDependency {
                step: "a".into(),
                dependency: "ghost".into()
            }]
        );
    }

    #[test]
    fn cycle_is_named_in_order() {
        let e = errors_of(&format!(
            "{HEAD}steps:\n  - {{name: a, handler: {{callable: h}}, depends_on: [c]}}\n  - {{name: b, handler: {{callable: h}}, depends_on: [a]}}\n  - {{name: c, handler: {{callable: h}}, depends_on: [b]}}\n"
        ));
        let msg = e[0].to_string();
        assert!(
            matches!(e[0], TemplateError::Cycle(ref c) if c.len() == 4),
            "{msg}"
        );
        assert!(
            msg.contains("a -> ") && msg.contains("b") && msg.contains("c"),
            "{msg}"
        );
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let e = errors_of(&format!(
            "{HEAD}steps:\n  - {{name: a, handler: {{callable: h}}, depends_on: [a]}}\n"
        ));
        assert_eq!(e, vec![TemplateError::Cycle(vec!["a".into(), "a".into()])]);
    }

    #[test]
    fn bad_semver_retry_timeout_and_schema_are_all_reported() {
        let yaml = "name: t\nnamespace: ns\nversion: one\ninput_schema: {type: 12}\nsteps:\n  - {name: a, handler: {callable: h}, timeout_seconds: 0, retry: {max_attempts: 0}}\n  - {name: b, handler: {callable: h}, retry: {backoff_base_ms: 100, max_backoff_ms: 10}}\n";
        let e = errors_of(yaml);
        assert!(
            matches!(e[0], TemplateError::InvalidVersion { ref version, .. } if version == "one")
        );
        assert!(
            e.iter()
                .any(|x| matches!(x, TemplateError::InvalidInputSchema(_)))
        );
        assert!(e.contains(&TemplateError::InvalidTimeout("a".into())));
        assert!(
            e.iter()
                .any(|x| matches!(x, TemplateError::InvalidRetry { step, .. } if step == "a"))
        );
        assert!(e.iter().any(|x| matches!(x, TemplateError::InvalidRetry { step, reason } if step == "b" && reason.contains("max_backoff_ms"))));
    }

    #[test]
    fn empty_steps_and_names() {
        let e = errors_of("name: ''\nnamespace: ns\nversion: 1.0.0\nsteps: []\n");
        assert_eq!(
            e,
            vec![TemplateError::Empty("name"), TemplateError::NoSteps]
        );
    }

    #[test]
    fn handler_check_names_step_and_handler() {
        let t = parse_template(&format!(
            "{HEAD}steps:\n  - {{name: a, handler: {{callable: builtin.echo}}}}\n  - {{name: b, handler: {{callable: nope}}}}\n"
        ))
        .unwrap();
        let err = t.check_handlers(|h| h == "builtin.echo").unwrap_err();
        assert_eq!(err.to_string(), "step `b`: unknown handler `nope`");
    }
}
