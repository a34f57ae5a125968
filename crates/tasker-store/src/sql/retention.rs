//! Retention: deleting finished tasks older than a cutoff, with everything recorded about them
//! (steps, dependency edges, audit trail, attempt results, resolved DLQ entries), one small
//! batch per transaction so the engine's own writes interleave. A task with a pending DLQ
//! entry is kept, and a task that has not ended is never selected.

use chrono::{DateTime, Utc};
use tasker_core::store::{PurgeCount, ResolutionStatus};
use tasker_core::{StoreError, TaskState};

use super::SqlStore;
use crate::db::{Arg, Tx, args, placeholders};

/// `WHERE` condition selecting purgeable tasks; `$1` is the cutoff, then the terminal states.
fn purgeable_condition() -> (String, Vec<Arg>) {
    let ended: Vec<&str> = TaskState::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| s.as_str())
        .collect();
    let pending = ended.len() + 2;
    let sql = format!(
        "t.status IN ({}) AND t.status_changed_at < $1 AND NOT EXISTS \
         (SELECT 1 FROM dlq_entries d WHERE d.task_uuid = t.task_uuid AND d.resolution_status = ${pending})",
        placeholders(2, ended.len())
    );
    let mut a: Vec<Arg> = Vec::new();
    a.extend(ended.into_iter().map(Arg::from));
    a.push(ResolutionStatus::Pending.as_str().into());
    (sql, a)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl SqlStore {
    pub(super) async fn purgeable_tasks_impl(
        &self,
        finished_before: DateTime<Utc>,
    ) -> Result<PurgeCount, StoreError> {
        let (condition, rest) = purgeable_condition();
        let sql = format!(
            "WITH doomed AS (SELECT t.task_uuid FROM tasks t WHERE {condition}), \
             doomed_steps AS (SELECT step_uuid FROM steps WHERE task_uuid IN (SELECT task_uuid FROM doomed)) \
             SELECT (SELECT COUNT(*) FROM doomed) AS tasks, \
             (SELECT COUNT(*) FROM doomed_steps) AS steps, \
             (SELECT COUNT(*) FROM transitions WHERE task_uuid IN (SELECT task_uuid FROM doomed)) AS transitions, \
             (SELECT COUNT(*) FROM step_results WHERE step_uuid IN (SELECT step_uuid FROM doomed_steps)) AS results, \
             (SELECT COUNT(*) FROM dlq_entries WHERE task_uuid IN (SELECT task_uuid FROM doomed)) AS dlq_entries"
        );
        let mut a = args![finished_before];
        a.extend(rest);
        let row = self
            .pool
            .one(&sql, a)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a count returned no row".to_owned()))?;
        Ok(PurgeCount {
            tasks: count(row.int("tasks")?),
            steps: count(row.int("steps")?),
            transitions: count(row.int("transitions")?),
            results: count(row.int("results")?),
            dlq_entries: count(row.int("dlq_entries")?),
        })
    }

    pub(super) async fn purge_finished_tasks_impl(
        &self,
        finished_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<PurgeCount, StoreError> {
        let (condition, rest) = purgeable_condition();
        let mut tx = self.pool.begin().await?;
        let mut a = args![finished_before];
        a.extend(rest);
        let limit_at = a.len() + 1;
        a.push(i64::from(limit.max(1)).into());
        let sql = format!(
            "SELECT t.task_uuid FROM tasks t WHERE {condition} \
             ORDER BY t.status_changed_at LIMIT ${limit_at}{}",
            tx.skip_locked()
        );
        let mut ids: Vec<String> = Vec::new();
        for r in tx.all(&sql, a).await? {
            ids.push(r.text("task_uuid")?);
        }
        let ids = without_pending_entries(&mut tx, ids).await?;
        if ids.is_empty() {
            return Ok(PurgeCount::default());
        }
        let list = placeholders(1, ids.len());
        let ids_args = || ids.iter().map(Arg::from).collect::<Vec<Arg>>();
        let steps_of = format!("SELECT step_uuid FROM steps WHERE task_uuid IN ({list})");
        let mut purged = PurgeCount {
            results: tx
                .exec(
                    &format!("DELETE FROM step_results WHERE step_uuid IN ({steps_of})"),
                    ids_args(),
                )
                .await?,
            ..PurgeCount::default()
        };
        tx.exec(
            &format!("DELETE FROM step_leases WHERE step_uuid IN ({steps_of})"),
            ids_args(),
        )
        .await?;
        tx.exec(
            &format!("DELETE FROM task_plans WHERE task_uuid IN ({list})"),
            ids_args(),
        )
        .await?;
        tx.exec(
            &format!("DELETE FROM step_log_lines WHERE task_uuid IN ({list})"),
            ids_args(),
        )
        .await?;
        tx.exec(
            &format!("DELETE FROM step_edges WHERE task_uuid IN ({list})"),
            ids_args(),
        )
        .await?;
        purged.transitions = tx
            .exec(
                &format!("DELETE FROM transitions WHERE task_uuid IN ({list})"),
                ids_args(),
            )
            .await?;
        purged.dlq_entries = tx
            .exec(
                &format!("DELETE FROM dlq_entries WHERE task_uuid IN ({list})"),
                ids_args(),
            )
            .await?;
        purged.steps = tx
            .exec(
                &format!("DELETE FROM steps WHERE task_uuid IN ({list})"),
                ids_args(),
            )
            .await?;
        purged.tasks = tx
            .exec(
                &format!("DELETE FROM tasks WHERE task_uuid IN ({list})"),
                ids_args(),
            )
            .await?;
        tx.commit().await?;
        Ok(purged)
    }
}

/// Drops the tasks that gained a pending DLQ entry since they were selected, with the DLQ rows
/// locked (PostgreSQL) so none becomes pending before the batch commits.
async fn without_pending_entries(tx: &mut Tx, ids: Vec<String>) -> Result<Vec<String>, StoreError> {
    if ids.is_empty() {
        return Ok(ids);
    }
    let sql = format!(
        "SELECT task_uuid, resolution_status FROM dlq_entries WHERE task_uuid IN ({}){}",
        placeholders(1, ids.len()),
        tx.for_update()
    );
    let mut kept = ids.clone();
    for r in tx.all(&sql, ids.iter().map(Arg::from).collect()).await? {
        if r.text("resolution_status")? == ResolutionStatus::Pending.as_str() {
            let task = r.text("task_uuid")?;
            kept.retain(|id| *id != task);
        }
    }
    Ok(kept)
}
