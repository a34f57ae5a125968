//! Dynamic tasks in the store: the plan saved with the task, the check of a decision's or
//! batchable's result, and the creation of the steps it brings (batch copies, chosen branches,
//! the steps downstream of them) inside the transaction that records the result, and the
//! cancellation of a `fail_fast` batch's unfinished copies.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tasker_core::dynamic::{ExistingStep, TaskPlan};
use tasker_core::store::StepRecord;
use tasker_core::{BatchFailure, StepState, StepView, StoreError};
use uuid::Uuid;

use super::bulk::{Start, insert_steps, move_steps};
use super::engine::Shape;
use crate::db::{Tx, args};

pub(crate) async fn save_plan(
    tx: &mut Tx,
    task_uuid: Uuid,
    plan: &TaskPlan,
) -> Result<(), StoreError> {
    let text =
        serde_json::to_string(plan).map_err(|e| StoreError::Corrupt(format!("plan: {e}")))?;
    tx.exec(
        "INSERT INTO task_plans (task_uuid, plan) VALUES ($1, $2)",
        args![task_uuid, text],
    )
    .await
    .map(|_| ())
}

/// The task's plan; `None` for a task of a static template.
pub(crate) async fn load_plan(
    tx: &mut Tx,
    task_uuid: Uuid,
) -> Result<Option<TaskPlan>, StoreError> {
    let row = tx.one(PLAN_SQL, args![task_uuid]).await?;
    parse_plan(row, task_uuid)
}

/// The plan of a task outside a transaction (for claims and the DAG view).
pub(crate) async fn read_plan(
    pool: &crate::db::Pool,
    task_uuid: Uuid,
) -> Result<Option<TaskPlan>, StoreError> {
    let row = pool.one(PLAN_SQL, args![task_uuid]).await?;
    parse_plan(row, task_uuid)
}

const PLAN_SQL: &str = "SELECT plan FROM task_plans WHERE task_uuid = $1";

fn parse_plan(
    row: Option<crate::db::Row>,
    task_uuid: Uuid,
) -> Result<Option<TaskPlan>, StoreError> {
    let Some(row) = row else {
        return Ok(None);
    };
    serde_json::from_str(&row.text("plan")?)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("plan of task {task_uuid}: {e}")))
}

pub(crate) fn existing_from_views(views: &[StepView], shape: Shape) -> Vec<ExistingStep> {
    views
        .iter()
        .zip(shape)
        .map(|(v, (template_step, batch_index))| ExistingStep {
            step_uuid: v.id,
            template_step,
            status: v.state,
            results: None,
            batch_index,
        })
        .collect()
}

/// The task's steps with the results of its decisions (what expansion reads).
async fn existing_steps(tx: &mut Tx, task_uuid: Uuid) -> Result<Vec<ExistingStep>, StoreError> {
    let rows = tx
        .all(
            "SELECT step_uuid, status, name, template_step, batch_index, \
             CASE WHEN step_type = 'decision' THEN results END AS results \
             FROM steps WHERE task_uuid = $1 ORDER BY position",
            args![task_uuid],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ExistingStep {
                step_uuid: r.uuid("step_uuid")?,
                template_step: match r.opt_text("template_step")? {
                    Some(t) => t,
                    None => r.text("name")?,
                },
                status: r.parsed("status")?,
                results: r.opt_json("results")?,
                batch_index: r
                    .opt_int("batch_index")?
                    .and_then(|i| u32::try_from(i).ok()),
            })
        })
        .collect()
}

/// Creates what a finished step brings: `cursors` are a batchable's validated batches.
pub(crate) async fn expand_after(
    tx: &mut Tx,
    step: &StepRecord,
    plan: &TaskPlan,
    cursors: Option<&[Value]>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let existing = existing_steps(tx, step.task_uuid).await?;
    let fan_out = cursors.map(|c| (step.template_step.as_str(), c));
    let expansion = plan.expand(&existing, fan_out, Uuid::now_v7);
    if expansion.steps.is_empty() && expansion.edges.is_empty() {
        return Ok(0);
    }
    let next = tx
        .one(
            "SELECT MAX(position) AS p FROM steps WHERE task_uuid = $1",
            args![step.task_uuid],
        )
        .await?
        .and_then(|r| r.opt_int("p").ok().flatten())
        .map_or(0, |p| p + 1);
    insert_steps(
        tx,
        step.task_uuid,
        &step.namespace,
        &expansion.steps,
        next,
        &expansion.edges,
        Start::After {
            finished: step.step_uuid,
        },
        now,
    )
    .await?;
    Ok(expansion.steps.len())
}

/// After a batch copy failed permanently: under `fail_fast` its unfinished siblings are
/// cancelled (and their leases dropped); under `continue` nothing happens. Returns the policy.
pub(crate) async fn after_copy_failed(
    tx: &mut Tx,
    step: &StepRecord,
    plan: &TaskPlan,
    now: DateTime<Utc>,
) -> Result<BatchFailure, StoreError> {
    let policy = plan.failure_policy(&step.template_step).unwrap_or_default();
    if policy == BatchFailure::Continue {
        // The dependents count the failed copy as finished.
        super::engine::release_children(tx, step.step_uuid).await?;
        return Ok(policy);
    }
    let rows = tx
        .all(
            "SELECT step_uuid, status FROM steps WHERE task_uuid = $1 AND template_step = $2 \
             AND batch_index IS NOT NULL AND status IN ('pending', 'enqueued', 'in_progress', \
             'waiting_for_retry')",
            args![step.task_uuid, &step.template_step],
        )
        .await?;
    let reason = format!("batch copy `{}` failed (fail_fast)", step.name);
    for from in [
        StepState::Pending,
        StepState::Enqueued,
        StepState::InProgress,
        StepState::WaitingForRetry,
    ] {
        let mut ids = Vec::new();
        for r in &rows {
            if r.parsed::<StepState>("status")? == from {
                ids.push(r.uuid("step_uuid")?);
            }
        }
        if ids.is_empty() {
            continue;
        }
        move_steps(
            tx,
            step.task_uuid,
            &ids,
            from,
            StepState::Cancelled,
            super::engine::SYSTEM,
            &reason,
            now,
        )
        .await?;
    }
    tx.exec(
        "DELETE FROM step_leases WHERE step_uuid IN (SELECT step_uuid FROM steps \
         WHERE task_uuid = $1 AND template_step = $2 AND status = 'cancelled')",
        args![step.task_uuid, &step.template_step],
    )
    .await?;
    Ok(policy)
}
