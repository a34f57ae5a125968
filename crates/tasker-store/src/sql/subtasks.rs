//! Child tasks of `subtask` steps inside the store: the child is created in the transaction
//! that makes its step wait (template, context and depth checked there; a problem fails the
//! step permanently), its end settles the parent step in the transaction that records it
//! (complete → the step completes with the child's results; blocked, error, cancelled or
//! resolved → the step fails naming the child), and cancelling a task cancels its children.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tasker_core::dynamic::TaskPlan;
use tasker_core::store::{NewTask, TaskMeta};
use tasker_core::subtask::{child_context, child_result, pick_version};
use tasker_core::{StepState, StoreError, SubtaskSpec, TaskState, TaskTemplate};
use uuid::Uuid;

use super::engine::{SYSTEM, load_step_tx, lock_task};
use super::{SqlStore, announce};
use crate::db::{Tx, args};

/// Creates the child task of the subtask step `step_uuid` of `task_uuid`. `Ok(Err(why))`
/// when no child can be made: the step then fails permanently with that message.
pub(crate) async fn start_child(
    tx: &mut Tx,
    task_uuid: Uuid,
    step_uuid: Uuid,
    settings: Value,
    now: DateTime<Utc>,
) -> Result<Result<Uuid, String>, StoreError> {
    let spec: SubtaskSpec = match serde_json::from_value(settings) {
        Ok(s) => s,
        Err(e) => return Ok(Err(format!("invalid subtask settings: {e}"))),
    };
    let parent = tx
        .one(
            "SELECT context, created_by, priority, correlation_id, trace_parent FROM tasks \
             WHERE task_uuid = $1",
            args![task_uuid],
        )
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("task {task_uuid}")))?;
    let plan = super::dynamic::load_plan(tx, task_uuid).await?;
    let max_depth = plan
        .as_ref()
        .map_or(tasker_core::dynamic::DEFAULT_MAX_SUBTASK_DEPTH, |p| {
            p.max_subtask_depth
        });
    let depth = depth_of(tx, task_uuid, max_depth).await? + 1;
    if depth > max_depth {
        return Ok(Err(format!(
            "child tasks nest deeper than engine.max_subtask_depth ({max_depth})"
        )));
    }
    let versions = templates_named(tx, &spec.namespace, &spec.name).await?;
    let Some(child) = pick_version(&versions, spec.version.as_deref()) else {
        return Ok(Err(format!(
            "child template {}/{}{} is not registered",
            spec.namespace,
            spec.name,
            spec.version
                .as_deref()
                .map(|v| format!("@{v}"))
                .unwrap_or_default()
        )));
    };
    let parent_results = parent_results(tx, step_uuid).await?;
    let context = match child_context(&spec, child, &parent.json("context")?, &parent_results) {
        Ok(c) => c,
        Err(why) => return Ok(Err(why)),
    };
    let Some(defaults) = plan.as_ref().and_then(|p| p.defaults) else {
        return Ok(Err("the task's plan carries no engine defaults".into()));
    };
    let max_batches = plan.as_ref().map_or(10_000, |p| p.max_batches);
    let (steps, child_plan) =
        TaskPlan::shape_of(child, &defaults, max_batches, max_depth, Uuid::now_v7);
    let child_uuid = Uuid::now_v7();
    let task = NewTask {
        plan: child_plan,
        task_uuid: child_uuid,
        namespace: child.namespace.clone(),
        name: child.name.clone(),
        version: child.version.clone(),
        context,
        created_by: parent.text("created_by")?,
        meta: TaskMeta {
            initiator: Some(format!("subtask step of task {task_uuid}")),
            priority: i32::try_from(parent.int("priority")?).unwrap_or_default(),
            correlation_id: parent.opt_text("correlation_id")?,
            ..TaskMeta::default()
        },
        steps,
        // The child's steps join the parent's trace.
        trace_parent: parent.opt_text("trace_parent")?,
    };
    Box::pin(super::tasks::insert_child_rows(
        tx,
        &task,
        Some((task_uuid, step_uuid)),
        now,
    ))
    .await?;
    // A child that could not even start (its own first subtask failed) ended before it had
    // a parent to tell; the step fails now instead.
    let state = lock_task(tx, child_uuid).await?;
    if state.is_terminal() || state == TaskState::BlockedByFailures {
        return Ok(Err(format!(
            "child task {child_uuid} ({}/{}) ended {state}",
            task.namespace, task.name
        )));
    }
    Ok(Ok(child_uuid))
}

/// How many ancestors the task has (counting at most `limit + 1`).
async fn depth_of(tx: &mut Tx, task_uuid: Uuid, limit: u32) -> Result<u32, StoreError> {
    let mut depth = 0;
    let mut current = task_uuid;
    while depth <= limit {
        let row = tx
            .one(
                "SELECT parent_task_uuid FROM tasks WHERE task_uuid = $1",
                args![current],
            )
            .await?;
        match row
            .map(|r| r.opt_uuid("parent_task_uuid"))
            .transpose()?
            .flatten()
        {
            Some(parent) => {
                depth += 1;
                current = parent;
            }
            None => break,
        }
    }
    Ok(depth)
}

async fn templates_named(
    tx: &mut Tx,
    namespace: &str,
    name: &str,
) -> Result<Vec<TaskTemplate>, StoreError> {
    let rows = tx
        .all(
            "SELECT definition FROM templates WHERE namespace = $1 AND name = $2",
            args![namespace, name],
        )
        .await?;
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.text("definition")?)
                .map_err(|e| StoreError::Corrupt(format!("template definition: {e}")))
        })
        .collect()
}

async fn parent_results(
    tx: &mut Tx,
    step_uuid: Uuid,
) -> Result<BTreeMap<String, Value>, StoreError> {
    let rows = tx
        .all(
            "SELECT p.name, p.results FROM step_edges e JOIN steps p ON p.step_uuid = e.parent_uuid \
             WHERE e.child_uuid = $1",
            args![step_uuid],
        )
        .await?;
    let mut out = BTreeMap::new();
    for r in &rows {
        out.insert(
            r.text("name")?,
            r.opt_json("results")?.unwrap_or(Value::Null),
        );
    }
    Ok(out)
}

/// After a task entered `state` (an end, or blocked): when it is a child, settles its parent
/// step if that step still waits for it.
pub(crate) async fn child_ended(
    tx: &mut Tx,
    child_uuid: Uuid,
    state: TaskState,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if !(state.is_terminal() || state == TaskState::BlockedByFailures) {
        return Ok(());
    }
    let Some(row) = tx
        .one(
            "SELECT parent_task_uuid, parent_step_uuid, namespace, name FROM tasks \
             WHERE task_uuid = $1",
            args![child_uuid],
        )
        .await?
    else {
        return Ok(());
    };
    let (Some(parent), Some(step_uuid)) = (
        row.opt_uuid("parent_task_uuid")?,
        row.opt_uuid("parent_step_uuid")?,
    ) else {
        return Ok(());
    };
    if lock_task(tx, parent).await?.is_terminal() {
        return Ok(());
    }
    let step = load_step_tx(tx, step_uuid).await?;
    if step.status != StepState::Waiting {
        return Ok(());
    }
    let child = format!(
        "child task {child_uuid} ({}/{})",
        row.text("namespace")?,
        row.text("name")?
    );
    if state == TaskState::Complete {
        let results = tx
            .all(
                "SELECT name, results FROM steps WHERE task_uuid = $1 ORDER BY position",
                args![child_uuid],
            )
            .await?;
        let mut by_step = BTreeMap::new();
        for r in &results {
            by_step.insert(
                r.text("name")?,
                r.opt_json("results")?.unwrap_or(Value::Null),
            );
        }
        let result = child_result(child_uuid, state.as_str(), by_step);
        let reason = format!("{child} complete");
        let enqueued = Box::pin(super::waiting::complete_waiting(
            tx, &step, &result, SYSTEM, &reason, now,
        ))
        .await?;
        if enqueued > 0 {
            announce(tx).await?;
        }
    } else {
        let error = json!({
            "message": format!("{child} ended {state}"),
            "child_task_uuid": child_uuid,
            "child_status": state.as_str(),
        });
        Box::pin(super::waiting::fail_waiting(tx, &step, error, SYSTEM, now)).await?;
    }
    Ok(())
}

impl SqlStore {
    /// Cancels the unfinished children of `task_uuid` (and theirs), each in its own
    /// transaction after the parent's committed.
    pub(super) async fn cancel_children(
        &self,
        task_uuid: Uuid,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let rows = self
            .pool
            .all(
                "SELECT task_uuid FROM tasks WHERE parent_task_uuid = $1 AND status NOT IN \
                 ('complete', 'error', 'cancelled', 'resolved_manually')",
                args![task_uuid],
            )
            .await?;
        for r in &rows {
            let child = r.uuid("task_uuid")?;
            let reason = format!("parent task {task_uuid} cancelled");
            match Box::pin(self.cancel_task_impl(child, actor, Some(&reason), now)).await {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
