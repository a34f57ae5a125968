//! Operator actions on steps (resolve, complete with a result, reset for retry); each closes
//! the step's open DLQ entries and resumes the task when it can go on.

use chrono::{DateTime, Utc};
use tasker_core::store::{ManualAction, ResolutionStatus, StepRecord};
use tasker_core::{StepState, StoreError};
use uuid::Uuid;

use super::engine::{advance, load_step_tx, lock_task, set_step_state};
use super::rows::load_steps;
use super::{SqlStore, announce, notify_work};
use crate::db::{args, json_text};

impl SqlStore {
    pub(super) async fn manual_step_action_impl(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        action: &ManualAction,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<StepRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let task_state = lock_task(&mut tx, task_uuid).await?;
        if task_state.is_terminal() {
            return Err(StoreError::Conflict(format!(
                "task {task_uuid} is {task_state}; steps can no longer change"
            )));
        }
        let step = load_step_tx(&mut tx, step_uuid).await?;
        if step.task_uuid != task_uuid {
            return Err(StoreError::NotFound(format!(
                "step {step_uuid} of task {task_uuid}"
            )));
        }
        if step.status == StepState::InProgress {
            return Err(StoreError::Conflict(format!(
                "step `{}` is in_progress under a worker lease; act once the attempt ends",
                step.name
            )));
        }
        match action {
            ManualAction::ResolveManually { reason } => {
                set_step_state(
                    &mut tx,
                    task_uuid,
                    step_uuid,
                    step.status,
                    StepState::ResolvedManually,
                    actor,
                    Some(reason),
                    now,
                )
                .await?;
            }
            ManualAction::CompleteManually { result, reason } => {
                step.status.transition(StepState::Complete)?;
                tx.exec(
                    "UPDATE steps SET results = $1 WHERE step_uuid = $2",
                    args![json_text(result), step_uuid],
                )
                .await?;
                set_step_state(
                    &mut tx,
                    task_uuid,
                    step_uuid,
                    step.status,
                    StepState::Complete,
                    actor,
                    Some(reason),
                    now,
                )
                .await?;
            }
            ManualAction::ResetForRetry { reason } => match step.status {
                StepState::Error => {
                    set_step_state(
                        &mut tx,
                        task_uuid,
                        step_uuid,
                        StepState::Error,
                        StepState::Pending,
                        actor,
                        Some(reason),
                        now,
                    )
                    .await?;
                    tx.exec(
                        "UPDATE steps SET attempts = 0, retry_at = NULL WHERE step_uuid = $1",
                        args![step_uuid],
                    )
                    .await?;
                }
                StepState::WaitingForRetry => {
                    tx.exec(
                        "UPDATE steps SET retry_at = $1 WHERE step_uuid = $2",
                        args![now, step_uuid],
                    )
                    .await?;
                }
                other => {
                    return Err(StoreError::Conflict(format!(
                        "step `{}` is {other}; only failed steps can be reset for retry",
                        step.name
                    )));
                }
            },
        }
        // A decision or batchable closed by hand shapes the task like a worker's result would.
        if step.step_type.creates_steps()
            && let Some(plan) = super::dynamic::load_plan(&mut tx, task_uuid).await?
        {
            let cursors = match action {
                ManualAction::CompleteManually { result, .. } => plan
                    .check_result(&step.template_step, result)
                    .map_err(|m| StoreError::Conflict(format!("step `{}`: {m}", step.name)))?,
                ManualAction::ResolveManually { .. } => Some(Vec::new()),
                ManualAction::ResetForRetry { .. } => None,
            };
            if !matches!(action, ManualAction::ResetForRetry { .. }) {
                super::dynamic::expand_after(&mut tx, &step, &plan, cursors.as_deref(), now)
                    .await?;
            }
        }
        // The operator has dealt with this step's failure: close its open DLQ entries.
        tx.exec(
            "UPDATE dlq_entries SET resolution_status = $1, resolver = $2, resolved_at = $3, \
             updated_at = $3 WHERE step_uuid = $4 AND resolution_status = $5",
            args![
                ResolutionStatus::ManuallyResolved.as_str(),
                actor,
                now,
                step_uuid,
                ResolutionStatus::Pending.as_str()
            ],
        )
        .await?;
        let adv = advance(&mut tx, task_uuid, actor, now).await?;
        if adv.enqueued > 0 {
            announce(&mut tx).await?;
        }
        tx.commit().await?;
        notify_work(&self.signal);
        load_steps(&self.pool, task_uuid, Some(step_uuid))
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("step {step_uuid}")))
    }
}
