//! Templates and the task lifecycle outside of step execution: create (with idempotency),
//! list, audit trail, cancel.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tasker_core::store::{
    NewTask, ResolutionStatus, TaskFilter, TaskRecord, TemplateRecord, TransitionRecord,
};
use tasker_core::{StoreError, TaskState, TaskTemplate};
use uuid::Uuid;

use super::bulk::{Start, TRANSITION_INSERT, defer_rows, insert_steps, transition_row};
use super::engine::{SYSTEM, advance, cancel_unfinished_steps, lock_task, set_task_state};
use super::rows::{self, TASK_COLUMNS, load_task, u64_arg, with_counts};
use super::{SqlStore, announce, notify_work};
use crate::db::{Arg, Tx, args, json_text};

impl SqlStore {
    pub(super) async fn upsert_template_impl(
        &self,
        t: &TaskTemplate,
        now: DateTime<Utc>,
    ) -> Result<TemplateRecord, StoreError> {
        let definition =
            serde_json::to_string(t).map_err(|e| StoreError::Corrupt(format!("template: {e}")))?;
        let mut tx = self.pool.begin().await?;
        tx.exec(
            "INSERT INTO templates (namespace, name, version, definition, registered_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (namespace, name, version) \
             DO UPDATE SET definition = excluded.definition, registered_at = excluded.registered_at",
            args![&t.namespace, &t.name, &t.version, definition, now],
        )
        .await?;
        tx.commit().await?;
        Ok(TemplateRecord {
            template: t.clone(),
            registered_at: now,
        })
    }

    pub(super) async fn list_templates_impl(&self) -> Result<Vec<TemplateRecord>, StoreError> {
        let rows = self
            .pool
            .all(
                "SELECT definition, registered_at FROM templates ORDER BY namespace, name, version",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let template = serde_json::from_str(&r.text("definition")?)
                    .map_err(|e| StoreError::Corrupt(format!("template definition: {e}")))?;
                Ok(TemplateRecord {
                    template,
                    registered_at: r.time("registered_at")?,
                })
            })
            .collect()
    }

    pub(super) async fn create_task_impl(
        &self,
        task: NewTask,
        now: DateTime<Utc>,
    ) -> Result<TaskRecord, StoreError> {
        if let Some(existing) = self.find_idempotent(&task).await? {
            return Err(StoreError::DuplicateIdempotencyKey { existing });
        }
        match self.insert_task(&task, now).await {
            Err(StoreError::Conflict(_)) => match self.find_idempotent(&task).await? {
                Some(existing) => Err(StoreError::DuplicateIdempotencyKey { existing }),
                None => Err(StoreError::Conflict(format!(
                    "task {} already exists",
                    task.task_uuid
                ))),
            },
            Err(e) => Err(e),
            Ok(()) => {
                notify_work(&self.signal);
                if first_pass(&task) {
                    return Ok(created_record(task, now));
                }
                load_task(&self.pool, task.task_uuid)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("task {}", task.task_uuid)))
            }
        }
    }

    async fn find_idempotent(&self, task: &NewTask) -> Result<Option<Uuid>, StoreError> {
        let Some(key) = &task.meta.idempotency_key else {
            return Ok(None);
        };
        let row = self
            .pool
            .one(
                "SELECT task_uuid FROM tasks WHERE namespace = $1 AND name = $2 AND idempotency_key = $3",
                args![&task.namespace, &task.name, key],
            )
            .await?;
        row.map(|r| r.uuid("task_uuid")).transpose()
    }

    async fn insert_task(&self, t: &NewTask, now: DateTime<Utc>) -> Result<(), StoreError> {
        // A static task's creation only queues writes: on PostgreSQL it is one statement
        // without a transaction around it.
        let mut tx = if first_pass(t) {
            self.pool.begin_lazy().await?
        } else {
            self.pool.begin().await?
        };
        insert_task_rows(&mut tx, t, now).await?;
        tx.commit().await
    }

    pub(super) async fn list_tasks_impl(
        &self,
        f: &TaskFilter,
    ) -> Result<(Vec<TaskRecord>, u64), StoreError> {
        let mut clauses = Vec::new();
        let mut a: Vec<Arg> = Vec::new();
        for (col, value) in [
            ("namespace", f.namespace.clone()),
            ("name", f.name.clone()),
            ("status", f.status.map(|s| s.as_str().to_owned())),
            (
                "parent_task_uuid",
                f.parent_task_uuid.map(|u| u.to_string()),
            ),
        ] {
            if let Some(v) = value {
                a.push(v.into());
                clauses.push(format!("{col} = ${}", a.len()));
            }
        }
        clauses.extend(rows::namespace_clause(
            "namespace",
            f.namespaces.as_deref(),
            &mut a,
        ));
        if let Some(tag) = &f.tag {
            a.push(tag.as_str().into());
            clauses.push(tag_clause(self.pool.is_pg(), a.len()));
        }
        for (op, at) in [(">=", f.created_after), ("<", f.created_before)] {
            if let Some(at) = at {
                a.push(at.into());
                clauses.push(format!("created_at {op} ${}", a.len()));
            }
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let total = self
            .pool
            .one(
                &format!("SELECT COUNT(*) AS n FROM tasks{filter}"),
                a.clone(),
            )
            .await?
            .map(|r| r.int("n"))
            .transpose()?
            .unwrap_or(0);
        let n = a.len();
        a.push(u64_arg(f.limit));
        a.push(u64_arg(f.offset));
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks{filter} ORDER BY created_at DESC, task_uuid \
             LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let tasks = self
            .pool
            .all(&sql, a)
            .await?
            .iter()
            .map(rows::task)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((
            with_counts(&self.pool, tasks).await?,
            u64::try_from(total).unwrap_or(0),
        ))
    }

    pub(super) async fn audit_trail_impl(
        &self,
        task_uuid: Uuid,
        step_uuid: Option<Uuid>,
    ) -> Result<Vec<TransitionRecord>, StoreError> {
        let rows = match step_uuid {
            Some(step) => self
                .pool
                .all(
                    "SELECT * FROM transitions WHERE task_uuid = $1 AND step_uuid = $2 ORDER BY id",
                    args![task_uuid, step],
                )
                .await?,
            None => {
                self.pool
                    .all(
                        "SELECT * FROM transitions WHERE task_uuid = $1 ORDER BY id",
                        args![task_uuid],
                    )
                    .await?
            }
        };
        rows.iter().map(rows::transition).collect()
    }

    pub(super) async fn cancel_task_impl(
        &self,
        task_uuid: Uuid,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TaskRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let state = lock_task(&mut tx, task_uuid).await?;
        if state.is_terminal() {
            return Err(StoreError::Conflict(format!(
                "task {task_uuid} is already {state} and cannot be cancelled"
            )));
        }
        let reason = reason.unwrap_or("cancelled");
        cancel_unfinished_steps(&mut tx, task_uuid, actor, reason, now).await?;
        set_task_state(
            &mut tx,
            task_uuid,
            state,
            TaskState::Cancelled,
            actor,
            Some(reason),
            now,
        )
        .await?;
        tx.exec(
            "UPDATE dlq_entries SET resolution_status = $1, resolver = $2, resolved_at = $3, \
             updated_at = $3 WHERE task_uuid = $4 AND resolution_status = $5",
            args![
                ResolutionStatus::Cancelled.as_str(),
                actor,
                now,
                task_uuid,
                ResolutionStatus::Pending.as_str()
            ],
        )
        .await?;
        tx.commit().await?;
        self.cancel_children(task_uuid, actor, now).await?;
        load_task(&self.pool, task_uuid)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("task {task_uuid}")))
    }
}

/// Inserts a task with its steps, edges and creation audit rows inside `tx`, and enqueues
/// its root steps.
pub(crate) async fn insert_task_rows(
    tx: &mut Tx,
    t: &NewTask,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    insert_child_rows(tx, t, None, now).await
}

/// [`insert_task_rows`] for the child task of the subtask step `parent` (task, step): the
/// parent is recorded before the child's first readiness pass.
pub(crate) async fn insert_child_rows(
    tx: &mut Tx,
    t: &NewTask,
    parent: Option<(Uuid, Uuid)>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // A static task is inserted already past its first readiness pass (roots enqueued, the
    // task in `steps_in_process`): nothing is read back, and creation is a handful of
    // statements. A dynamic task's first pass depends on its plan and runs as usual.
    let first_pass = first_pass(t);
    let status = if first_pass {
        TaskState::StepsInProcess
    } else {
        TaskState::Pending
    };
    let tags = serde_json::Value::from(t.meta.tags.clone());
    // The task, its steps, audit rows and edges are queued (`Tx::defer`): a static task's
    // creation is one statement on PostgreSQL.
    tx.defer(
        format!(
            "INSERT INTO tasks ({TASK_COLUMNS}, trace_parent) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $15, NULL, NULL, $16, $17, $18)"
        ),
        args![
            t.task_uuid,
            &t.namespace,
            &t.name,
            &t.version,
            status.as_str(),
            json_text(&t.context),
            &t.created_by,
            t.meta.initiator.clone(),
            t.meta.source_system.clone(),
            t.meta.reason.clone(),
            json_text(&tags),
            i64::from(t.meta.priority),
            t.meta.correlation_id.clone(),
            t.meta.idempotency_key.clone(),
            now,
            parent.map(|p| p.0),
            parent.map(|p| p.1),
            t.trace_parent.clone()
        ],
        None,
    );
    let created = transition_row(
        t.task_uuid,
        None,
        None,
        TaskState::Pending.as_str(),
        now,
        &t.created_by,
        "task created",
    );
    let start = if first_pass {
        Start::FirstPass {
            before: vec![created],
            after: vec![transition_row(
                t.task_uuid,
                None,
                Some(TaskState::Pending.as_str()),
                TaskState::StepsInProcess.as_str(),
                now,
                SYSTEM,
                "steps in process",
            )],
        }
    } else {
        defer_rows(tx, TRANSITION_INSERT, 7, vec![created], "");
        Start::Pending
    };
    let ids: HashMap<&str, Uuid> = t
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.step_uuid))
        .collect();
    let mut edges = Vec::new();
    for s in &t.steps {
        for parent in &s.depends_on {
            match ids.get(parent.as_str()) {
                Some(parent_uuid) => edges.push((*parent_uuid, s.step_uuid)),
                // A dynamic task starts without its conditional steps.
                None if t.plan.is_some() => {}
                None => {
                    return Err(StoreError::Conflict(format!(
                        "step `{}` depends on unknown step `{parent}`",
                        s.name
                    )));
                }
            }
        }
    }
    insert_steps(
        tx,
        t.task_uuid,
        &t.namespace,
        &t.steps,
        0,
        &edges,
        start,
        now,
    )
    .await?;
    if let Some(plan) = &t.plan {
        super::dynamic::save_plan(tx, t.task_uuid, plan).await?;
    }
    if !first_pass {
        advance(tx, t.task_uuid, SYSTEM, now).await?;
    }
    announce(tx).await
}

/// Whether `t` is inserted already past its first readiness pass: a static task (no plan) with
/// steps, none of which waits for something outside the workers.
fn first_pass(t: &NewTask) -> bool {
    t.plan.is_none() && !t.steps.is_empty() && t.steps.iter().all(|s| !s.step_type.is_waiting())
}

/// The record of a task [`first_pass`] just inserted, as it was committed (times at the
/// store's millisecond precision), without reading it back.
fn created_record(t: NewTask, now: DateTime<Utc>) -> TaskRecord {
    let now = crate::db::millis(now.timestamp_millis()).unwrap_or(now);
    let mut counts = tasker_core::store::StepCounts::default();
    for s in &t.steps {
        let state = if s.depends_on.is_empty() {
            tasker_core::StepState::Enqueued
        } else {
            tasker_core::StepState::Pending
        };
        counts.total += 1;
        *counts.by_state.entry(state).or_default() += 1;
    }
    TaskRecord {
        task_uuid: t.task_uuid,
        namespace: t.namespace,
        name: t.name,
        version: t.version,
        status: TaskState::StepsInProcess,
        context: t.context,
        created_by: t.created_by,
        meta: t.meta,
        created_at: now,
        updated_at: now,
        status_changed_at: now,
        completed_at: None,
        step_counts: counts,
        scheduled_for: None,
        parent_task_uuid: None,
        parent_step_uuid: None,
    }
}

/// Whether the task's `tags` (a JSON array of strings) holds the value of placeholder `$n`
/// as one of its elements (never a substring of one).
fn tag_clause(pg: bool, n: usize) -> String {
    if pg {
        format!(
            "EXISTS (SELECT 1 FROM jsonb_array_elements_text(tags::jsonb) AS tag(v) WHERE tag.v = ${n})"
        )
    } else {
        format!("EXISTS (SELECT 1 FROM json_each(tasks.tags) AS tag WHERE tag.value = ${n})")
    }
}
