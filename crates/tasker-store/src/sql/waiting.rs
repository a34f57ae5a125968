//! Waiting steps (`approval`, `subtask`): entering `waiting` when they become ready (with an
//! approval's deadline, or a subtask's child task), the signal that approves or rejects an approval, the timeout sweep,
//! and the permanent failure both rejection and timeout end in (task blocked, DLQ entry
//! naming who or what failed it).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tasker_core::dynamic::TaskPlan;
use tasker_core::store::{Decision, DlqReason, StepRecord, StepSignal};
use tasker_core::{ApprovalSpec, StepState, StepType, StepView, StoreError};
use uuid::Uuid;

use super::engine::{SYSTEM, Shape, advance, load_step_tx, lock_task, open_dlq, set_step_state};
use super::{SqlStore, announce, notify_work};
use crate::db::{Arg, Tx, args, json_text, placeholders};

/// Most expired waits failed per sweep.
const EXPIRE_BATCH: i64 = 100;

/// Ids of the views whose template step is of a waiting type.
pub(crate) fn waiting_ids(plan: &TaskPlan, views: &[StepView], shape: &Shape) -> HashSet<Uuid> {
    let types: HashMap<&str, StepType> = plan
        .steps
        .iter()
        .map(|p| (p.step.name.as_str(), p.step.step_type))
        .collect();
    views
        .iter()
        .zip(shape)
        .filter(|(_, (t, _))| types.get(t.as_str()).is_some_and(|t| t.is_waiting()))
        .map(|(v, _)| v.id)
        .collect()
}

/// Moves ready waiting steps from `pending` to `waiting`: an approval gets its deadline, a
/// subtask creates its child task. Returns the steps that failed at once (a child that
/// cannot be made), already in `error` with their DLQ entry; the caller settles the task.
pub(crate) async fn enter(
    tx: &mut Tx,
    task_uuid: Uuid,
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let sql = format!(
        "SELECT step_uuid, step_type, initialization FROM steps WHERE step_uuid IN ({})",
        placeholders(1, ids.len())
    );
    let rows = tx
        .all(&sql, ids.iter().map(|i| Arg::from(*i)).collect())
        .await?;
    let mut failed = Vec::new();
    for r in &rows {
        let step_uuid = r.uuid("step_uuid")?;
        let settings = r.json("initialization")?;
        let is_subtask = r.text("step_type")? == StepType::Subtask.as_str();
        let reason = if is_subtask {
            "waiting for the child task"
        } else {
            let spec: ApprovalSpec = serde_json::from_value(settings.clone()).unwrap_or_default();
            if let Some(secs) = spec.timeout_seconds {
                let until =
                    now + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX));
                tx.exec(
                    "UPDATE steps SET wait_until = $1 WHERE step_uuid = $2",
                    args![until, step_uuid],
                )
                .await?;
            }
            "waiting for approval"
        };
        // The child is made while the step is still pending, so that a child ending during
        // its own creation does not settle a step its parent is still entering.
        let child = if is_subtask {
            Some(super::subtasks::start_child(tx, task_uuid, step_uuid, settings, now).await?)
        } else {
            None
        };
        set_step_state(
            tx,
            task_uuid,
            step_uuid,
            StepState::Pending,
            StepState::Waiting,
            SYSTEM,
            Some(reason),
            now,
        )
        .await?;
        let Some(child) = child else {
            continue;
        };
        match child {
            Ok(child) => {
                tx.exec(
                    "UPDATE steps SET results = $1 WHERE step_uuid = $2",
                    args![
                        json_text(&json!({"task_uuid": child, "status": "pending"})),
                        step_uuid
                    ],
                )
                .await?;
            }
            Err(why) => {
                let step = load_step_tx(tx, step_uuid).await?;
                let error = json!({"message": format!("cannot start the child task: {why}")});
                mark_failed(tx, &step, error, SYSTEM, now).await?;
                failed.push(step_uuid);
            }
        }
    }
    Ok(failed)
}

/// Fails a waiting step for good with `error` (its `message` goes into the audit row and the
/// DLQ entry's notes), advances the task and opens its DLQ entry.
pub(crate) async fn fail_waiting(
    tx: &mut Tx,
    step: &StepRecord,
    error: Value,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let message = mark_error(tx, step, &error, actor, now).await?;
    advance(tx, step.task_uuid, actor, now).await?;
    open_entry(tx, step, &message, now).await
}

/// [`fail_waiting`] without advancing the task (for a caller inside `advance`).
async fn mark_failed(
    tx: &mut Tx,
    step: &StepRecord,
    error: Value,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let message = mark_error(tx, step, &error, actor, now).await?;
    open_entry(tx, step, &message, now).await
}

async fn mark_error(
    tx: &mut Tx,
    step: &StepRecord,
    error: &Value,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("failed")
        .to_owned();
    tx.exec(
        "UPDATE steps SET last_error = $1, wait_until = NULL WHERE step_uuid = $2",
        args![json_text(error), step.step_uuid],
    )
    .await?;
    set_step_state(
        tx,
        step.task_uuid,
        step.step_uuid,
        StepState::Waiting,
        StepState::Error,
        actor,
        Some(&message),
        now,
    )
    .await?;
    Ok(message)
}

async fn open_entry(
    tx: &mut Tx,
    step: &StepRecord,
    message: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Some(entry) = open_dlq(
        tx,
        step.task_uuid,
        Some(step.step_uuid),
        DlqReason::MaxRetriesExceeded,
        now,
    )
    .await?
    {
        tx.exec(
            "UPDATE dlq_entries SET notes = $1 WHERE dlq_entry_uuid = $2",
            args![
                format!("step `{}`: {message}", step.name),
                entry.dlq_entry_uuid
            ],
        )
        .await?;
    }
    Ok(())
}

/// Completes a waiting step with `result` and advances the task.
pub(crate) async fn complete_waiting(
    tx: &mut Tx,
    step: &StepRecord,
    result: &Value,
    actor: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    tx.exec(
        "UPDATE steps SET results = $1, wait_until = NULL WHERE step_uuid = $2",
        args![json_text(result), step.step_uuid],
    )
    .await?;
    set_step_state(
        tx,
        step.task_uuid,
        step.step_uuid,
        StepState::Waiting,
        StepState::Complete,
        actor,
        Some(reason),
        now,
    )
    .await?;
    Ok(advance(tx, step.task_uuid, actor, now).await?.enqueued)
}

impl SqlStore {
    pub(super) async fn signal_step_impl(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        signal: &StepSignal,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<StepRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_task(&mut tx, task_uuid).await?;
        let step = match load_step_tx(&mut tx, step_uuid).await {
            Ok(s) if s.task_uuid == task_uuid => s,
            Ok(_) | Err(StoreError::NotFound(_)) => {
                return Err(StoreError::NotFound(format!(
                    "step {step_uuid} of task {task_uuid}"
                )));
            }
            Err(e) => return Err(e),
        };
        if step.step_type != StepType::Approval {
            return Err(StoreError::Conflict(format!(
                "step `{}` is a {} step; only approval steps take signals",
                step.name,
                step.step_type.as_str()
            )));
        }
        if step.status != StepState::Waiting {
            return Err(StoreError::Conflict(format!(
                "step `{}` is {}, not waiting for a signal",
                step.name, step.status
            )));
        }
        let because = signal
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        let mut enqueued = 0;
        match signal.decision {
            Decision::Approve => {
                let result = json!({"decision": "approve", "payload": signal.payload, "by": actor});
                let reason = format!("approved by {actor}{because}");
                enqueued = complete_waiting(&mut tx, &step, &result, actor, &reason, now).await?;
            }
            Decision::Reject => {
                let error = json!({
                    "message": format!("rejected by {actor}{because}"),
                    "decision": "reject",
                    "payload": signal.payload,
                    "by": actor,
                });
                fail_waiting(&mut tx, &step, error, actor, now).await?;
            }
        }
        if enqueued > 0 {
            announce(&mut tx).await?;
        }
        tx.commit().await?;
        notify_work(&self.signal);
        load_step_of(&self.pool, task_uuid, step_uuid).await
    }

    pub(super) async fn expire_waiting_steps_impl(
        &self,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let due = self
            .pool
            .all(
                "SELECT step_uuid, task_uuid FROM steps WHERE wait_until IS NOT NULL \
                 AND wait_until <= $1 AND status = 'waiting' ORDER BY wait_until LIMIT $2",
                args![now, EXPIRE_BATCH],
            )
            .await?;
        let mut failed = 0;
        for r in &due {
            let (step_uuid, task_uuid) = (r.uuid("step_uuid")?, r.uuid("task_uuid")?);
            let mut tx = self.pool.begin().await?;
            if lock_task(&mut tx, task_uuid).await?.is_terminal() {
                continue;
            }
            let step = load_step_tx(&mut tx, step_uuid).await?;
            if step.status != StepState::Waiting {
                continue;
            }
            let spec: ApprovalSpec =
                serde_json::from_value(step.initialization.clone()).unwrap_or_default();
            let secs = spec.timeout_seconds.unwrap_or_default();
            let error = json!({
                "message": format!("approval timed out after {secs} s (on_timeout: reject)"),
                "decision": "timeout",
                "by": SYSTEM,
            });
            fail_waiting(&mut tx, &step, error, SYSTEM, now).await?;
            tx.commit().await?;
            failed += 1;
        }
        if failed > 0 {
            notify_work(&self.signal);
        }
        Ok(failed)
    }

    pub(super) async fn step_state_impl(
        &self,
        step_uuid: Uuid,
    ) -> Result<Option<StepState>, StoreError> {
        self.pool
            .one(
                "SELECT status FROM steps WHERE step_uuid = $1",
                args![step_uuid],
            )
            .await?
            .map(|r| r.parsed("status"))
            .transpose()
    }
}

pub(crate) async fn load_step_of(
    pool: &crate::db::Pool,
    task_uuid: Uuid,
    step_uuid: Uuid,
) -> Result<StepRecord, StoreError> {
    super::rows::load_steps(pool, task_uuid, Some(step_uuid))
        .await?
        .pop()
        .ok_or_else(|| StoreError::NotFound(format!("step {step_uuid}")))
}
