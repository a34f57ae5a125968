//! Dynamic step types of a template (`decision`, `deferred_convergence`, `batchable`,
//! `batch_worker`), their settings, and the structural rules between them: branches name
//! existing steps, a batchable names a `batch_worker` that depends on it, no step is both a
//! branch and a batch worker, and decisions nest no deeper than a configured limit.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{StepTemplate, TaskTemplate, TemplateError};

/// What kind of step a template step is (`type:` in YAML, `standard` when unset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepType {
    /// Runs once when its parents are done.
    #[default]
    Standard,
    /// Chooses which of its `branches` are created.
    Decision,
    /// Joins whichever of its possible parents were created.
    DeferredConvergence,
    /// Splits work into copies of its `batch.worker`.
    Batchable,
    /// The pattern of a batchable's copies; never created itself.
    BatchWorker,
    /// Waits for a signal (approve or reject) or its timeout.
    Approval,
    /// Creates a child task and waits for it to end.
    Subtask,
}

impl StepType {
    /// The snake_case name used in YAML, storage and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Decision => "decision",
            Self::DeferredConvergence => "deferred_convergence",
            Self::Batchable => "batchable",
            Self::BatchWorker => "batch_worker",
            Self::Approval => "approval",
            Self::Subtask => "subtask",
        }
    }

    /// Parses a stored name; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Standard,
            Self::Decision,
            Self::DeferredConvergence,
            Self::Batchable,
            Self::BatchWorker,
            Self::Approval,
            Self::Subtask,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// Whether this is the default type (kept out of serialised templates).
    pub fn is_standard(&self) -> bool {
        *self == Self::Standard
    }

    /// Whether completing a step of this type can create further steps.
    pub fn creates_steps(self) -> bool {
        matches!(self, Self::Decision | Self::Batchable)
    }
}

/// What happens to a batch when one of its copies fails permanently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchFailure {
    /// The task is blocked and the unfinished copies are cancelled.
    #[default]
    FailFast,
    /// The failure is recorded; dependents run with the successful results.
    Continue,
}

/// `batch:` of a batchable step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSpec {
    /// The `batch_worker` step copied once per batch.
    pub worker: String,
    /// Failure policy of the copies.
    #[serde(default)]
    pub failure: BatchFailure,
}

impl TaskTemplate {
    /// Whether any step is of a dynamic type (the task then carries a plan of its shape).
    pub fn is_dynamic(&self) -> bool {
        self.steps.iter().any(|s| !s.step_type.is_standard())
    }

    /// The deepest chain of decisions where each is a branch of, or downstream of a branch
    /// of, the one before (1 for a single decision, 0 when there is none).
    pub fn decision_depth(&self) -> usize {
        let by_name: HashMap<&str, &StepTemplate> =
            self.steps.iter().map(|s| (s.name.as_str(), s)).collect();
        let mut memo: HashMap<&str, usize> = HashMap::new();
        self.steps
            .iter()
            .filter(|s| s.step_type == StepType::Decision)
            .map(|s| depth_below(s, &by_name, self, &mut memo, 0))
            .max()
            .unwrap_or(0)
    }

    /// Refuses decisions nested deeper than `max` (`engine.max_decision_depth`).
    pub fn check_decision_depth(&self, max: usize) -> Result<(), super::TemplateErrors> {
        let depth = self.decision_depth();
        if depth > max {
            Err(super::TemplateErrors::single(
                TemplateError::DecisionTooDeep { depth, max },
            ))
        } else {
            Ok(())
        }
    }

    /// Names of the steps downstream of `name` (not including it), following `depends_on`
    /// backwards.
    pub fn downstream_of(&self, name: &str) -> HashSet<String> {
        let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
        for s in &self.steps {
            for p in &s.depends_on {
                children
                    .entry(p.as_str())
                    .or_default()
                    .push(s.name.as_str());
            }
        }
        let mut out = HashSet::new();
        let mut stack = vec![name];
        while let Some(n) = stack.pop() {
            for c in children.get(n).into_iter().flatten() {
                if out.insert((*c).to_owned()) {
                    stack.push(c);
                }
            }
        }
        out
    }
}

/// Decision depth starting at `step` (a decision): 1 + the deepest decision downstream of it.
/// `guard` bounds the recursion on cyclic input (reported separately as a cycle).
fn depth_below<'a>(
    step: &'a StepTemplate,
    by_name: &HashMap<&'a str, &'a StepTemplate>,
    t: &'a TaskTemplate,
    memo: &mut HashMap<&'a str, usize>,
    guard: usize,
) -> usize {
    if let Some(d) = memo.get(step.name.as_str()) {
        return *d;
    }
    if guard > t.steps.len() {
        return 0;
    }
    let below = t
        .downstream_of(&step.name)
        .iter()
        .filter_map(|n| by_name.get(n.as_str()).copied())
        .filter(|s| s.step_type == StepType::Decision)
        .map(|s| depth_below(s, by_name, t, memo, guard + 1))
        .max()
        .unwrap_or(0);
    memo.insert(step.name.as_str(), below + 1);
    below + 1
}

/// Checks the dynamic-type rules, adding one error per problem, each naming the step.
pub(super) fn check(t: &TaskTemplate, errors: &mut Vec<TemplateError>) {
    let by_name: HashMap<&str, &StepTemplate> =
        t.steps.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut branch_of: HashSet<&str> = HashSet::new();
    let mut worker_of: HashMap<&str, &str> = HashMap::new();
    for s in &t.steps {
        let problem = |reason: String| TemplateError::InvalidStepType {
            step: s.name.clone(),
            reason,
        };
        if s.step_type != StepType::Decision && !s.branches.is_empty() {
            errors.push(problem("only a decision step may list `branches`".into()));
        }
        if s.step_type != StepType::Batchable && s.batch.is_some() {
            errors.push(problem("only a batchable step may have `batch`".into()));
        }
        match s.step_type {
            StepType::Decision => {
                let mut seen = HashSet::new();
                for b in &s.branches {
                    if !seen.insert(b.as_str()) {
                        errors.push(problem(format!("branch `{b}` is listed twice")));
                    }
                    match by_name.get(b.as_str()) {
                        None => errors.push(problem(format!("branch `{b}` is not a step"))),
                        Some(_) if b == &s.name => {
                            errors.push(problem("a decision cannot be its own branch".into()))
                        }
                        Some(_) => {
                            branch_of.insert(b.as_str());
                        }
                    }
                }
            }
            StepType::Batchable => match &s.batch {
                None => errors.push(problem(
                    "a batchable step needs `batch: {worker: ...}`".into(),
                )),
                Some(spec) => match by_name.get(spec.worker.as_str()) {
                    Some(_)
                        if worker_of
                            .get(spec.worker.as_str())
                            .is_some_and(|o| *o != s.name) =>
                    {
                        errors.push(problem(format!(
                            "batch worker `{}` is already the worker of `{}`",
                            spec.worker,
                            worker_of[spec.worker.as_str()]
                        )));
                    }
                    None => errors.push(problem(format!(
                        "batch worker `{}` is not a step",
                        spec.worker
                    ))),
                    Some(w) => {
                        worker_of.insert(spec.worker.as_str(), &s.name);
                        if w.step_type != StepType::BatchWorker {
                            errors.push(problem(format!(
                                "batch worker `{}` must have `type: batch_worker`",
                                spec.worker
                            )));
                        } else if !w.depends_on.contains(&s.name) {
                            errors.push(problem(format!(
                                "batch worker `{}` must depend on `{}`",
                                spec.worker, s.name
                            )));
                        }
                    }
                },
            },
            StepType::DeferredConvergence if s.depends_on.is_empty() => {
                errors.push(problem(
                    "a deferred_convergence step must list its possible parents in `depends_on`"
                        .into(),
                ));
            }
            _ => {}
        }
    }
    for s in &t.steps {
        if s.step_type == StepType::BatchWorker {
            if !worker_of.contains_key(s.name.as_str()) {
                errors.push(TemplateError::InvalidStepType {
                    step: s.name.clone(),
                    reason: "no batchable step names this batch_worker".into(),
                });
            }
            if branch_of.contains(s.name.as_str()) {
                errors.push(TemplateError::InvalidStepType {
                    step: s.name.clone(),
                    reason: "a step cannot be both a decision branch and a batch worker".into(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::template::{TemplateError, parse_template};

    const HEAD: &str = "name: t\nnamespace: ns\nversion: 1.0.0\nsteps:\n";

    fn reasons(steps: &str) -> Vec<String> {
        match parse_template(&format!("{HEAD}{steps}")) {
            Ok(_) => Vec::new(),
            Err(e) => e.messages(),
        }
    }

    #[test]
    fn a_decision_with_a_convergence_and_a_batch_is_valid() {
        let steps = "
  - {name: route, type: decision, branches: [express, split], handler: {callable: h}}
  - {name: express, handler: {callable: h}, depends_on: [route]}
  - {name: split, type: batchable, batch: {worker: work, failure: continue}, handler: {callable: h}, depends_on: [route]}
  - {name: work, type: batch_worker, handler: {callable: h}, depends_on: [split]}
  - {name: sum, handler: {callable: h}, depends_on: [work]}
  - {name: join, type: deferred_convergence, handler: {callable: h}, depends_on: [express, sum]}
";
        assert_eq!(reasons(steps), Vec::<String>::new());
        let t = parse_template(&format!("{HEAD}{steps}")).unwrap();
        assert!(t.is_dynamic());
        assert_eq!(t.decision_depth(), 1);
    }

    #[test]
    fn each_rule_names_the_step() {
        let r = reasons(
            "
  - {name: d, type: decision, branches: [ghost, d], handler: {callable: h}}
  - {name: b, type: batchable, batch: {worker: plain}, handler: {callable: h}}
  - {name: plain, handler: {callable: h}, branches: [d], depends_on: [b]}
  - {name: w, type: batch_worker, handler: {callable: h}}
  - {name: c, type: deferred_convergence, handler: {callable: h}}
  - {name: nb, type: batchable, handler: {callable: h}}
",
        );
        let want = [
            "step `d`: branch `ghost` is not a step",
            "step `d`: a decision cannot be its own branch",
            "step `b`: batch worker `plain` must have `type: batch_worker`",
            "step `plain`: only a decision step may list `branches`",
            "step `w`: no batchable step names this batch_worker",
            "step `c`: a deferred_convergence step must list its possible parents",
            "step `nb`: a batchable step needs `batch: {worker: ...}`",
        ];
        for w in want {
            assert!(r.iter().any(|m| m.starts_with(w)), "{w} not in {r:?}");
        }
    }

    #[test]
    fn worker_must_depend_on_its_batchable_and_not_be_a_branch() {
        let r = reasons(
            "
  - {name: d, type: decision, branches: [w], handler: {callable: h}}
  - {name: b, type: batchable, batch: {worker: w}, handler: {callable: h}}
  - {name: w, type: batch_worker, handler: {callable: h}, depends_on: [d]}
",
        );
        assert!(
            r.contains(&"step `b`: batch worker `w` must depend on `b`".to_owned()),
            "{r:?}"
        );
        let r = reasons(
            "
  - {name: d, type: decision, branches: [w], handler: {callable: h}}
  - {name: b, type: batchable, batch: {worker: w}, handler: {callable: h}, depends_on: [d]}
  - {name: w, type: batch_worker, handler: {callable: h}, depends_on: [b]}
",
        );
        assert!(
            r.contains(
                &"step `w`: a step cannot be both a decision branch and a batch worker".to_owned()
            ),
            "{r:?}"
        );
    }

    #[test]
    fn unknown_types_are_syntax_errors_and_depth_counts_nesting() {
        let e = parse_template(&format!(
            "{HEAD}  - {{name: a, type: fork, handler: {{callable: h}}}}\n"
        ))
        .unwrap_err();
        assert!(matches!(e.errors()[0], TemplateError::Syntax(_)), "{e}");
        let t = parse_template(&format!(
            "{HEAD}
  - {{name: d1, type: decision, branches: [d2], handler: {{callable: h}}}}
  - {{name: d2, type: decision, branches: [d3], handler: {{callable: h}}, depends_on: [d1]}}
  - {{name: d3, type: decision, branches: [x], handler: {{callable: h}}, depends_on: [d2]}}
  - {{name: x, handler: {{callable: h}}, depends_on: [d3]}}
"
        ))
        .unwrap();
        assert_eq!(t.decision_depth(), 3);
        assert!(t.check_decision_depth(3).is_ok());
        let err = t.check_decision_depth(2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "decisions nest 3 deep, more than engine.max_decision_depth (2)"
        );
    }
}
