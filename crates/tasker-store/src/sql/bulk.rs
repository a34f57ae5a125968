//! Bulk writes inside a transaction: steps with their creation audit rows and edges, and
//! moves of many steps from one state to another, each as multi-row statements in chunks (a
//! 10,000-copy fan-out is a few dozen statements, not tens of thousands).

use chrono::{DateTime, Utc};
use tasker_core::store::NewStep;
use tasker_core::{StepState, StoreError};
use uuid::Uuid;

use super::engine::SYSTEM;
use super::rows::u64_arg;
use crate::db::{Arg, Tx, args, json_text, placeholders};

/// Bind parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 16_000;

const STEP_INSERT: &str = "INSERT INTO steps (step_uuid, task_uuid, position, namespace, name, \
    handler, initialization, status, attempts, max_attempts, retryable, backoff_base_ms, \
    backoff_max_ms, jitter_percent, timeout_seconds, created_at, updated_at, step_type, origin, \
    template_step, batch_index, batch_input) VALUES ";
const STEP_COLS: usize = 22;

/// `($1, …, $cols), ($cols+1, …)` for a multi-row `VALUES` list.
pub(crate) fn value_rows(rows: usize, cols: usize) -> String {
    value_rows_at(1, rows, cols)
}

/// `value_rows` whose first placeholder is `$first`.
pub(crate) fn value_rows_at(first: usize, rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(first + r * cols, cols)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs `INSERT … VALUES` for `rows` (each `cols` arguments) in chunks, each statement ending
/// with `tail` (an `ON CONFLICT` clause, or nothing).
pub(crate) async fn insert_rows(
    tx: &mut Tx,
    head: &str,
    cols: usize,
    rows: Vec<Vec<Arg>>,
    tail: &str,
) -> Result<(), StoreError> {
    let per = (MAX_PARAMS / cols).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Arg>> = rows.by_ref().take(per).collect();
        let sql = format!("{head}{}{tail}", value_rows(chunk.len(), cols));
        tx.exec(&sql, chunk.into_iter().flatten().collect()).await?;
    }
    Ok(())
}

/// Inserts `steps` (positions from `first_position`), one `pending` audit row each, and
/// `edges` (`(parent, child)`).
pub(crate) async fn insert_steps(
    tx: &mut Tx,
    task_uuid: Uuid,
    namespace: &str,
    steps: &[NewStep],
    first_position: i64,
    edges: &[(Uuid, Uuid)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut step_rows = Vec::with_capacity(steps.len());
    let mut audit_rows = Vec::with_capacity(steps.len());
    for (i, s) in steps.iter().enumerate() {
        let position = first_position + i64::try_from(i).unwrap_or(i64::MAX);
        step_rows.push(args![
            s.step_uuid,
            task_uuid,
            position,
            namespace,
            &s.name,
            &s.handler,
            json_text(&s.initialization),
            StepState::Pending.as_str(),
            0i64,
            i64::from(s.max_attempts),
            i64::from(s.retryable),
            u64_arg(s.backoff.base_ms),
            u64_arg(s.backoff.max_ms),
            i64::from(s.backoff.jitter_percent),
            u64_arg(s.timeout_seconds),
            now,
            now,
            s.step_type.as_str(),
            s.origin.as_str(),
            &s.template_step,
            s.batch_index.map(i64::from),
            s.batch.as_ref().map(json_text)
        ]);
        audit_rows.push(args![
            task_uuid,
            s.step_uuid,
            StepState::Pending.as_str(),
            now,
            SYSTEM,
            "step created"
        ]);
    }
    insert_rows(tx, STEP_INSERT, STEP_COLS, step_rows, "").await?;
    insert_rows(
        tx,
        "INSERT INTO transitions (task_uuid, step_uuid, to_state, at, actor, reason) VALUES ",
        6,
        audit_rows,
        "",
    )
    .await?;
    let edge_rows = edges
        .iter()
        .map(|(parent, child)| args![task_uuid, *parent, *child])
        .collect();
    insert_rows(
        tx,
        "INSERT INTO step_edges (task_uuid, parent_uuid, child_uuid) VALUES ",
        3,
        edge_rows,
        "",
    )
    .await?;
    count_unmet_parents(tx, edges).await
}

/// Sets `unmet_parents` of every child of `edges` from its parents' states.
async fn count_unmet_parents(tx: &mut Tx, edges: &[(Uuid, Uuid)]) -> Result<(), StoreError> {
    let mut children: Vec<Uuid> = edges.iter().map(|(_, c)| *c).collect();
    children.sort_unstable();
    children.dedup();
    recount_unmet_parents(tx, &children).await
}

/// Sets `unmet_parents` of each step of `steps` that has parents from its parents' states
/// (a step without parents keeps its 0), in chunks. One aggregate per chunk joined to the
/// steps, not a subquery per step: PostgreSQL planned the correlated form (right after a
/// fan-out's inserts, on stale statistics) as a scan of every step per child, which made a
/// 100,000-copy fan-out quadratic.
pub(crate) async fn recount_unmet_parents(tx: &mut Tx, steps: &[Uuid]) -> Result<(), StoreError> {
    for chunk in steps.chunks(MAX_PARAMS) {
        let sql = format!(
            "UPDATE steps SET unmet_parents = c.n FROM (SELECT e.child_uuid AS child, \
             SUM(CASE WHEN p.status IN ('complete', 'resolved_manually') THEN 0 ELSE 1 END) AS n \
             FROM step_edges e JOIN steps p ON p.step_uuid = e.parent_uuid \
             WHERE e.child_uuid IN ({}) GROUP BY e.child_uuid) AS c \
             WHERE steps.step_uuid = c.child",
            placeholders(1, chunk.len())
        );
        tx.exec(&sql, chunk.iter().map(|c| Arg::from(*c)).collect())
            .await?;
    }
    Ok(())
}

/// Moves every step of `ids` (all currently `from`) to `to` with one audit row each; entering
/// `enqueued` sets the queue time and clears the retry time, a terminal state sets the
/// completion time. Returns how many moved.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn move_steps(
    tx: &mut Tx,
    task_uuid: Uuid,
    ids: &[Uuid],
    from: StepState,
    to: StepState,
    actor: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    from.transition(to)?;
    let completed = to.is_terminal().then_some(now);
    let per = MAX_PARAMS - 8;
    let mut moved = 0;
    for chunk in ids.chunks(per) {
        let mut a: Vec<Arg> = args![to.as_str(), now, completed, from.as_str()];
        a.extend(chunk.iter().map(|id| Arg::from(*id)));
        let sql = format!(
            "UPDATE steps SET status = $1, updated_at = $2, completed_at = $3, \
             ready_at = CASE WHEN $1 = 'enqueued' THEN $2 ELSE ready_at END, \
             retry_at = CASE WHEN $1 = 'enqueued' THEN NULL ELSE retry_at END \
             WHERE status = $4 AND step_uuid IN ({})",
            placeholders(5, chunk.len())
        );
        let n = tx.exec(&sql, a).await?;
        if n != chunk.len() as u64 {
            return Err(StoreError::Conflict(format!(
                "steps of task {task_uuid} changed concurrently"
            )));
        }
        moved += n;
    }
    let audit_rows = ids
        .iter()
        .map(|id| {
            args![
                task_uuid,
                *id,
                from.as_str(),
                to.as_str(),
                now,
                actor,
                reason
            ]
        })
        .collect();
    insert_rows(
        tx,
        "INSERT INTO transitions (task_uuid, step_uuid, from_state, to_state, at, actor, reason) \
         VALUES ",
        7,
        audit_rows,
        "",
    )
    .await?;
    Ok(moved)
}
