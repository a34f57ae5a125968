//! What a worker needs to run the steps it claimed: the steps, their tasks' contexts, their
//! parents' results and (for dynamic tasks) the plans, read for the whole claim at once — four
//! statements per claim, whatever its size, instead of four per step.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use tasker_core::dynamic::{TaskPlan, group_parent_results};
use tasker_core::store::{ClaimedStep, Lease};
use tasker_core::{StepState, StepType, StoreError};
use uuid::Uuid;

use super::SqlStore;
use super::rows::{STEP_COLUMNS, step};
use crate::db::{Arg, placeholders};

/// One parent of a claimed step: name, template step, batch index, state and result.
type Parent = (String, String, Option<u32>, StepState, Value);

fn uuid_args(ids: &[Uuid]) -> Vec<Arg> {
    ids.iter().map(|id| Arg::from(*id)).collect()
}

impl SqlStore {
    /// The claimed steps of `leases` (each with its task), in the order of `leases`.
    pub(super) async fn claimed_steps(
        &self,
        leases: Vec<(Uuid, Lease)>,
    ) -> Result<Vec<ClaimedStep>, StoreError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = leases.iter().map(|(_, l)| l.step_uuid).collect();
        let tasks: Vec<Uuid> = leases
            .iter()
            .map(|(t, _)| *t)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let in_steps = placeholders(1, ids.len());
        let in_tasks = placeholders(1, tasks.len());

        let mut steps = HashMap::with_capacity(ids.len());
        let sql = format!("SELECT {STEP_COLUMNS} FROM steps WHERE step_uuid IN ({in_steps})");
        for r in self.pool.all(&sql, uuid_args(&ids)).await? {
            let s = step(&r)?;
            steps.insert(s.step_uuid, s);
        }

        let mut contexts = HashMap::with_capacity(tasks.len());
        let sql = format!(
            "SELECT task_uuid, context, trace_parent FROM tasks WHERE task_uuid IN ({in_tasks})"
        );
        for r in self.pool.all(&sql, uuid_args(&tasks)).await? {
            contexts.insert(
                r.uuid("task_uuid")?,
                (r.json("context")?, r.opt_text("trace_parent")?),
            );
        }

        let mut parents: HashMap<Uuid, Vec<Parent>> = HashMap::new();
        // Each parent's result is decoded once per claim: the batchable parent of a thousand
        // copies is one row read a thousand times.
        let mut decoded: HashMap<(Uuid, bool), Value> = HashMap::new();
        let sql = format!(
            "SELECT e.child_uuid, p.step_uuid AS parent_uuid, p.name, p.template_step, \
             p.batch_index, p.status, p.step_type, p.results \
             FROM step_edges e JOIN steps p ON p.step_uuid = e.parent_uuid \
             WHERE e.child_uuid IN ({in_steps}) ORDER BY p.position"
        );
        for r in self.pool.all(&sql, uuid_args(&ids)).await? {
            let child = r.uuid("child_uuid")?;
            let parent = r.uuid("parent_uuid")?;
            // A copy has its own cursor in `batch`: its batchable's result reaches it without
            // the `batches` list, which would make every copy's input as long as the fan-out.
            let trim = r.text("step_type")? == StepType::Batchable.as_str()
                && steps.get(&child).is_some_and(|s| s.batch_index.is_some());
            let result = match decoded.get(&(parent, trim)) {
                Some(v) => v.clone(),
                None => {
                    let mut v = r.opt_json("results")?.unwrap_or(Value::Null);
                    if trim && let Some(map) = v.as_object_mut() {
                        map.remove("batches");
                    }
                    decoded.insert((parent, trim), v.clone());
                    v
                }
            };
            let name = r.text("name")?;
            parents.entry(child).or_default().push((
                name.clone(),
                r.opt_text("template_step")?.unwrap_or(name),
                r.opt_int("batch_index")?
                    .and_then(|i| u32::try_from(i).ok()),
                r.parsed("status")?,
                result,
            ));
        }

        let mut plans: HashMap<Uuid, TaskPlan> = HashMap::new();
        let sql = format!("SELECT task_uuid, plan FROM task_plans WHERE task_uuid IN ({in_tasks})");
        for r in self.pool.all(&sql, uuid_args(&tasks)).await? {
            let task = r.uuid("task_uuid")?;
            let plan = serde_json::from_str(&r.text("plan")?)
                .map_err(|e| StoreError::Corrupt(format!("plan of task {task}: {e}")))?;
            plans.insert(task, plan);
        }

        let mut claimed = Vec::with_capacity(leases.len());
        for (task_uuid, lease) in leases {
            let mut step = steps
                .remove(&lease.step_uuid)
                .ok_or_else(|| StoreError::NotFound(format!("step {}", lease.step_uuid)))?;
            let own = parents.remove(&lease.step_uuid).unwrap_or_default();
            step.depends_on = own.iter().map(|p| p.0.clone()).collect();
            let (mut parent_results, failed_batches) = group_parent_results(own);
            // A batch worker with no (successful) copies still appears, as an empty array.
            if let Some(plan) = plans.get(&task_uuid)
                && let Some(this) = plan.get(&step.template_step)
            {
                for parent in &this.step.depends_on {
                    if plan
                        .get(parent)
                        .is_some_and(|p| p.step.step_type == StepType::BatchWorker)
                    {
                        parent_results
                            .entry(parent.clone())
                            .or_insert_with(|| Value::Array(Vec::new()));
                    }
                }
            }
            let (context, trace_parent) = contexts
                .get(&task_uuid)
                .cloned()
                .ok_or_else(|| StoreError::NotFound(format!("task {task_uuid}")))?;
            claimed.push(ClaimedStep {
                lease,
                step,
                context,
                parent_results,
                failed_batches,
                trace_parent,
            });
        }
        Ok(claimed)
    }
}
