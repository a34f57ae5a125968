//! Rerunning a finished task from one of its steps: that step and everything downstream go
//! back to `pending` (their audit rows, attempt results and logs stay), steps created at
//! runtime by a decision or batchable being rerun are removed (the rerun creates them again),
//! and the task returns to `steps_in_process`.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tasker_core::store::{RerunOutcome, RerunRequest, ResolutionStatus};
use tasker_core::{StepState, StepType, StoreError, TaskState};
use uuid::Uuid;

use super::bulk::recount_unmet_parents;
use super::engine::{advance, audit, lock_task};
use super::{SqlStore, announce, notify_work};
use crate::db::{Arg, Tx, args, placeholders};

struct Node {
    id: Uuid,
    name: String,
    status: StepState,
    template_step: String,
    creates: bool,
}

impl SqlStore {
    pub(super) async fn rerun_task_impl(
        &self,
        task_uuid: Uuid,
        request: &RerunRequest,
        actor: &str,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<RerunOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let state = lock_task(&mut tx, task_uuid).await?;
        let (nodes, parents) = load_graph(&mut tx, task_uuid).await?;
        let start = nodes
            .iter()
            .find(|n| n.name == request.from_step)
            .map(|n| n.id)
            .ok_or_else(|| {
                StoreError::NotFound(format!("step `{}` of task {task_uuid}", request.from_step))
            })?;
        if !state.can_rerun() {
            return Err(StoreError::Conflict(format!(
                "task {task_uuid} is {state}; only complete, error or blocked_by_failures tasks \
                 can be rerun"
            )));
        }
        // Steps a dynamic task did not start with were created by a step that ran.
        let initial: Option<HashSet<String>> = super::dynamic::load_plan(&mut tx, task_uuid)
            .await?
            .map(|p| {
                p.initial_steps(Uuid::nil)
                    .into_iter()
                    .map(|s| s.template_step)
                    .collect()
            });
        let plan = plan_reset(&nodes, &parents, start, initial.as_ref());
        let by_id: HashMap<Uuid, &Node> = nodes.iter().map(|n| (n.id, n)).collect();
        if let Some(busy) = plan.reset.iter().find(|id| !by_id[id].status.can_rerun()) {
            return Err(StoreError::Conflict(format!(
                "step `{}` is {}; wait for it to finish before rerunning",
                by_id[busy].name, by_id[busy].status
            )));
        }
        let outcome = RerunOutcome {
            reset_steps: plan.reset.iter().map(|id| by_id[id].name.clone()).collect(),
            removed_steps: plan
                .removed
                .iter()
                .map(|id| by_id[id].name.clone())
                .collect(),
        };
        if dry_run {
            return Ok(outcome);
        }
        let why = match &request.reason {
            Some(r) => format!("rerun from `{}`: {r}", request.from_step),
            None => format!("rerun from `{}`", request.from_step),
        };
        remove_steps(&mut tx, &plan.removed).await?;
        for id in &plan.reset {
            reset_step(&mut tx, task_uuid, by_id[id], actor, &why, now).await?;
        }
        recount_unmet_parents(&mut tx, &plan.reset).await?;
        close_dlq_entries(&mut tx, task_uuid, actor, now).await?;
        tx.exec(
            "UPDATE tasks SET status = $1, updated_at = $2, status_changed_at = $2, \
             completed_at = NULL WHERE task_uuid = $3",
            args![TaskState::StepsInProcess.as_str(), now, task_uuid],
        )
        .await?;
        audit(
            &mut tx,
            task_uuid,
            None,
            Some(state.as_str()),
            TaskState::StepsInProcess.as_str(),
            actor,
            Some(&why),
            now,
        )
        .await?;
        advance(&mut tx, task_uuid, actor, now).await?;
        announce(&mut tx).await?;
        tx.commit().await?;
        notify_work(&self.signal);
        Ok(outcome)
    }
}

/// The steps a rerun resets and removes, in position order.
struct ResetPlan {
    reset: Vec<Uuid>,
    removed: Vec<Uuid>,
}

/// `start` and its descendants; of those, the ones a dynamic task did not start with (not in
/// `initial`) that lie downstream of a reset decision or batchable are removed instead of
/// reset: that step creates them again when it finishes.
fn plan_reset(
    nodes: &[Node],
    parents: &HashMap<Uuid, Vec<Uuid>>,
    start: Uuid,
    initial: Option<&HashSet<String>>,
) -> ResetPlan {
    let mut children: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (child, ps) in parents {
        for p in ps {
            children.entry(*p).or_default().push(*child);
        }
    }
    let mut affected: HashSet<Uuid> = HashSet::from([start]);
    let mut stack = vec![start];
    while let Some(n) = stack.pop() {
        for c in children.get(&n).into_iter().flatten() {
            if affected.insert(*c) {
                stack.push(*c);
            }
        }
    }
    // Steps downstream of a creating step inside the affected set (positions are topological).
    let mut below_creator: HashSet<Uuid> = HashSet::new();
    for n in nodes.iter().filter(|n| affected.contains(&n.id)) {
        let under = parents.get(&n.id).into_iter().flatten().any(|p| {
            affected.contains(p)
                && (below_creator.contains(p) || nodes.iter().any(|m| m.id == *p && m.creates))
        });
        if under {
            below_creator.insert(n.id);
        }
    }
    let mut plan = ResetPlan {
        reset: Vec::new(),
        removed: Vec::new(),
    };
    for n in nodes.iter().filter(|n| affected.contains(&n.id)) {
        let created_later = initial.is_some_and(|i| !i.contains(&n.template_step));
        if n.id != start && created_later && below_creator.contains(&n.id) {
            plan.removed.push(n.id);
        } else {
            plan.reset.push(n.id);
        }
    }
    plan
}

async fn load_graph(
    tx: &mut Tx,
    task_uuid: Uuid,
) -> Result<(Vec<Node>, HashMap<Uuid, Vec<Uuid>>), StoreError> {
    let rows = tx
        .all(
            "SELECT step_uuid, name, template_step, status, step_type FROM steps \
             WHERE task_uuid = $1 ORDER BY position",
            args![task_uuid],
        )
        .await?;
    let mut nodes = Vec::with_capacity(rows.len());
    for r in &rows {
        let name = r.text("name")?;
        // A batch copy's template step is its worker, which no task starts with.
        let template_step = r.opt_text("template_step")?.unwrap_or_else(|| name.clone());
        nodes.push(Node {
            id: r.uuid("step_uuid")?,
            name,
            template_step,
            status: r.parsed("status")?,
            creates: StepType::parse(&r.text("step_type")?).is_some_and(|t| t.creates_steps()),
        });
    }
    let mut parents: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for e in tx
        .all(
            "SELECT parent_uuid, child_uuid FROM step_edges WHERE task_uuid = $1",
            args![task_uuid],
        )
        .await?
    {
        parents
            .entry(e.uuid("child_uuid")?)
            .or_default()
            .push(e.uuid("parent_uuid")?);
    }
    Ok((nodes, parents))
}

fn id_args(ids: &[Uuid]) -> Vec<Arg> {
    ids.iter().map(|i| Arg::from(*i)).collect()
}

async fn remove_steps(tx: &mut Tx, ids: &[Uuid]) -> Result<(), StoreError> {
    for chunk in ids.chunks(4_000) {
        let list = placeholders(1, chunk.len());
        tx.exec(
            &format!(
                "DELETE FROM step_edges WHERE parent_uuid IN ({list}) OR child_uuid IN ({list})"
            ),
            id_args(chunk),
        )
        .await?;
        for table in ["step_leases", "steps"] {
            tx.exec(
                &format!("DELETE FROM {table} WHERE step_uuid IN ({list})"),
                id_args(chunk),
            )
            .await?;
        }
    }
    Ok(())
}

async fn reset_step(
    tx: &mut Tx,
    task_uuid: Uuid,
    node: &Node,
    actor: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.exec(
        "UPDATE steps SET status = 'pending', attempts = 0, results = NULL, last_error = NULL, \
         retry_at = NULL, wait_until = NULL, completed_at = NULL, updated_at = $1 \
         WHERE step_uuid = $2",
        args![now, node.id],
    )
    .await?;
    audit(
        tx,
        task_uuid,
        Some(node.id),
        Some(node.status.as_str()),
        StepState::Pending.as_str(),
        actor,
        Some(why),
        now,
    )
    .await
}

/// The rerun deals with the failures that blocked the task: its pending entries close.
async fn close_dlq_entries(
    tx: &mut Tx,
    task_uuid: Uuid,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.exec(
        "UPDATE dlq_entries SET resolution_status = $1, resolver = $2, resolved_at = $3, \
         updated_at = $3 WHERE task_uuid = $4 AND resolution_status = $5",
        args![
            ResolutionStatus::ManuallyResolved.as_str(),
            actor,
            now,
            task_uuid,
            ResolutionStatus::Pending.as_str()
        ],
    )
    .await
    .map(|_| ())
}
