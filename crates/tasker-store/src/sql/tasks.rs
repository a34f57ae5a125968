//! Templates and the task lifecycle outside of step execution: create (with idempotency),
//! list, audit trail, cancel.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tasker_core::store::{
    NewTask, ResolutionStatus, TaskFilter, TaskRecord, TemplateRecord, TransitionRecord,
};
use tasker_core::{StoreError, TaskState, TaskTemplate};
use uuid::Uuid;

use super::bulk::insert_steps;
use super::engine::{SYSTEM, advance, audit, cancel_unfinished_steps, lock_task, set_task_state};
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
        let mut tx = self.pool.begin().await?;
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
    let tags = serde_json::Value::from(t.meta.tags.clone());
    tx.exec(
        &format!(
            "INSERT INTO tasks ({TASK_COLUMNS}, trace_parent) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $15, NULL, NULL, NULL, NULL, $16)"
        ),
        args![
            t.task_uuid,
            &t.namespace,
            &t.name,
            &t.version,
            TaskState::Pending.as_str(),
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
            t.trace_parent.clone()
        ],
    )
    .await?;
    audit(
        tx,
        t.task_uuid,
        None,
        None,
        "pending",
        &t.created_by,
        Some("task created"),
        now,
    )
    .await?;
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
    insert_steps(tx, t.task_uuid, &t.namespace, &t.steps, 0, &edges, now).await?;
    if let Some(plan) = &t.plan {
        super::dynamic::save_plan(tx, t.task_uuid, plan).await?;
    }
    if let Some((task, step)) = parent {
        tx.exec(
            "UPDATE tasks SET parent_task_uuid = $1, parent_step_uuid = $2 WHERE task_uuid = $3",
            args![task, step, t.task_uuid],
        )
        .await?;
    }
    advance(tx, t.task_uuid, SYSTEM, now).await?;
    announce(tx).await
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
