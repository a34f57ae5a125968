//! The runtime shape of a dynamic task: the plan of every template step (created or not),
//! which steps exist at the start, which steps a finished decision or batchable step adds
//! (and the edges they bring), the validation of decision and batch results, and the two
//! readiness rules dynamic steps add (a convergence waits for decisions that could still
//! create one of its parents; a `continue` batch tolerates failed copies). Pure: the store
//! loads the task's steps, calls these functions and writes what they return.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::state::StepState;
use crate::store::{NewStep, StepDefaults, StepOrigin};
use crate::template::{BatchFailure, BatchSpec, StepType, TaskTemplate};

/// Every template step of a dynamic task with its effective settings, stored with the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPlan {
    /// In topological order; `step.step_uuid` is unused (ids are drawn at creation).
    pub steps: Vec<PlanStep>,
    /// Most copies one batchable step may create.
    pub max_batches: u32,
    /// The engine defaults the plan was made with, applied to the child tasks its subtask
    /// steps create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defaults: Option<StepDefaults>,
    /// Deepest nesting of child tasks (`engine.max_subtask_depth`).
    #[serde(default = "default_subtask_depth")]
    pub max_subtask_depth: u32,
}

/// `engine.max_subtask_depth` when a stored plan carries none.
pub const DEFAULT_MAX_SUBTASK_DEPTH: u32 = 8;

fn default_subtask_depth() -> u32 {
    DEFAULT_MAX_SUBTASK_DEPTH
}

/// One template step in a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    /// Settings of the step as it would be created.
    pub step: NewStep,
    /// A decision's branches.
    #[serde(default)]
    pub branches: Vec<String>,
    /// A batchable's worker and failure policy.
    #[serde(default)]
    pub batch: Option<BatchSpec>,
}

/// A step that exists in the task, as the dynamic rules need it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingStep {
    /// Id.
    pub step_uuid: Uuid,
    /// Template step it comes from.
    pub template_step: String,
    /// Current state.
    pub status: StepState,
    /// Stored result.
    pub results: Option<Value>,
    /// Position among its batch's copies.
    pub batch_index: Option<u32>,
}

/// Steps and edges to add to a task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expansion {
    /// New steps, parents before children.
    pub steps: Vec<NewStep>,
    /// New `(parent, child)` edges.
    pub edges: Vec<(Uuid, Uuid)>,
}

fn finished_ok(s: StepState) -> bool {
    s.satisfies_dependents()
}

impl TaskPlan {
    /// The plan of `template` with `defaults` applied.
    pub fn new(template: &TaskTemplate, defaults: &StepDefaults, max_batches: u32) -> Self {
        let steps = NewStep::plan(template, defaults, Uuid::nil)
            .into_iter()
            .map(|step| {
                let t = template.step(&step.template_step);
                PlanStep {
                    branches: t.map(|t| t.branches.clone()).unwrap_or_default(),
                    batch: t.and_then(|t| t.batch.clone()),
                    step,
                }
            })
            .collect();
        Self {
            steps,
            max_batches,
            defaults: Some(*defaults),
            max_subtask_depth: DEFAULT_MAX_SUBTASK_DEPTH,
        }
    }

    /// The steps a task of `template` starts with and, for a dynamic template, its plan.
    pub fn shape_of(
        template: &TaskTemplate,
        defaults: &StepDefaults,
        max_batches: u32,
        max_subtask_depth: u32,
        ids: impl FnMut() -> Uuid,
    ) -> (Vec<NewStep>, Option<TaskPlan>) {
        if template.is_dynamic() {
            let mut plan = TaskPlan::new(template, defaults, max_batches);
            plan.max_subtask_depth = max_subtask_depth;
            (plan.initial_steps(ids), Some(plan))
        } else {
            (NewStep::plan(template, defaults, ids), None)
        }
    }

    /// Looks a template step up by name.
    pub fn get(&self, name: &str) -> Option<&PlanStep> {
        self.steps.iter().find(|p| p.step.name == name)
    }

    /// The steps that exist when the task starts.
    pub fn initial_steps(&self, ids: impl FnMut() -> Uuid) -> Vec<NewStep> {
        self.expand(&[], None, ids).steps
    }

    /// Whether some decision lists `name` among its branches.
    fn is_branch(&self, name: &str) -> bool {
        self.steps
            .iter()
            .any(|p| p.branches.iter().any(|b| b == name))
    }

    /// The batchable step whose worker is `worker`.
    fn batchable_of(&self, worker: &str) -> Option<&PlanStep> {
        self.steps
            .iter()
            .find(|p| p.batch.as_ref().is_some_and(|b| b.worker == worker))
    }

    /// Steps that are conditional: branches and everything downstream of them.
    fn conditional(&self) -> HashSet<&str> {
        let mut out: HashSet<&str> = HashSet::new();
        for p in &self.steps {
            let n = p.step.name.as_str();
            if self.is_branch(n) || p.step.depends_on.iter().any(|d| out.contains(d.as_str())) {
                out.insert(n);
            }
        }
        out
    }

    /// Template steps downstream of `name`.
    fn downstream(&self, name: &str) -> HashSet<&str> {
        let mut out: HashSet<&str> = HashSet::new();
        let mut frontier: Vec<&str> = vec![name];
        while let Some(n) = frontier.pop() {
            for p in &self.steps {
                if p.step.depends_on.iter().any(|d| d == n) && out.insert(p.step.name.as_str()) {
                    frontier.push(p.step.name.as_str());
                }
            }
        }
        out
    }

    /// Batch workers whose batchable step has finished (their copies exist, possibly none).
    fn fanned_out(&self, by_name: &HashMap<&str, Vec<&ExistingStep>>) -> HashSet<&str> {
        self.steps
            .iter()
            .filter_map(|p| {
                let spec = p.batch.as_ref()?;
                let done = by_name
                    .get(p.step.name.as_str())?
                    .iter()
                    .any(|e| finished_ok(e.status));
                done.then_some(spec.worker.as_str())
            })
            .collect()
    }

    /// What to add once a step finished: `fan_out` carries a batchable's name and its
    /// (validated) cursors. `existing` reflects the finished step's new state. Newly created
    /// steps join convergences that already exist, and every conditional step whose parents
    /// now exist (any parent, for a convergence) is created, repeatedly.
    pub fn expand(
        &self,
        existing: &[ExistingStep],
        fan_out: Option<(&str, &[Value])>,
        mut ids: impl FnMut() -> Uuid,
    ) -> Expansion {
        let mut by_name: HashMap<&str, Vec<&ExistingStep>> = HashMap::new();
        for e in existing {
            by_name.entry(e.template_step.as_str()).or_default().push(e);
        }
        let fanned = self.fanned_out(&by_name);
        let mut present: HashMap<String, Vec<Uuid>> = HashMap::new();
        for (name, steps) in &by_name {
            let mut steps = steps.clone();
            steps.sort_by_key(|e| e.batch_index);
            present.insert(
                (*name).to_owned(),
                steps.iter().map(|e| e.step_uuid).collect(),
            );
        }
        let chosen = self.chosen(existing);
        let conditional = self.conditional();
        let mut out = Expansion::default();
        if let Some((batchable, cursors)) = fan_out
            && let Some(worker) = self
                .get(batchable)
                .and_then(|b| b.batch.as_ref())
                .and_then(|spec| self.get(&spec.worker))
        {
            out.steps.extend(copies(&worker.step, cursors, &mut ids));
            let uuids: Vec<Uuid> = out.steps.iter().map(|s| s.step_uuid).collect();
            for copy in &uuids {
                for parent in &worker.step.depends_on {
                    for p in present.get(parent).into_iter().flatten() {
                        out.edges.push((*p, *copy));
                    }
                }
            }
            present.insert(worker.step.name.clone(), uuids);
        }
        loop {
            let mut changed = false;
            for p in &self.steps {
                let s = &p.step;
                if present.contains_key(&s.name)
                    || s.step_type == StepType::BatchWorker
                    || (self.is_branch(&s.name) && !chosen.contains(s.name.as_str()))
                {
                    continue;
                }
                let exists = |d: &String| present.contains_key(d) || fanned.contains(d.as_str());
                let ready = if s.step_type == StepType::DeferredConvergence {
                    s.depends_on.iter().any(exists)
                } else {
                    s.depends_on.iter().all(exists)
                };
                if !ready {
                    continue;
                }
                let mut step = s.clone();
                step.step_uuid = ids();
                if conditional.contains(s.name.as_str()) {
                    step.origin = StepOrigin::Decision;
                }
                for d in &s.depends_on {
                    for parent in present.get(d).into_iter().flatten() {
                        out.edges.push((*parent, step.step_uuid));
                    }
                }
                present.insert(s.name.clone(), vec![step.step_uuid]);
                out.steps.push(step);
                changed = true;
            }
            if !changed {
                break;
            }
        }
        // Convergences that existed before join the new steps that are among their parents.
        for e in existing {
            let Some(c) = self.get(&e.template_step) else {
                continue;
            };
            if c.step.step_type != StepType::DeferredConvergence {
                continue;
            }
            for s in &out.steps {
                if c.step.depends_on.contains(&s.template_step) {
                    out.edges.push((s.step_uuid, e.step_uuid));
                }
            }
        }
        out
    }

    /// Branches chosen by the finished decisions.
    fn chosen(&self, existing: &[ExistingStep]) -> HashSet<String> {
        let mut out = HashSet::new();
        for e in existing {
            let Some(p) = self.get(&e.template_step) else {
                continue;
            };
            if p.step.step_type != StepType::Decision || !finished_ok(e.status) {
                continue;
            }
            if let Some(names) = e
                .results
                .as_ref()
                .and_then(|r| parse_decision(r, &p.branches).ok())
            {
                out.extend(names);
            }
        }
        out
    }

    /// Convergence steps that must keep waiting: an unfinished decision or batchable step
    /// can still create one of their parents that does not exist yet.
    pub fn blocked_convergences(&self, existing: &[ExistingStep]) -> HashSet<Uuid> {
        let mut by_name: HashMap<&str, Vec<&ExistingStep>> = HashMap::new();
        for e in existing {
            by_name.entry(e.template_step.as_str()).or_default().push(e);
        }
        let fanned = self.fanned_out(&by_name);
        let mut reachable: HashSet<&str> = HashSet::new();
        for e in existing {
            let Some(p) = self.get(&e.template_step) else {
                continue;
            };
            if p.step.step_type.creates_steps() && !finished_ok(e.status) {
                reachable.extend(self.downstream(&p.step.name));
            }
        }
        existing
            .iter()
            .filter(|e| e.status == StepState::Pending)
            .filter(|e| {
                self.get(&e.template_step).is_some_and(|c| {
                    c.step.step_type == StepType::DeferredConvergence
                        && c.step.depends_on.iter().any(|d| {
                            !by_name.contains_key(d.as_str())
                                && !fanned.contains(d.as_str())
                                && reachable.contains(d.as_str())
                        })
                })
            })
            .map(|e| e.step_uuid)
            .collect()
    }

    /// Failed copies of `continue` batches: their dependents proceed without them.
    pub fn tolerated_failures(&self, existing: &[ExistingStep]) -> HashSet<Uuid> {
        existing
            .iter()
            .filter(|e| e.status == StepState::Error && e.batch_index.is_some())
            .filter(|e| {
                self.batchable_of(&e.template_step)
                    .and_then(|b| b.batch.as_ref())
                    .is_some_and(|spec| spec.failure == BatchFailure::Continue)
            })
            .map(|e| e.step_uuid)
            .collect()
    }

    /// The failure policy of the batch a copy of `worker` belongs to.
    pub fn failure_policy(&self, worker: &str) -> Option<BatchFailure> {
        self.batchable_of(worker)
            .and_then(|b| b.batch.as_ref())
            .map(|spec| spec.failure)
    }

    /// Checks a finished step's result against its type: a decision's `{"create": [...]}`
    /// within its branches, a batchable's `{"batches": [obj, ...]}` within `max_batches`.
    /// Returns the cursors of a batchable; the error names the problem.
    pub fn check_result(&self, step: &str, result: &Value) -> Result<Option<Vec<Value>>, String> {
        let Some(p) = self.get(step) else {
            return Ok(None);
        };
        match p.step.step_type {
            StepType::Decision => parse_decision(result, &p.branches).map(|_| None),
            StepType::Batchable => parse_batches(result, self.max_batches).map(Some),
            _ => Ok(None),
        }
    }
}

/// The branch names of a decision result `{"create": [names]}`, each one of `branches`.
pub fn parse_decision(result: &Value, branches: &[String]) -> Result<Vec<String>, String> {
    let Some(list) = result.get("create") else {
        return Err(format!(
            "decision result must be an object {{\"create\": [step names]}}, got {}",
            without_key(result, "create")
        ));
    };
    let Some(items) = list.as_array() else {
        return Err(format!(
            "decision result `create` must be an array of step names, got {}",
            kind(list)
        ));
    };
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        let Some(name) = item.as_str() else {
            return Err(format!(
                "decision result `create` must hold step names, got {}",
                kind(item)
            ));
        };
        if !branches.iter().any(|b| b == name) {
            return Err(format!(
                "decision chose `{name}`, which is not one of its branches ({})",
                branches.join(", ")
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// The cursors of a batchable result `{"batches": [obj, ...]}`, at most `max` of them.
pub fn parse_batches(result: &Value, max: u32) -> Result<Vec<Value>, String> {
    let Some(list) = result.get("batches") else {
        return Err(format!(
            "batchable result must be an object {{\"batches\": [cursor objects]}}, got {}",
            without_key(result, "batches")
        ));
    };
    let Some(items) = list.as_array() else {
        return Err(format!(
            "batchable result `batches` must be an array, got {}",
            kind(list)
        ));
    };
    if items.len() > max as usize {
        return Err(format!(
            "batchable result has {} batches, more than engine.max_batches ({max})",
            items.len()
        ));
    }
    if let Some((i, bad)) = items.iter().enumerate().find(|(_, v)| !v.is_object()) {
        return Err(format!(
            "batch cursor {i} must be an object, got {}",
            kind(bad)
        ));
    }
    Ok(items.clone())
}

fn without_key(v: &Value, key: &str) -> String {
    if v.is_object() {
        format!("an object without `{key}`")
    } else {
        kind(v).to_owned()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `<worker>_<index>`, the index zero-padded to the digits of the largest index.
pub fn copy_name(worker: &str, index: usize, count: usize) -> String {
    let width = count.saturating_sub(1).max(1).to_string().len();
    format!("{worker}_{index:0width$}")
}

fn copies(worker: &NewStep, cursors: &[Value], ids: &mut impl FnMut() -> Uuid) -> Vec<NewStep> {
    let count = cursors.len();
    cursors
        .iter()
        .enumerate()
        .map(|(i, cursor)| {
            let mut s = worker.clone();
            s.step_uuid = ids();
            s.name = copy_name(&worker.name, i, count);
            s.origin = StepOrigin::Batch;
            s.batch_index = u32::try_from(i).ok();
            s.batch = Some(json!({"index": i, "count": count, "cursor": cursor}));
            s
        })
        .collect()
}

/// Parent results as a dependent sees them: a batch worker's copies become one array under
/// the worker's name, in index order, without the failed copies (whose indexes are returned).
pub fn group_parent_results(
    parents: Vec<(String, String, Option<u32>, StepState, Value)>,
) -> (BTreeMap<String, Value>, Vec<u32>) {
    let mut out = BTreeMap::new();
    let mut batches: BTreeMap<String, Vec<(u32, Value)>> = BTreeMap::new();
    let mut failed = Vec::new();
    for (name, template_step, index, status, result) in parents {
        match index {
            Some(i) if status == StepState::Error => failed.push(i),
            Some(i) => batches.entry(template_step).or_default().push((i, result)),
            None => {
                out.insert(name, result);
            }
        }
    }
    for (worker, mut results) in batches {
        results.sort_by_key(|(i, _)| *i);
        out.insert(
            worker,
            Value::Array(results.into_iter().map(|(_, v)| v).collect()),
        );
    }
    failed.sort_unstable();
    (out, failed)
}

#[cfg(test)]
mod tests;
