//! Waiting step types of a template (`approval`, `subtask`): their settings and rules. They
//! run no handler (a template that gives them one is refused); an approval waits for a signal
//! or its timeout, a subtask for the child task it creates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{StepTemplate, StepType, TaskTemplate, TemplateError};

/// What happens when an approval's `timeout_seconds` pass without a signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTimeout {
    /// The step fails permanently, naming the timeout.
    #[default]
    Reject,
}

/// `approval:` of an approval step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSpec {
    /// Seconds to wait for a signal; unset waits for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// What a timeout means.
    #[serde(default)]
    pub on_timeout: OnTimeout,
}

/// `subtask:` of a subtask step: the child task's template and its context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubtaskSpec {
    /// Child template namespace.
    pub namespace: String,
    /// Child template name.
    pub name: String,
    /// Child template version; the newest registered when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Fixed part of the child's context (a JSON object).
    #[serde(default = "empty_object")]
    pub context: Value,
    /// Child context field → dotted path into the parent (`context.x` or
    /// `parent_results.step.field`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub context_from: BTreeMap<String, String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl StepType {
    /// Whether a step of this type waits for something outside the workers instead of
    /// running a handler.
    pub fn is_waiting(self) -> bool {
        matches!(self, Self::Approval | Self::Subtask)
    }
}

impl StepTemplate {
    /// The settings a waiting step is stored with (in place of a handler's initialization).
    pub(crate) fn waiting_settings(&self) -> Option<Value> {
        match self.step_type {
            StepType::Approval => {
                serde_json::to_value(self.approval.clone().unwrap_or_default()).ok()
            }
            StepType::Subtask => self
                .subtask
                .as_ref()
                .and_then(|s| serde_json::to_value(s).ok()),
            _ => None,
        }
    }
}

impl TaskTemplate {
    /// The child templates its subtask steps name (`namespace`, `name`, `version`).
    pub fn subtask_targets(&self) -> Vec<(&str, &SubtaskSpec)> {
        self.steps
            .iter()
            .filter_map(|s| s.subtask.as_ref().map(|t| (s.name.as_str(), t)))
            .collect()
    }
}

/// Checks the waiting-type rules, adding one error per problem, each naming the step.
pub(super) fn check(t: &TaskTemplate, errors: &mut Vec<TemplateError>) {
    for s in &t.steps {
        let problem = |reason: String| TemplateError::InvalidStepType {
            step: s.name.clone(),
            reason,
        };
        if s.step_type != StepType::Approval && s.approval.is_some() {
            errors.push(problem("only an approval step may have `approval`".into()));
        }
        if s.step_type != StepType::Subtask && s.subtask.is_some() {
            errors.push(problem("only a subtask step may have `subtask`".into()));
        }
        if !s.step_type.is_waiting() {
            continue;
        }
        let kind = s.step_type.as_str();
        if !s.handler.is_empty() {
            errors.push(problem(format!(
                "a {kind} step runs no handler; remove `handler`"
            )));
        }
        if s.approval.as_ref().and_then(|a| a.timeout_seconds) == Some(0) {
            errors.push(problem(
                "approval.timeout_seconds must be greater than 0".into(),
            ));
        }
        if s.step_type == StepType::Subtask {
            match &s.subtask {
                None => errors.push(problem(
                    "a subtask step needs `subtask: {namespace, name}`".into(),
                )),
                Some(spec) => check_subtask(spec, s, &mut |r| errors.push(problem(r))),
            }
        }
    }
}

fn check_subtask(spec: &SubtaskSpec, step: &StepTemplate, push: &mut impl FnMut(String)) {
    if spec.namespace.trim().is_empty() || spec.name.trim().is_empty() {
        push("subtask.namespace and subtask.name must not be empty".into());
    }
    if let Some(v) = &spec.version
        && semver::Version::parse(v).is_err()
    {
        push(format!("subtask.version `{v}` is not a semantic version"));
    }
    if !spec.context.is_object() {
        push("subtask.context must be a JSON object".into());
    }
    for (field, path) in &spec.context_from {
        let mut parts = path.split('.');
        match (parts.next(), parts.next()) {
            (Some("context"), Some(f)) if !f.is_empty() => {}
            (Some("parent_results"), Some(p)) if step.depends_on.iter().any(|d| d == p) => {}
            (Some("parent_results"), Some(p)) => push(format!(
                "subtask.context_from.{field}: `{p}` is not a parent of this step"
            )),
            _ => push(format!(
                "subtask.context_from.{field}: `{path}` must start with `context.` or `parent_results.<step>`"
            )),
        }
    }
}

/// Follows a dotted path (`context.a.b`, `parent_results.step.field`) into `root`, an object
/// with `context` and `parent_results`; `None` when a part is missing.
pub fn select_path<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |v, part| match v {
        Value::Object(m) => m.get(part),
        Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use crate::template::parse_template;
    use serde_json::json;

    const HEAD: &str = "name: t\nnamespace: ns\nversion: 1.0.0\nsteps:\n";

    fn reasons(steps: &str) -> Vec<String> {
        match parse_template(&format!("{HEAD}{steps}")) {
            Ok(_) => Vec::new(),
            Err(e) => e.messages(),
        }
    }

    #[test]
    fn approval_and_subtask_steps_parse_without_a_handler() {
        let t = parse_template(&format!(
            "{HEAD}
  - {{name: a, handler: {{callable: h}}}}
  - {{name: ok, type: approval, approval: {{timeout_seconds: 60}}, depends_on: [a]}}
  - {{name: child, type: subtask, depends_on: [a], subtask: {{namespace: n, name: c, context: {{x: 1}}, context_from: {{y: parent_results.a.v, z: context.q}}}}}}
"
        ))
        .unwrap();
        let ok = t.step("ok").unwrap();
        assert!(ok.step_type.is_waiting());
        assert_eq!(
            ok.waiting_settings().unwrap(),
            json!({"timeout_seconds": 60, "on_timeout": "reject"})
        );
        assert_eq!(t.subtask_targets()[0].1.name, "c");
        assert!(t.unknown_handlers(|h| h == "h").is_empty());
        let back = serde_json::to_value(&t).unwrap();
        assert!(back["steps"][1].get("handler").is_none(), "{back}");
    }

    #[test]
    fn waiting_rules_name_the_step() {
        let r = reasons(
            "
  - {name: a, type: approval, handler: {callable: h}}
  - {name: b, type: subtask}
  - {name: c, handler: {callable: h}, approval: {timeout_seconds: 1}}
  - {name: d, type: approval, approval: {timeout_seconds: 0}}
  - {name: e, type: subtask, subtask: {namespace: n, name: '', version: x, context: 3, context_from: {f: results.x, g: parent_results.zz}}}
  - {name: s}
",
        );
        let want = [
            "step `a`: a approval step runs no handler",
            "step `b`: a subtask step needs `subtask: {namespace, name}`",
            "step `c`: only an approval step may have `approval`",
            "step `d`: approval.timeout_seconds must be greater than 0",
            "step `e`: subtask.namespace and subtask.name must not be empty",
            "step `e`: subtask.version `x` is not a semantic version",
            "step `e`: subtask.context must be a JSON object",
            "step `e`: subtask.context_from.f: `results.x` must start with",
            "step `e`: subtask.context_from.g: `zz` is not a parent of this step",
            "`steps[].handler.callable` must not be empty",
        ];
        for w in want {
            assert!(r.iter().any(|m| m.starts_with(w)), "{w} not in {r:?}");
        }
    }

    #[test]
    fn paths_select_nested_values() {
        let root = json!({"context": {"a": {"b": [1, 2]}}, "parent_results": {"s": {"v": "x"}}});
        assert_eq!(super::select_path(&root, "context.a.b.1"), Some(&json!(2)));
        assert_eq!(
            super::select_path(&root, "parent_results.s.v"),
            Some(&json!("x"))
        );
        assert_eq!(super::select_path(&root, "context.nope"), None);
    }
}
