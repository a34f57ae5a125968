//! What a worker needs to run the steps it claimed: the steps, their tasks' contexts, their
//! parents' results and (for dynamic tasks) the plans, read for the whole claim at once — four
//! statements per claim whatever its size, sent together on four connections, so a claim
//! waits for one round trip of reads.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use serde_json::Value;
use tasker_core::dynamic::{TaskPlan, group_parent_results};
use tasker_core::store::{ClaimedStep, Lease};
use tasker_core::{StepState, StepType, StoreError};
use uuid::Uuid;

use super::SqlStore;
use super::rows::{STEP_COLUMNS, step};
use crate::db::{Arg, in_list, in_subquery};
use tasker_core::store::StepRecord;

/// One parent of a claimed step: name, template step, batch index, state and result.
type Parent = (String, String, Option<u32>, StepState, Value);

/// The ids as the one list argument of a statement.
fn uuid_args(ids: &[Uuid]) -> Vec<Arg> {
    vec![Arg::ids(ids.iter().copied())]
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
        let pg = self.pool.is_pg();
        let in_list = in_list(pg, 1);
        // The four reads are independent: they run at once, on connections of their own.
        let steps_sql = format!("SELECT {STEP_COLUMNS} FROM steps WHERE step_uuid {in_list}");
        // Each task's context, trace and (for a dynamic task) plan, in one statement.
        let contexts_sql = format!(
            "SELECT t.task_uuid, t.context, t.trace_parent, p.plan FROM tasks t \
             LEFT JOIN task_plans p ON p.task_uuid = t.task_uuid WHERE t.task_uuid {in_list}"
        );
        let edges_sql =
            format!("SELECT child_uuid, parent_uuid FROM step_edges WHERE child_uuid {in_list}");
        let parents_sql = parent_rows_sql(pg);
        let (step_rows, context_rows, edge_rows, parent_rows) = futures::try_join!(
            self.pool.all(&steps_sql, uuid_args(&ids)),
            self.pool.all(&contexts_sql, uuid_args(&tasks)),
            self.pool.all(&edges_sql, uuid_args(&ids)),
            self.pool.all(&parents_sql, uuid_args(&ids)),
        )?;

        let mut steps = HashMap::with_capacity(ids.len());
        for r in &step_rows {
            let s = step(r)?;
            steps.insert(s.step_uuid, s);
        }
        let mut contexts = HashMap::with_capacity(tasks.len());
        let mut plans: HashMap<Uuid, TaskPlan> = HashMap::new();
        for r in context_rows {
            let task = r.uuid("task_uuid")?;
            contexts.insert(task, (r.json("context")?, r.opt_text("trace_parent")?));
            if let Some(plan) = r.opt_text("plan")? {
                let plan = serde_json::from_str(&plan)
                    .map_err(|e| StoreError::Corrupt(format!("plan of task {task}: {e}")))?;
                plans.insert(task, plan);
            }
        }
        let mut edges = Vec::with_capacity(edge_rows.len());
        for r in &edge_rows {
            edges.push((r.uuid("child_uuid")?, r.uuid("parent_uuid")?));
        }

        let mut parents = self.parents_of(&steps, edges, parent_rows).await?;

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

/// The parents of the steps of the list `$1`, found through their edges first (by key).
fn parent_rows_sql(pg: bool) -> String {
    let batchable = StepType::Batchable.as_str();
    let edges = format!(
        "SELECT parent_uuid FROM step_edges WHERE child_uuid {}",
        in_list(pg, 1)
    );
    format!(
        "SELECT step_uuid, name, template_step, batch_index, status, completed_at, position, \
         CAST(CASE WHEN step_type = '{batchable}' THEN 1 ELSE 0 END AS BIGINT) AS batchable, \
         CASE WHEN step_type = '{batchable}' THEN NULL ELSE results END AS results \
         FROM steps WHERE step_uuid {}",
        in_subquery(pg, &edges)
    )
}

/// A parent step as its claimed children see it.
struct ParentRow {
    name: String,
    template_step: String,
    batch_index: Option<u32>,
    status: StepState,
    completed_at: Option<i64>,
    position: i64,
    batchable: bool,
    /// The result, decoded once per claim; `None` for a batchable (read as needed).
    results: Option<Value>,
}

impl SqlStore {
    /// The parents of the claimed `steps`, by child, in position order, with their results,
    /// from their `edges` and `parent_rows` (read by key with the claim's other reads: a join
    /// of edges and steps let the planner hash a scan of every step). A copy's batchable parent is seen without its `batches`
    /// list (its own cursor is in its input): that trimmed result is read once per batchable
    /// and completion and kept (`BatchHeads`); the whole result, megabytes for 100,000 copies,
    /// is read only for the batchable's other children.
    async fn parents_of(
        &self,
        steps: &HashMap<Uuid, StepRecord>,
        edges: Vec<(Uuid, Uuid)>,
        parent_rows: Vec<crate::db::Row>,
    ) -> Result<HashMap<Uuid, Vec<Parent>>, StoreError> {
        if edges.is_empty() {
            return Ok(HashMap::new());
        }
        let pg = self.pool.is_pg();
        let mut rows: HashMap<Uuid, ParentRow> = HashMap::with_capacity(parent_rows.len());
        for r in parent_rows {
            let name = r.text("name")?;
            rows.insert(
                r.uuid("step_uuid")?,
                ParentRow {
                    template_step: r.opt_text("template_step")?.unwrap_or_else(|| name.clone()),
                    name,
                    batch_index: r
                        .opt_int("batch_index")?
                        .and_then(|i| u32::try_from(i).ok()),
                    status: r.parsed("status")?,
                    completed_at: r.opt_int("completed_at")?,
                    position: r.int("position")?,
                    batchable: r.int("batchable")? == 1,
                    results: r.opt_json("results")?,
                },
            );
        }
        let is_copy = |child: &Uuid| steps.get(child).is_some_and(|c| c.batch_index.is_some());
        let mut heads_wanted = Vec::new();
        let mut whole_wanted = BTreeSet::new();
        for (child, parent) in &edges {
            if let Some(p) = rows.get(parent).filter(|p| p.batchable) {
                if is_copy(child) {
                    heads_wanted.push((*parent, p.completed_at));
                } else {
                    whole_wanted.insert(*parent);
                }
            }
        }
        let heads = self.batch_heads(heads_wanted).await?;
        let mut whole: HashMap<Uuid, Value> = HashMap::new();
        if !whole_wanted.is_empty() {
            let ids: Vec<Uuid> = whole_wanted.into_iter().collect();
            let sql = format!(
                "SELECT step_uuid, results FROM steps WHERE step_uuid {}",
                in_list(pg, 1)
            );
            for r in self.pool.all(&sql, uuid_args(&ids)).await? {
                whole.insert(
                    r.uuid("step_uuid")?,
                    r.opt_json("results")?.unwrap_or(Value::Null),
                );
            }
        }
        let mut by_child: HashMap<Uuid, Vec<(i64, Parent)>> = HashMap::new();
        for (child, parent) in edges {
            let Some(p) = rows.get(&parent) else {
                continue;
            };
            let result = match (p.batchable, is_copy(&child)) {
                (true, true) => heads.get(&parent).cloned(),
                (true, false) => whole.get(&parent).cloned(),
                (false, _) => p.results.clone(),
            }
            .unwrap_or(Value::Null);
            by_child.entry(child).or_default().push((
                p.position,
                (
                    p.name.clone(),
                    p.template_step.clone(),
                    p.batch_index,
                    p.status,
                    result,
                ),
            ));
        }
        Ok(by_child
            .into_iter()
            .map(|(child, mut list)| {
                list.sort_by_key(|(position, _)| *position);
                (child, list.into_iter().map(|(_, p)| p).collect())
            })
            .collect())
    }
}

/// Most batchable results kept for their copies; the whole cache is dropped when it is full.
const BATCH_HEADS_KEPT: usize = 256;

/// The results of batchable steps without their `batches` list, by step and completion time:
/// a recorded result does not change until the step completes again.
#[derive(Default)]
pub(super) struct BatchHeads(Mutex<HashMap<(Uuid, Option<i64>), Value>>);

impl SqlStore {
    /// The trimmed results of `wanted` batchable steps, read from the store only when not kept.
    async fn batch_heads(
        &self,
        wanted: Vec<(Uuid, Option<i64>)>,
    ) -> Result<HashMap<Uuid, Value>, StoreError> {
        let mut found = HashMap::new();
        let mut missing = BTreeSet::new();
        {
            let kept = self
                .batch_heads
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for key in &wanted {
                match kept.get(key) {
                    Some(v) => {
                        found.insert(key.0, v.clone());
                    }
                    None => {
                        missing.insert(*key);
                    }
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let ids: Vec<Uuid> = missing
            .iter()
            .map(|k| k.0)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let sql = format!(
            "SELECT step_uuid, completed_at, results FROM steps WHERE step_uuid {}",
            in_list(self.pool.is_pg(), 1)
        );
        let mut read = Vec::new();
        for r in self.pool.all(&sql, uuid_args(&ids)).await? {
            let mut v = r.opt_json("results")?.unwrap_or(Value::Null);
            if let Some(map) = v.as_object_mut() {
                map.remove("batches");
            }
            let key = (r.uuid("step_uuid")?, r.opt_int("completed_at")?);
            found.insert(key.0, v.clone());
            read.push((key, v));
        }
        let mut kept = self
            .batch_heads
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if kept.len() + read.len() > BATCH_HEADS_KEPT {
            kept.clear();
        }
        for (key, v) in read {
            // Kept only under the completion time the claim saw: a result read after a newer
            // completion is returned but not kept under the older key.
            if missing.contains(&key) {
                kept.insert(key, v);
            }
        }
        Ok(found)
    }
}
