//! Bulk writes inside a transaction: steps with their creation audit rows and edges, and
//! moves of many steps from one state to another, each as multi-row statements in chunks (a
//! 10,000-copy fan-out is a few dozen statements, not tens of thousands).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tasker_core::store::NewStep;
use tasker_core::{StepState, StoreError};
use uuid::Uuid;

use super::engine::SYSTEM;
use super::rows::u64_arg;
use crate::db::{Arg, Tx, args, in_list, json_text, placeholders};

/// Bind parameters per PostgreSQL statement (its limit is 65,535).
const PG_MAX_PARAMS: usize = 16_000;
/// Bind parameters per SQLite statement. Binding costs time quadratic in a statement's
/// parameters there (each is looked up by name, `sqlite3_bind_parameter_name`, a linear
/// search): at 16,000 per statement a 10,000-copy fan-out spent most of its time binding.
/// Statements are cheap in process, so SQLite takes many small ones.
const SQLITE_MAX_PARAMS: usize = 900;

/// Bind parameters per bulk statement on the transaction's backend.
fn max_params(tx: &Tx) -> usize {
    if tx.is_pg() {
        PG_MAX_PARAMS
    } else {
        SQLITE_MAX_PARAMS
    }
}

const STEP_INSERT: &str = "INSERT INTO steps (step_uuid, task_uuid, position, namespace, name, \
    handler, initialization, status, attempts, max_attempts, retryable, backoff_base_ms, \
    backoff_max_ms, jitter_percent, timeout_seconds, created_at, updated_at, step_type, origin, \
    template_step, batch_index, batch_input, unmet_parents, ready_at) VALUES ";
const STEP_COLS: usize = 24;

/// `($1, …, $cols), ($cols+1, …)` for a multi-row `VALUES` list.
pub(crate) fn value_rows(rows: usize, cols: usize) -> String {
    value_rows_at(1, rows, cols)
}

/// `value_rows` whose first placeholder is `$first`.
pub(crate) fn value_rows_at(first: usize, rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * (cols * 6 + 4));
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        crate::db::push_placeholders(&mut out, first + r * cols, cols);
        out.push(')');
    }
    out
}

/// How [`insert_steps`] leaves the steps it inserts.
pub(crate) enum Start {
    /// All `pending`, with `unmet_parents` counted from their parents' states; the caller's
    /// readiness pass decides what runs.
    Pending,
    /// [`Start::Pending`] for steps created by the step `finished` (a decision or batchable
    /// that just completed): when every edge leads from a new step or from `finished` to a new
    /// step, the counts are known without reading (each new parent is unmet), which spares a
    /// fan-out the aggregate over its edges; otherwise they are counted as for `Pending`.
    After { finished: Uuid },
    /// The steps of a new static task, already past its first readiness pass: the roots are
    /// inserted `enqueued` (with their `pending` and `enqueued` audit rows) and every other
    /// step `pending` with `unmet_parents` = its number of parents (none is finished yet).
    /// The task's own audit rows go into the same statement: `before` ahead of the steps'
    /// rows, `after` behind them, in the order the readiness pass would have written them.
    FirstPass {
        before: Vec<Vec<Arg>>,
        after: Vec<Vec<Arg>>,
    },
}

/// One `transitions` row, as `TRANSITION_INSERT` takes it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn transition_row(
    task_uuid: Uuid,
    step_uuid: Option<Uuid>,
    from: Option<&str>,
    to: &str,
    at: DateTime<Utc>,
    actor: &str,
    reason: &str,
) -> Vec<Arg> {
    args![task_uuid, step_uuid, from, to, at, actor, reason]
}

pub(crate) const TRANSITION_INSERT: &str = "INSERT INTO transitions (task_uuid, step_uuid, from_state, to_state, at, actor, reason) VALUES ";

/// Queues `INSERT … VALUES` for `rows` (each `cols` arguments) in chunks, each statement
/// ending with `tail` (an `ON CONFLICT` clause, or nothing), with the transaction's other
/// writes (`Tx::defer`): they are sent with its next statement or its commit.
pub(crate) fn defer_rows(tx: &mut Tx, head: &str, cols: usize, rows: Vec<Vec<Arg>>, tail: &str) {
    let per = (max_params(tx) / cols).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Arg>> = rows.by_ref().take(per).collect();
        let sql = format!("{head}{}{tail}", value_rows(chunk.len(), cols));
        tx.defer(sql, chunk.into_iter().flatten().collect(), None);
    }
}

/// Inserts `steps` (positions from `first_position`) with their audit rows, and `edges`
/// (`(parent, child)`), left as `start` says.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_steps(
    tx: &mut Tx,
    task_uuid: Uuid,
    namespace: &str,
    steps: &[NewStep],
    first_position: i64,
    edges: &[(Uuid, Uuid)],
    start: Start,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let first_pass = matches!(start, Start::FirstPass { .. });
    let counted = match &start {
        Start::FirstPass { .. } => true,
        Start::Pending => false,
        Start::After { finished } => {
            let new: std::collections::HashSet<Uuid> = steps.iter().map(|s| s.step_uuid).collect();
            edges
                .iter()
                .all(|(p, c)| new.contains(c) && (new.contains(p) || p == finished))
        }
    };
    let mut parents: HashMap<Uuid, i64> = HashMap::new();
    if counted {
        let finished = match &start {
            Start::After { finished } => Some(*finished),
            _ => None,
        };
        for (parent, child) in edges {
            if Some(*parent) != finished {
                *parents.entry(*child).or_default() += 1;
            }
        }
    }
    let mut step_rows = Vec::with_capacity(steps.len());
    let (mut audit_rows, after) = match start {
        Start::Pending | Start::After { .. } => (Vec::with_capacity(steps.len()), Vec::new()),
        Start::FirstPass { before, after } => (before, after),
    };
    let mut enqueued = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let position = first_position + i64::try_from(i).unwrap_or(i64::MAX);
        let unmet = parents.get(&s.step_uuid).copied().unwrap_or(0);
        let ready = first_pass && unmet == 0;
        let status = if ready {
            enqueued.push(s.step_uuid);
            StepState::Enqueued
        } else {
            StepState::Pending
        };
        step_rows.push(args![
            s.step_uuid,
            task_uuid,
            position,
            namespace,
            &s.name,
            &s.handler,
            json_text(&s.initialization),
            status.as_str(),
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
            s.batch.as_ref().map(json_text),
            unmet,
            ready.then_some(now)
        ]);
        audit_rows.push(transition_row(
            task_uuid,
            Some(s.step_uuid),
            None,
            StepState::Pending.as_str(),
            now,
            SYSTEM,
            "step created",
        ));
    }
    for id in enqueued {
        audit_rows.push(transition_row(
            task_uuid,
            Some(id),
            Some(StepState::Pending.as_str()),
            StepState::Enqueued.as_str(),
            now,
            SYSTEM,
            "dependencies satisfied",
        ));
    }
    audit_rows.extend(after);
    // Steps, their audit rows and edges go as one statement where they fit (PostgreSQL).
    defer_rows(tx, STEP_INSERT, STEP_COLS, step_rows, "");
    defer_rows(tx, TRANSITION_INSERT, 7, audit_rows, "");
    let edge_rows = edges
        .iter()
        .map(|(parent, child)| args![task_uuid, *parent, *child])
        .collect();
    defer_rows(
        tx,
        "INSERT INTO step_edges (task_uuid, parent_uuid, child_uuid) VALUES ",
        3,
        edge_rows,
        "",
    );
    if counted {
        return Ok(());
    }
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
    for chunk in steps.chunks(max_params(tx)) {
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
    let items: Vec<(Uuid, Uuid, &str)> = ids.iter().map(|id| (task_uuid, *id, actor)).collect();
    move_steps_of_tasks(tx, &items, from, to, reason, now)
}

/// [`move_steps`] for steps of several tasks at once: `(task, step, actor)` each, one update
/// per chunk and one audit row per step, all queued (`Tx::defer`).
pub(crate) fn move_steps_of_tasks(
    tx: &mut Tx,
    items: &[(Uuid, Uuid, &str)],
    from: StepState,
    to: StepState,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    from.transition(to)?;
    let completed = to.is_terminal().then_some(now);
    let per = max_params(tx) - 8;
    let mut moved = 0;
    // Each update must move its whole chunk, or the transaction fails with a conflict when
    // the queued writes are sent.
    for chunk in items.chunks(per) {
        let a: Vec<Arg> = args![
            to.as_str(),
            now,
            completed,
            from.as_str(),
            Arg::ids(chunk.iter().map(|(_, id, _)| *id))
        ];
        let sql = format!(
            "UPDATE steps SET status = $1, updated_at = $2, completed_at = $3, \
             ready_at = CASE WHEN $1 = 'enqueued' THEN $2 ELSE ready_at END, \
             retry_at = CASE WHEN $1 = 'enqueued' THEN NULL ELSE retry_at END \
             WHERE status = $4 AND step_uuid {}",
            in_list(tx.is_pg(), 5)
        );
        let conflict = match chunk.first() {
            Some((task, ..)) if chunk.iter().all(|(t, ..)| t == task) => {
                format!("steps of task {task} changed concurrently")
            }
            _ => "steps changed concurrently".to_owned(),
        };
        tx.defer(sql, a, Some((chunk.len() as u64, conflict)));
        moved += chunk.len() as u64;
    }
    let audit_rows = items
        .iter()
        .map(|(task, id, actor)| {
            transition_row(
                *task,
                Some(*id),
                Some(from.as_str()),
                to.as_str(),
                now,
                actor,
                reason,
            )
        })
        .collect();
    defer_rows(tx, TRANSITION_INSERT, 7, audit_rows, "");
    if to == StepState::Enqueued && moved > 0 {
        // Sent with the move itself rather than alone before the commit (a round trip less
        // on PostgreSQL); a notification is delivered on commit either way.
        super::announce_now(tx);
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::{value_rows, value_rows_at};
    use crate::db::placeholders;

    #[test]
    fn placeholder_lists_number_from_their_first() {
        assert_eq!(placeholders(1, 3), "$1, $2, $3");
        assert_eq!(placeholders(9, 2), "$9, $10");
        assert_eq!(placeholders(4, 0), "");
        assert_eq!(value_rows(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(value_rows_at(7, 2, 1), "($7), ($8)");
        assert_eq!(value_rows(0, 3), "");
    }
}
