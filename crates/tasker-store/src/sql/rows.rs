//! Decoding rows into the records of `tasker_core::store`, and the read queries shared by
//! several operations (tasks with step counts, steps with their parents).

use std::collections::HashMap;

use tasker_core::store::{
    DlqEntry, StepCounts, StepRecord, TaskMeta, TaskRecord, TransitionRecord,
};
use tasker_core::{BackoffSettings, StoreError};
use uuid::Uuid;

use crate::db::{Pool, Row, args, placeholders};

pub(crate) const TASK_COLUMNS: &str = "task_uuid, namespace, name, version, status, context, \
    created_by, initiator, source_system, reason, tags, priority, correlation_id, \
    idempotency_key, created_at, updated_at, status_changed_at, completed_at, scheduled_for, \
    parent_task_uuid, parent_step_uuid";

pub(crate) const STEP_COLUMNS: &str = "step_uuid, task_uuid, namespace, name, handler, \
    initialization, status, attempts, max_attempts, retryable, backoff_base_ms, backoff_max_ms, \
    jitter_percent, timeout_seconds, results, last_error, retry_at, created_at, updated_at, \
    completed_at, step_type, origin, template_step, batch_index, batch_input";

pub(crate) const DLQ_COLUMNS: &str = "dlq_entry_uuid, task_uuid, step_uuid, dlq_reason, \
    resolution_status, notes, resolver, task_snapshot, priority, created_at, updated_at, \
    resolved_at";

/// `STEP_COLUMNS` qualified with a table alias, for joins.
pub(crate) fn qualified_step_columns(alias: &str) -> String {
    STEP_COLUMNS
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn small<T: TryFrom<i64>>(r: &Row, col: &str) -> Result<T, StoreError> {
    let v = r.int(col)?;
    T::try_from(v).map_err(|_| StoreError::Corrupt(format!("column `{col}`: {v} out of range")))
}

pub(crate) fn task(r: &Row) -> Result<TaskRecord, StoreError> {
    let tags: Vec<String> = serde_json::from_value(r.json("tags")?)
        .map_err(|e| StoreError::Corrupt(format!("column `tags`: {e}")))?;
    Ok(TaskRecord {
        task_uuid: r.uuid("task_uuid")?,
        namespace: r.text("namespace")?,
        name: r.text("name")?,
        version: r.text("version")?,
        status: r.parsed("status")?,
        context: r.json("context")?,
        created_by: r.text("created_by")?,
        meta: TaskMeta {
            initiator: r.opt_text("initiator")?,
            source_system: r.opt_text("source_system")?,
            reason: r.opt_text("reason")?,
            tags,
            priority: small(r, "priority")?,
            correlation_id: r.opt_text("correlation_id")?,
            idempotency_key: r.opt_text("idempotency_key")?,
        },
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        status_changed_at: r.time("status_changed_at")?,
        completed_at: r.opt_time("completed_at")?,
        step_counts: StepCounts::default(),
        scheduled_for: r.opt_time("scheduled_for")?,
        parent_task_uuid: r.opt_uuid("parent_task_uuid")?,
        parent_step_uuid: r.opt_uuid("parent_step_uuid")?,
    })
}

pub(crate) fn step(r: &Row) -> Result<StepRecord, StoreError> {
    Ok(StepRecord {
        step_uuid: r.uuid("step_uuid")?,
        task_uuid: r.uuid("task_uuid")?,
        namespace: r.text("namespace")?,
        name: r.text("name")?,
        handler: r.text("handler")?,
        initialization: r.json("initialization")?,
        depends_on: Vec::new(),
        step_type: {
            let t = r.text("step_type")?;
            tasker_core::StepType::parse(&t)
                .ok_or_else(|| StoreError::Corrupt(format!("step_type `{t}`")))?
        },
        origin: {
            let o = r.text("origin")?;
            tasker_core::store::StepOrigin::parse(&o)
                .ok_or_else(|| StoreError::Corrupt(format!("origin `{o}`")))?
        },
        template_step: match r.opt_text("template_step")? {
            Some(t) => t,
            None => r.text("name")?,
        },
        batch_index: r
            .opt_int("batch_index")?
            .and_then(|i| u32::try_from(i).ok()),
        batch: r.opt_json("batch_input")?,
        status: r.parsed("status")?,
        attempts: small(r, "attempts")?,
        max_attempts: small(r, "max_attempts")?,
        retryable: r.int("retryable")? != 0,
        backoff: BackoffSettings {
            base_ms: small(r, "backoff_base_ms")?,
            max_ms: small(r, "backoff_max_ms")?,
            jitter_percent: small(r, "jitter_percent")?,
        },
        timeout_seconds: small(r, "timeout_seconds")?,
        results: r.opt_json("results")?,
        last_error: r.opt_json("last_error")?,
        retry_at: r.opt_time("retry_at")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        completed_at: r.opt_time("completed_at")?,
    })
}

pub(crate) fn dlq(r: &Row) -> Result<DlqEntry, StoreError> {
    let reason = r.text("dlq_reason")?;
    let status = r.text("resolution_status")?;
    Ok(DlqEntry {
        dlq_entry_uuid: r.uuid("dlq_entry_uuid")?,
        task_uuid: r.uuid("task_uuid")?,
        step_uuid: r.opt_uuid("step_uuid")?,
        dlq_reason: tasker_core::store::DlqReason::parse(&reason)
            .ok_or_else(|| StoreError::Corrupt(format!("dlq_reason `{reason}`")))?,
        resolution_status: tasker_core::store::ResolutionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("resolution_status `{status}`")))?,
        notes: r.opt_text("notes")?,
        resolver: r.opt_text("resolver")?,
        task_snapshot: r.json("task_snapshot")?,
        priority: small(r, "priority")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        resolved_at: r.opt_time("resolved_at")?,
    })
}

pub(crate) fn transition(r: &Row) -> Result<TransitionRecord, StoreError> {
    Ok(TransitionRecord {
        task_uuid: r.uuid("task_uuid")?,
        step_uuid: r.opt_uuid("step_uuid")?,
        from_state: r.opt_text("from_state")?,
        to_state: r.text("to_state")?,
        at: r.time("at")?,
        actor: r.text("actor")?,
        reason: r.opt_text("reason")?,
    })
}

/// Fills in step counts of the given tasks with one grouped query.
pub(crate) async fn with_counts(
    pool: &Pool,
    mut tasks: Vec<TaskRecord>,
) -> Result<Vec<TaskRecord>, StoreError> {
    if tasks.is_empty() {
        return Ok(tasks);
    }
    let sql = format!(
        "SELECT task_uuid, status, COUNT(*) AS n FROM steps WHERE task_uuid IN ({}) \
         GROUP BY task_uuid, status",
        placeholders(1, tasks.len())
    );
    let ids = tasks
        .iter()
        .map(|t| crate::db::Arg::from(t.task_uuid))
        .collect();
    let rows = pool.all(&sql, ids).await?;
    let mut index: HashMap<Uuid, usize> = HashMap::new();
    for (i, t) in tasks.iter().enumerate() {
        index.insert(t.task_uuid, i);
    }
    for r in &rows {
        let Some(&i) = index.get(&r.uuid("task_uuid")?) else {
            continue;
        };
        let n = small::<u64>(r, "n")?;
        let counts = &mut tasks[i].step_counts;
        counts.total += n;
        *counts.by_state.entry(r.parsed("status")?).or_default() += n;
    }
    Ok(tasks)
}

pub(crate) async fn load_task(
    pool: &Pool,
    task_uuid: Uuid,
) -> Result<Option<TaskRecord>, StoreError> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE task_uuid = $1");
    let Some(row) = pool.one(&sql, args![task_uuid]).await? else {
        return Ok(None);
    };
    Ok(with_counts(pool, vec![task(&row)?]).await?.pop())
}

/// Steps of a task (or one step when `only` is set) with their parents' names.
pub(crate) async fn load_steps(
    pool: &Pool,
    task_uuid: Uuid,
    only: Option<Uuid>,
) -> Result<Vec<StepRecord>, StoreError> {
    let mut sql = format!("SELECT {STEP_COLUMNS} FROM steps WHERE task_uuid = $1");
    let mut a = args![task_uuid];
    if let Some(step) = only {
        sql.push_str(" AND step_uuid = $2");
        a.push(step.into());
    }
    sql.push_str(" ORDER BY position");
    let mut steps = pool
        .all(&sql, a)
        .await?
        .iter()
        .map(step)
        .collect::<Result<Vec<_>, _>>()?;
    let parents = match only {
        Some(step) => {
            pool.all(
                "SELECT e.child_uuid, p.name FROM step_edges e JOIN steps p ON p.step_uuid = e.parent_uuid \
                 WHERE e.child_uuid = $1 ORDER BY p.position",
                args![step],
            )
            .await?
        }
        None => {
            pool.all(
                "SELECT e.child_uuid, p.name FROM step_edges e JOIN steps p ON p.step_uuid = e.parent_uuid \
                 WHERE e.task_uuid = $1 ORDER BY p.position",
                args![task_uuid],
            )
            .await?
        }
    };
    let index: HashMap<Uuid, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.step_uuid, i))
        .collect();
    for p in &parents {
        let child = p.uuid("child_uuid")?;
        if let Some(&i) = index.get(&child) {
            steps[i].depends_on.push(p.text("name")?);
        }
    }
    Ok(steps)
}

/// `column IN ($n, ...)` over `namespaces` with its arguments appended to `args`; `None` when
/// every namespace is visible, and a clause matching nothing for an empty list.
pub(crate) fn namespace_clause(
    column: &str,
    namespaces: Option<&[String]>,
    args: &mut Vec<crate::db::Arg>,
) -> Option<String> {
    let namespaces = namespaces?;
    if namespaces.is_empty() {
        return Some("1 = 0".to_owned());
    }
    let mut placeholders = Vec::with_capacity(namespaces.len());
    for namespace in namespaces {
        args.push(namespace.as_str().into());
        placeholders.push(format!("${}", args.len()));
    }
    Some(format!("{column} IN ({})", placeholders.join(", ")))
}

pub(crate) fn u64_arg(v: u64) -> crate::db::Arg {
    crate::db::Arg::from(i64::try_from(v).unwrap_or(i64::MAX))
}
