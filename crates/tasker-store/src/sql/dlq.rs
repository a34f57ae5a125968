//! Dead-letter queue queries and the staleness scan that opens `staleness_timeout` entries.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tasker_core::store::{DlqEntry, DlqFilter, DlqReason, DlqStat, DlqUpdate, ResolutionStatus};
use tasker_core::{StoreError, TaskState};
use uuid::Uuid;

use super::SqlStore;
use super::engine::{cancel_unfinished_steps, lock_task, open_dlq, set_task_state};
use super::rows::{self, DLQ_COLUMNS, u64_arg};
use crate::db::{Arg, Tx, args};

/// Entries whose task is in one of `namespaces` (`None`: every namespace).
fn in_namespaces(namespaces: Option<&[String]>, args: &mut Vec<Arg>) -> Option<String> {
    rows::namespace_clause("namespace", namespaces, args)
        .map(|clause| format!("task_uuid IN (SELECT task_uuid FROM tasks WHERE {clause})"))
}

impl SqlStore {
    pub(super) async fn list_dlq_impl(&self, f: &DlqFilter) -> Result<Vec<DlqEntry>, StoreError> {
        let mut clauses = Vec::new();
        let mut a: Vec<Arg> = Vec::new();
        for (col, value) in [
            ("dlq_entry_uuid", f.dlq_entry_uuid.map(|u| u.to_string())),
            ("task_uuid", f.task_uuid.map(|u| u.to_string())),
            (
                "resolution_status",
                f.resolution_status.map(|s| s.as_str().to_owned()),
            ),
            ("dlq_reason", f.dlq_reason.map(|r| r.as_str().to_owned())),
        ] {
            if let Some(v) = value {
                a.push(v.into());
                clauses.push(format!("{col} = ${}", a.len()));
            }
        }
        clauses.extend(in_namespaces(f.namespaces.as_deref(), &mut a));
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let order = if f.by_priority {
            "priority DESC, created_at ASC"
        } else {
            "created_at DESC"
        };
        let n = a.len();
        a.push(u64_arg(f.limit));
        a.push(u64_arg(f.offset));
        let sql = format!(
            "SELECT {DLQ_COLUMNS} FROM dlq_entries{filter} ORDER BY {order}, dlq_entry_uuid \
             LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        self.pool
            .all(&sql, a)
            .await?
            .iter()
            .map(rows::dlq)
            .collect()
    }

    pub(super) async fn update_dlq_entry_impl(
        &self,
        id: Uuid,
        update: &DlqUpdate,
        now: DateTime<Utc>,
    ) -> Result<DlqEntry, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "SELECT {DLQ_COLUMNS} FROM dlq_entries WHERE dlq_entry_uuid = $1{}",
            tx.for_update()
        );
        let row = tx
            .one(&sql, args![id])
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("DLQ entry {id}")))?;
        let mut entry = rows::dlq(&row)?;
        if let Some(status) = update.resolution_status {
            if status != entry.resolution_status {
                entry.resolved_at = (status != ResolutionStatus::Pending).then_some(now);
                if status == ResolutionStatus::PermanentlyFailed {
                    fail_task(&mut tx, &entry, &update.resolver, now).await?;
                }
            }
            entry.resolution_status = status;
        }
        if let Some(notes) = &update.notes {
            entry.notes = Some(notes.clone());
        }
        entry.resolver = Some(update.resolver.clone());
        entry.updated_at = now;
        tx.exec(
            "UPDATE dlq_entries SET resolution_status = $1, notes = $2, resolver = $3, \
             resolved_at = $4, updated_at = $5 WHERE dlq_entry_uuid = $6",
            args![
                entry.resolution_status.as_str(),
                entry.notes.clone(),
                entry.resolver.clone(),
                entry.resolved_at,
                now,
                id
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(entry)
    }

    pub(super) async fn dlq_stats_impl(
        &self,
        namespaces: Option<&[String]>,
    ) -> Result<Vec<DlqStat>, StoreError> {
        let mut a = Vec::new();
        let filter = in_namespaces(namespaces, &mut a)
            .map(|clause| format!(" WHERE {clause}"))
            .unwrap_or_default();
        let rows = self
            .pool
            .all(
                &format!(
                    "SELECT dlq_reason, resolution_status, COUNT(*) AS n FROM dlq_entries{filter} \
                     GROUP BY dlq_reason, resolution_status"
                ),
                a,
            )
            .await?;
        let mut stats: BTreeMap<DlqReason, DlqStat> = BTreeMap::new();
        for r in &rows {
            let reason_text = r.text("dlq_reason")?;
            let status_text = r.text("resolution_status")?;
            let (Some(reason), Some(status)) = (
                DlqReason::parse(&reason_text),
                ResolutionStatus::parse(&status_text),
            ) else {
                return Err(StoreError::Corrupt(format!(
                    "DLQ row {reason_text}/{status_text}"
                )));
            };
            let n = u64::try_from(r.int("n")?).unwrap_or(0);
            let stat = stats.entry(reason).or_insert_with(|| DlqStat {
                dlq_reason: reason,
                total: 0,
                by_status: BTreeMap::new(),
            });
            stat.total += n;
            *stat.by_status.entry(status).or_default() += n;
        }
        Ok(stats.into_values().collect())
    }

    pub(super) async fn open_stale_entries_impl(
        &self,
        thresholds: &[(TaskState, chrono::Duration)],
        now: DateTime<Utc>,
    ) -> Result<Vec<DlqEntry>, StoreError> {
        let mut opened = Vec::new();
        for (state, threshold) in thresholds {
            let rows = self
                .pool
                .all(
                    "SELECT t.task_uuid FROM tasks t WHERE t.status = $1 AND t.status_changed_at < $2 \
                     AND NOT EXISTS (SELECT 1 FROM dlq_entries d WHERE d.task_uuid = t.task_uuid \
                     AND d.resolution_status = $3)",
                    args![state.as_str(), now - *threshold, ResolutionStatus::Pending.as_str()],
                )
                .await?;
            for r in &rows {
                let task_uuid = r.uuid("task_uuid")?;
                let mut tx = self.pool.begin().await?;
                let current = super::engine::lock_task(&mut tx, task_uuid).await?;
                if current == *state
                    && let Some(entry) =
                        open_dlq(&mut tx, task_uuid, None, DlqReason::StalenessTimeout, now).await?
                {
                    opened.push(entry);
                }
                tx.commit().await?;
            }
        }
        Ok(opened)
    }
}

/// An entry marked `permanently_failed` ends its task in `error`: its unfinished steps are
/// cancelled (late results discarded) so nothing runs for a task an operator gave up on. A task
/// that already ended stays as it is.
async fn fail_task(
    tx: &mut Tx,
    entry: &DlqEntry,
    resolver: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let task = entry.task_uuid;
    let state = lock_task(tx, task).await?;
    if state.is_terminal() {
        return Ok(());
    }
    let reason = format!(
        "DLQ entry {} marked permanently_failed",
        entry.dlq_entry_uuid
    );
    cancel_unfinished_steps(tx, task, resolver, &reason, now).await?;
    set_task_state(
        tx,
        task,
        state,
        TaskState::Error,
        resolver,
        Some(&reason),
        now,
    )
    .await
}
