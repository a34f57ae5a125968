//! State changes inside a write transaction: guarded task/step transitions with their audit
//! rows, and `advance`, which enqueues newly ready steps and moves the task to the state its
//! steps imply. Every write path ends by calling `advance` in the same transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tasker_core::store::{DlqEntry, DlqReason, ResolutionStatus};
use tasker_core::{StepState, StepView, StoreError, TaskState, derive_task_state, ready_steps};
use uuid::Uuid;

use crate::db::{Tx, args, parse_uuid};
use tasker_core::store::StepRecord;

/// Actor recorded for changes the engine makes on its own.
pub(crate) const SYSTEM: &str = "system";

/// Locks the task row (PostgreSQL) and returns its state.
pub(crate) async fn lock_task(tx: &mut Tx, task_uuid: Uuid) -> Result<TaskState, StoreError> {
    let sql = format!(
        "SELECT status FROM tasks WHERE task_uuid = $1{}",
        tx.for_update()
    );
    let row = tx
        .one(&sql, args![task_uuid])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("task {task_uuid}")))?;
    row.parsed("status")
}

pub(crate) async fn set_task_state(
    tx: &mut Tx,
    task_uuid: Uuid,
    from: TaskState,
    to: TaskState,
    actor: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    record_task_state(tx, task_uuid, from, to, actor, reason, now).await?;
    super::subtasks::child_ended(tx, task_uuid, to, now).await
}

/// [`set_task_state`] for a task known to have no parent task: the move and its audit row,
/// both queued.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn record_task_state(
    tx: &mut Tx,
    task_uuid: Uuid,
    from: TaskState,
    to: TaskState,
    actor: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    from.transition(to)?;
    let completed = to.is_terminal().then_some(now);
    // Queued with the transaction's other writes; the task row is locked, so it moves unless
    // the task changed concurrently.
    tx.defer(
        "UPDATE tasks SET status = $1, updated_at = $2, status_changed_at = $2, completed_at = $3 \
         WHERE task_uuid = $4 AND status = $5"
            .to_owned(),
        args![to.as_str(), now, completed, task_uuid, from.as_str()],
        Some((1, format!("task {task_uuid} changed concurrently"))),
    );
    audit(
        tx,
        task_uuid,
        None,
        Some(from.as_str()),
        to.as_str(),
        actor,
        reason,
        now,
    )
    .await
}

/// Cancels every unfinished step of the task and drops its leases, so that no worker starts one
/// and a running step's late result is discarded. For tasks that end before their steps do.
pub(crate) async fn cancel_unfinished_steps(
    tx: &mut Tx,
    task_uuid: Uuid,
    actor: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT step_uuid, status FROM steps WHERE task_uuid = $1 ORDER BY position{}",
        tx.for_update()
    );
    for r in tx.all(&sql, args![task_uuid]).await? {
        let status: StepState = r.parsed("status")?;
        if status.is_unfinished() {
            let step = r.uuid("step_uuid")?;
            set_step_state(
                tx,
                task_uuid,
                step,
                status,
                StepState::Cancelled,
                actor,
                Some(reason),
                now,
            )
            .await?;
        }
    }
    tx.exec(
        "DELETE FROM step_leases WHERE task_uuid = $1",
        args![task_uuid],
    )
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
/// Moves a step from `from` to `to` and records the transition. Entering `in_progress`
/// starts an attempt (`attempts + 1`); entering `enqueued` sets the queue time and clears the
/// retry time.
pub(crate) async fn set_step_state(
    tx: &mut Tx,
    task_uuid: Uuid,
    step_uuid: Uuid,
    from: StepState,
    to: StepState,
    actor: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let change = StepChange {
        task_uuid,
        step_uuid,
        from,
        to,
        results: None,
        deferred: false,
    };
    change_step_state(tx, change, actor, reason, now).await
}

/// A step's move from one state to another.
pub(crate) struct StepChange {
    pub(crate) task_uuid: Uuid,
    pub(crate) step_uuid: Uuid,
    pub(crate) from: StepState,
    pub(crate) to: StepState,
    /// The step's result, set in the same `UPDATE`.
    pub(crate) results: Option<String>,
    /// Queue the `UPDATE` with the transaction's other writes (`Tx::defer`): for a step whose
    /// row no other queued write touches (a result being recorded, its lease checked under
    /// the task lock). Otherwise it runs at once.
    pub(crate) deferred: bool,
}

/// [`set_step_state`] for any [`StepChange`]: the guarded update, then the children's unmet
/// parents and the audit row.
pub(crate) async fn change_step_state(
    tx: &mut Tx,
    change: StepChange,
    actor: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let StepChange {
        task_uuid,
        step_uuid,
        from,
        to,
        results,
        deferred,
    } = change;
    let (sql, a) = step_state_update(step_uuid, from, to, results, now)?;
    let conflict = format!("step {step_uuid} changed concurrently");
    if deferred {
        tx.defer(sql, a, Some((1, conflict)));
    } else if tx.exec(&sql, a).await? != 1 {
        return Err(StoreError::Conflict(conflict));
    }
    if to.satisfies_dependents() && !from.satisfies_dependents() {
        release_children(tx, step_uuid).await?;
    }
    audit(
        tx,
        task_uuid,
        Some(step_uuid),
        Some(from.as_str()),
        to.as_str(),
        actor,
        reason,
        now,
    )
    .await
}

/// The guarded `UPDATE` of a step's state (and `results`, when given).
fn step_state_update(
    step_uuid: Uuid,
    from: StepState,
    to: StepState,
    results: Option<String>,
    now: DateTime<Utc>,
) -> Result<(String, Vec<crate::db::Arg>), StoreError> {
    from.transition(to)?;
    let completed = to.is_terminal().then_some(now);
    let mut a = args![to.as_str(), now, completed, step_uuid, from.as_str()];
    let set_results = match results {
        Some(r) => {
            a.push(r.into());
            ", results = $6"
        }
        None => "",
    };
    let sql = format!(
        "UPDATE steps SET status = $1, updated_at = $2, completed_at = $3, \
         attempts = attempts + CASE WHEN $1 = 'in_progress' THEN 1 ELSE 0 END, \
         ready_at = CASE WHEN $1 = 'enqueued' THEN $2 ELSE ready_at END, \
         retry_at = CASE WHEN $1 = 'enqueued' THEN NULL ELSE retry_at END{set_results} \
         WHERE step_uuid = $4 AND status = $5"
    );
    Ok((sql, a))
}

/// Queued (`Tx::defer`): it touches only the children's rows.
pub(crate) async fn release_children(tx: &mut Tx, step_uuid: Uuid) -> Result<(), StoreError> {
    tx.defer(
        "UPDATE steps SET unmet_parents = unmet_parents - 1 WHERE step_uuid IN \
         (SELECT child_uuid FROM step_edges WHERE parent_uuid = $1)"
            .to_owned(),
        args![step_uuid],
        None,
    );
    Ok(())
}

/// `advance` for a task already locked (found in `state`) after every step of `parents`
/// finished an attempt, for steps whose results create nothing: only their children can
/// become ready (those with no unmet parent left), so it reads them and which step states
/// remain instead of every step and edge. Falls back to the full pass when the task has a
/// failed step (whose handling depends on the batch policy) or a child is a convergence
/// (which also waits for pending decisions).
pub(crate) async fn advance_after_locked(
    tx: &mut Tx,
    task_uuid: Uuid,
    state: TaskState,
    parents: &[Uuid],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Advance, StoreError> {
    if state.is_terminal() || parents.is_empty() {
        return Ok(Advance { enqueued: 0 });
    }
    let a = args![
        StepState::Pending.as_str(),
        crate::db::Arg::ids(parents.iter().copied())
    ];
    let children = format!(
        "SELECT child_uuid FROM step_edges WHERE parent_uuid {}",
        crate::db::in_list(tx.is_pg(), 2)
    );
    let sql = format!(
        "SELECT step_uuid, step_type FROM steps WHERE step_uuid {} \
         AND status = $1 AND unmet_parents <= 0",
        crate::db::in_subquery(tx.is_pg(), &children)
    );
    let children = tx.all(&sql, a).await?;
    let mut ready = Vec::with_capacity(children.len());
    for c in &children {
        let kind = c.text("step_type")?;
        if kind == tasker_core::StepType::DeferredConvergence.as_str()
            || tasker_core::StepType::parse(&kind).is_some_and(|t| t.is_waiting())
        {
            return advance(tx, task_uuid, actor, now).await;
        }
        ready.push(c.uuid("step_uuid")?);
    }
    if !ready.is_empty() {
        super::bulk::move_steps(
            tx,
            task_uuid,
            &ready,
            StepState::Pending,
            StepState::Enqueued,
            actor,
            "dependencies satisfied",
            now,
        )
        .await?;
    }
    let states = present_states(tx, task_uuid).await?;
    if states.contains(&StepState::Error) {
        return advance(tx, task_uuid, actor, now).await;
    }
    settle(tx, task_uuid, state, &states, actor, now).await?;
    Ok(Advance {
        enqueued: ready.len(),
    })
}

/// The step states present in the task, one index probe per state (not a scan of its steps,
/// which a fan-out makes thousands long).
async fn present_states(tx: &mut Tx, task_uuid: Uuid) -> Result<Vec<StepState>, StoreError> {
    let probes: Vec<String> = StepState::ALL
        .iter()
        .map(|s| {
            format!(
                "CAST(CASE WHEN EXISTS (SELECT 1 FROM steps WHERE task_uuid = $1 AND status = '{0}') \
                 THEN 1 ELSE 0 END AS BIGINT) AS s_{0}",
                s.as_str()
            )
        })
        .collect();
    let sql = format!("SELECT {}", probes.join(", "));
    let row = tx
        .one(&sql, args![task_uuid])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("task {task_uuid}")))?;
    let mut present = Vec::new();
    for s in StepState::ALL {
        if row.int(&format!("s_{}", s.as_str()))? != 0 {
            present.push(*s);
        }
    }
    Ok(present)
}

/// Records a transition. Queued (`Tx::defer`): an insert that no other write reads.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn audit(
    tx: &mut Tx,
    task_uuid: Uuid,
    step_uuid: Option<Uuid>,
    from: Option<&str>,
    to: &str,
    actor: &str,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.defer(
        "INSERT INTO transitions (task_uuid, step_uuid, from_state, to_state, at, actor, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
            .to_owned(),
        args![task_uuid, step_uuid, from, to, now, actor, reason],
        None,
    );
    Ok(())
}

/// What `advance` did.
pub(crate) struct Advance {
    /// Steps moved to `enqueued`.
    pub(crate) enqueued: usize,
}

/// Enqueues every ready step of the task and moves the task to the state its steps imply.
/// A dynamic task's plan adds two rules: a convergence waits while an unfinished decision or
/// batchable step can still create one of its parents, and a failed copy of a `continue`
/// batch counts as finished. The steps found ready move in bulk.
pub(crate) async fn advance(
    tx: &mut Tx,
    task_uuid: Uuid,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Advance, StoreError> {
    let state = lock_task(tx, task_uuid).await?;
    if state.is_terminal() {
        return Ok(Advance { enqueued: 0 });
    }
    let (mut views, shape) = step_views(tx, task_uuid).await?;
    let mut blocked = std::collections::HashSet::new();
    let mut waiting = std::collections::HashSet::new();
    if let Some(plan) = super::dynamic::load_plan(tx, task_uuid).await? {
        waiting = super::waiting::waiting_ids(&plan, &views, &shape);
        let existing = super::dynamic::existing_from_views(&views, shape);
        blocked = plan.blocked_convergences(&existing);
        let tolerated = plan.tolerated_failures(&existing);
        for v in views.iter_mut().filter(|v| tolerated.contains(&v.id)) {
            v.state = StepState::Complete;
        }
    }
    let (waits, ready): (Vec<Uuid>, Vec<Uuid>) = ready_steps(&views, now)
        .into_iter()
        .filter(|id| !blocked.contains(id))
        .partition(|id| waiting.contains(id));
    let index: HashMap<Uuid, usize> = views.iter().enumerate().map(|(i, v)| (v.id, i)).collect();
    for (from, reason) in [
        (StepState::Pending, "dependencies satisfied"),
        (StepState::WaitingForRetry, "retry time reached"),
    ] {
        let ids: Vec<Uuid> = ready
            .iter()
            .copied()
            .filter(|id| index.get(id).is_some_and(|&i| views[i].state == from))
            .collect();
        if ids.is_empty() {
            continue;
        }
        super::bulk::move_steps(
            tx,
            task_uuid,
            &ids,
            from,
            StepState::Enqueued,
            actor,
            reason,
            now,
        )
        .await?;
        for id in &ids {
            if let Some(&i) = index.get(id) {
                views[i].state = StepState::Enqueued;
            }
        }
    }
    if !waits.is_empty() {
        let failed = super::waiting::enter(tx, task_uuid, &waits, now).await?;
        for id in &waits {
            if let Some(&i) = index.get(id) {
                views[i].state = if failed.contains(id) {
                    StepState::Error
                } else {
                    StepState::Waiting
                };
            }
        }
    }
    let states: Vec<StepState> = views.iter().map(|v| v.state).collect();
    settle(tx, task_uuid, state, &states, actor, now).await?;
    Ok(Advance {
        enqueued: ready.len(),
    })
}

/// Moves the task from `state` to the state its steps' `states` imply, when they differ.
pub(crate) async fn settle(
    tx: &mut Tx,
    task_uuid: Uuid,
    state: TaskState,
    states: &[StepState],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    settle_task(tx, task_uuid, state, states, actor, true, now).await
}

/// [`settle`]; `may_have_parent = false` (a task known to have no parent task) skips looking
/// for a waiting parent step when the task ends.
pub(crate) async fn settle_task(
    tx: &mut Tx,
    task_uuid: Uuid,
    state: TaskState,
    states: &[StepState],
    actor: &str,
    may_have_parent: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let derived = derive_task_state(states);
    if derived == state {
        return Ok(());
    }
    let reason = match derived {
        TaskState::Complete => "all steps finished",
        TaskState::BlockedByFailures => "a step failed permanently",
        TaskState::WaitingForRetry => "steps waiting for retry",
        _ => "steps in process",
    };
    if may_have_parent {
        set_task_state(tx, task_uuid, state, derived, actor, Some(reason), now).await
    } else {
        record_task_state(tx, task_uuid, state, derived, actor, Some(reason), now).await
    }
}

/// Per step (in the order of the views): the template step it comes from and its batch index.
pub(crate) type Shape = Vec<(String, Option<u32>)>;

async fn step_views(tx: &mut Tx, task_uuid: Uuid) -> Result<(Vec<StepView>, Shape), StoreError> {
    let rows = tx
        .all(
            "SELECT step_uuid, status, retry_at, name, template_step, batch_index FROM steps \
             WHERE task_uuid = $1 ORDER BY position",
            args![task_uuid],
        )
        .await?;
    let mut views = Vec::with_capacity(rows.len());
    let mut shape = Vec::with_capacity(rows.len());
    for r in &rows {
        views.push(StepView {
            id: r.uuid("step_uuid")?,
            state: r.parsed("status")?,
            parents: Vec::new(),
            retry_at: r.opt_time("retry_at")?,
        });
        let template_step = match r.opt_text("template_step")? {
            Some(t) => t,
            None => r.text("name")?,
        };
        let index = r
            .opt_int("batch_index")?
            .and_then(|i| u32::try_from(i).ok());
        shape.push((template_step, index));
    }
    let index: HashMap<Uuid, usize> = views.iter().enumerate().map(|(i, v)| (v.id, i)).collect();
    let edges = tx
        .all(
            "SELECT parent_uuid, child_uuid FROM step_edges WHERE task_uuid = $1",
            args![task_uuid],
        )
        .await?;
    for e in &edges {
        let child = e.uuid("child_uuid")?;
        let parent = e.uuid("parent_uuid")?;
        if let Some(&i) = index.get(&child) {
            views[i].parents.push(parent);
        }
    }
    Ok((views, shape))
}

/// Opens a pending DLQ entry unless one with the same reason is already pending for the task.
pub(crate) async fn open_dlq(
    tx: &mut Tx,
    task_uuid: Uuid,
    step_uuid: Option<Uuid>,
    reason: DlqReason,
    now: DateTime<Utc>,
) -> Result<Option<DlqEntry>, StoreError> {
    let existing = tx
        .one(
            "SELECT dlq_entry_uuid FROM dlq_entries WHERE task_uuid = $1 AND dlq_reason = $2 \
             AND resolution_status = $3",
            args![
                task_uuid,
                reason.as_str(),
                ResolutionStatus::Pending.as_str()
            ],
        )
        .await?;
    if existing.is_some() {
        return Ok(None);
    }
    let (snapshot, priority) = snapshot(tx, task_uuid).await?;
    let entry = DlqEntry {
        dlq_entry_uuid: Uuid::new_v4(),
        task_uuid,
        step_uuid,
        dlq_reason: reason,
        resolution_status: ResolutionStatus::Pending,
        notes: None,
        resolver: None,
        task_snapshot: snapshot,
        priority,
        created_at: now,
        updated_at: now,
        resolved_at: None,
    };
    tx.exec(
        "INSERT INTO dlq_entries (dlq_entry_uuid, task_uuid, step_uuid, dlq_reason, \
         resolution_status, notes, resolver, task_snapshot, priority, created_at, updated_at, \
         resolved_at) VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6, $7, $8, $8, NULL)",
        args![
            entry.dlq_entry_uuid,
            task_uuid,
            step_uuid,
            reason.as_str(),
            entry.resolution_status.as_str(),
            entry.task_snapshot.to_string(),
            i64::from(priority),
            now
        ],
    )
    .await?;
    Ok(Some(entry))
}

async fn snapshot(tx: &mut Tx, task_uuid: Uuid) -> Result<(Value, i32), StoreError> {
    let task = tx
        .one(
            "SELECT namespace, name, version, status, context, priority, created_at FROM tasks \
             WHERE task_uuid = $1",
            args![task_uuid],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("task {task_uuid}")))?;
    let steps = tx
        .all(
            "SELECT step_uuid, name, status, attempts, max_attempts, last_error FROM steps \
             WHERE task_uuid = $1 ORDER BY position",
            args![task_uuid],
        )
        .await?;
    let mut step_values = Vec::with_capacity(steps.len());
    for s in &steps {
        step_values.push(json!({
            "step_uuid": parse_uuid(&s.text("step_uuid")?)?,
            "name": s.text("name")?,
            "status": s.text("status")?,
            "attempts": s.int("attempts")?,
            "max_attempts": s.int("max_attempts")?,
            "last_error": s.opt_json("last_error")?,
        }));
    }
    let priority = i32::try_from(task.int("priority")?).unwrap_or_default();
    let value = json!({
        "task_uuid": task_uuid,
        "namespace": task.text("namespace")?,
        "name": task.text("name")?,
        "version": task.text("version")?,
        "status": task.text("status")?,
        "context": task.json("context")?,
        "created_at": task.time("created_at")?,
        "steps": step_values,
    });
    Ok((value, priority))
}

pub(crate) async fn load_step_tx(tx: &mut Tx, step_uuid: Uuid) -> Result<StepRecord, StoreError> {
    let sql = format!(
        "SELECT {} FROM steps WHERE step_uuid = $1",
        super::rows::STEP_COLUMNS
    );
    let row = tx
        .one(&sql, args![step_uuid])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("step {step_uuid}")))?;
    super::rows::step(&row)
}
