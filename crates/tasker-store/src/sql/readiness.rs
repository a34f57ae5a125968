//! The readiness pass after a batch of completions spread over many tasks, set-based: one
//! statement finds every child the batch released, one queued update enqueues them all (with
//! their audit rows), and one statement reads which step states each task still has, from
//! which each task's new state follows. A task whose released children need the full rules
//! (a convergence, a waiting step) or that holds a failed step takes the per-task `advance`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use tasker_core::{StepState, StepType, StoreError, TaskState};
use uuid::Uuid;

use super::bulk::move_steps_of_tasks;
use super::engine::{advance, advance_after_locked, settle_task};
use crate::db::{Arg, Tx, args, in_list, in_subquery, list_rows};

/// The completions of one locked task in the batch.
pub(crate) struct Completed<'a> {
    pub(crate) task: Uuid,
    /// The task's state when it was locked.
    pub(crate) state: TaskState,
    /// Its steps completed by the batch.
    pub(crate) parents: Vec<Uuid>,
    /// Who completed them (the audit rows' actor).
    pub(crate) actor: &'a str,
    /// Whether the task is a child task (whose end a parent step waits for).
    pub(crate) has_parent: bool,
}

/// Most ids per statement (within SQLite's parameter budget).
const IDS_PER_STATEMENT: usize = 800;

/// Enqueues the children the completions released and settles each task's state; returns
/// how many steps were enqueued.
pub(crate) async fn advance_completed(
    tx: &mut Tx,
    completed: &[Completed<'_>],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let live: Vec<&Completed> = completed
        .iter()
        .filter(|c| !c.state.is_terminal() && !c.parents.is_empty())
        .collect();
    if let [one] = live.as_slice() {
        return Ok(
            advance_after_locked(tx, one.task, one.state, &one.parents, one.actor, now)
                .await?
                .enqueued,
        );
    }
    if live.is_empty() {
        return Ok(0);
    }
    let parents: Vec<Uuid> = live
        .iter()
        .flat_map(|c| c.parents.iter().copied())
        .collect();
    let mut released: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    let mut full_rules: BTreeSet<Uuid> = BTreeSet::new();
    for chunk in parents.chunks(IDS_PER_STATEMENT) {
        let a = args![StepState::Pending.as_str(), Arg::ids(chunk.iter().copied())];
        let children = format!(
            "SELECT child_uuid FROM step_edges WHERE parent_uuid {}",
            in_list(tx.is_pg(), 2)
        );
        let sql = format!(
            "SELECT step_uuid, task_uuid, step_type FROM steps WHERE step_uuid {} \
             AND status = $1 AND unmet_parents <= 0",
            in_subquery(tx.is_pg(), &children)
        );
        for r in tx.all(&sql, a).await? {
            let task = r.uuid("task_uuid")?;
            let kind = r.text("step_type")?;
            if kind == StepType::DeferredConvergence.as_str()
                || StepType::parse(&kind).is_some_and(|t| t.is_waiting())
            {
                full_rules.insert(task);
            }
            released.entry(task).or_default().push(r.uuid("step_uuid")?);
        }
    }
    let mut enqueued = 0;
    let mut moves: Vec<(Uuid, Uuid, &str)> = Vec::new();
    let mut simple: Vec<&Completed> = Vec::new();
    for c in &live {
        if full_rules.contains(&c.task) {
            continue;
        }
        for child in released.get(&c.task).into_iter().flatten() {
            moves.push((c.task, *child, c.actor));
        }
        simple.push(c);
    }
    if !moves.is_empty() {
        move_steps_of_tasks(
            tx,
            &moves,
            StepState::Pending,
            StepState::Enqueued,
            "dependencies satisfied",
            now,
        )?;
        enqueued += moves.len();
    }
    let present = present_states_of(tx, simple.iter().map(|c| c.task)).await?;
    for c in simple {
        let states = present.get(&c.task).cloned().unwrap_or_default();
        if states.contains(&StepState::Error) {
            advance(tx, c.task, c.actor, now).await?;
        } else {
            settle_task(tx, c.task, c.state, &states, c.actor, c.has_parent, now).await?;
        }
    }
    for c in live.iter().filter(|c| full_rules.contains(&c.task)) {
        enqueued += advance(tx, c.task, c.actor, now).await?.enqueued;
    }
    Ok(enqueued)
}

/// The step states present in each task: one index probe per task and state, all in one
/// statement per chunk of tasks.
async fn present_states_of(
    tx: &mut Tx,
    tasks: impl Iterator<Item = Uuid>,
) -> Result<BTreeMap<Uuid, Vec<StepState>>, StoreError> {
    let tasks: Vec<Uuid> = tasks.collect();
    let probes: Vec<String> = StepState::ALL
        .iter()
        .map(|s| {
            format!(
                "CAST(CASE WHEN EXISTS (SELECT 1 FROM steps WHERE task_uuid = t.value \
                 AND status = '{0}') THEN 1 ELSE 0 END AS BIGINT) AS s_{0}",
                s.as_str()
            )
        })
        .collect();
    let mut present = BTreeMap::new();
    for chunk in tasks.chunks(IDS_PER_STATEMENT) {
        let sql = format!(
            "SELECT t.value AS task_uuid, {} FROM {}",
            probes.join(", "),
            list_rows(tx.is_pg(), 1, "t")
        );
        let a = vec![Arg::ids(chunk.iter().copied())];
        for row in tx.all(&sql, a).await? {
            let mut states = Vec::new();
            for s in StepState::ALL {
                if row.int(&format!("s_{}", s.as_str()))? != 0 {
                    states.push(*s);
                }
            }
            present.insert(row.uuid("task_uuid")?, states);
        }
    }
    Ok(present)
}
