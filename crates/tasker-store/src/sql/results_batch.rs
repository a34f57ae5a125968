//! Recording many results in one transaction. The successes of steps that shape nothing (no
//! decision, no batchable) are written set-based: one statement each for the leases, the step
//! updates, the released children, the audit rows and the result rows, then the readiness pass
//! per task. Every other report (failures, decisions, batchables) takes the one-by-one path,
//! whose rules they need.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use tasker_core::store::{ClaimRequest, Lease, RecordOutcome, StepOutcome, StepReport};
use tasker_core::{StepState, StepType, StoreError, TaskState};
use uuid::Uuid;

use super::bulk::{TRANSITION_INSERT, defer_rows, value_rows_at};
use super::readiness::{Completed, advance_completed};
use super::{SqlStore, announce, notify_work};
use crate::db::{Arg, Tx, args, in_list, json_text};

/// The ids as the one list argument of a statement.
fn uuid_args(ids: impl IntoIterator<Item = Uuid>) -> Vec<Arg> {
    vec![Arg::ids(ids)]
}

/// A success taking the set-based path: its index in the batch and its task.
struct Success<'a> {
    index: usize,
    task: Uuid,
    lease: &'a Lease,
    report: &'a StepReport,
}

impl SqlStore {
    /// Records `reports`; with `claim`, also claims steps for the reporting worker in the last
    /// transaction that records a result (`claims::claim_in`), whose leases it returns.
    pub(super) async fn record_results_impl(
        &self,
        reports: &[(Lease, StepReport)],
        now: DateTime<Utc>,
        claim: Option<&ClaimRequest>,
    ) -> Result<(Vec<RecordOutcome>, Vec<(Uuid, Lease)>), StoreError> {
        let mut outcomes = vec![RecordOutcome::Discarded; reports.len()];
        let mut fast = Vec::new();
        let mut slow = Vec::new();
        if reports.len() > 1 {
            // A step's task and type never change: read them before the transaction.
            let sql = format!(
                "SELECT step_uuid, task_uuid, step_type FROM steps WHERE step_uuid {}",
                in_list(self.pool.is_pg(), 1)
            );
            let mut kinds = HashMap::with_capacity(reports.len());
            for r in self
                .pool
                .all(&sql, uuid_args(reports.iter().map(|(l, _)| l.step_uuid)))
                .await?
            {
                let text = r.text("step_type")?;
                let step_type = StepType::parse(&text)
                    .ok_or_else(|| StoreError::Corrupt(format!("step type `{text}`")))?;
                kinds.insert(r.uuid("step_uuid")?, (r.uuid("task_uuid")?, step_type));
            }
            for (index, (lease, report)) in reports.iter().enumerate() {
                match kinds.get(&lease.step_uuid) {
                    // An unknown step (purged) has no lease to honour.
                    None => {}
                    Some((task, step_type))
                        if matches!(report.outcome, StepOutcome::Success(_))
                            && !step_type.creates_steps() =>
                    {
                        fast.push(Success {
                            index,
                            task: *task,
                            lease,
                            report,
                        });
                    }
                    Some(_) => slow.push(index),
                }
            }
        } else {
            slow.extend(0..reports.len());
        }
        let mut claimed = Vec::new();
        if !fast.is_empty() {
            let mut tx = self.pool.begin().await?;
            let (completed, enqueued) = complete_many(&mut tx, &fast, now).await?;
            // The claim goes with the successes unless a one-by-one report follows.
            let claim = claim.filter(|_| slow.is_empty() && !completed.is_empty());
            let in_tx = claim.filter(|_| claims_in_transaction(tx.is_pg(), enqueued));
            if let Some(req) = in_tx {
                claimed = super::claims::claim_in(&mut tx, req, now).await?;
            }
            tx.commit().await?;
            if let (Some(req), None) = (claim, in_tx) {
                claimed = self.claim_after_commit(req, now).await;
            }
            for s in &fast {
                if completed.contains(&s.index) {
                    outcomes[s.index] = RecordOutcome::Completed;
                } else {
                    tracing::info!(step = %s.lease.step_uuid, worker = %s.lease.worker_id, "stale result discarded");
                }
            }
            if !completed.is_empty() {
                notify_work(&self.signal);
            }
        }
        let last = slow.last().copied();
        for index in slow {
            let (lease, report) = &reports[index];
            let claim = claim.filter(|_| Some(index) == last);
            let (outcome, leases) = self
                .record_result_claiming(lease, report.clone(), now, claim)
                .await?;
            outcomes[index] = outcome;
            claimed = leases;
        }
        Ok((outcomes, claimed))
    }
}

/// Whether a result's transaction claims for its worker before it commits. On SQLite always:
/// one writer at a time, and a commit saved. On PostgreSQL only when the transaction
/// released steps (a linear task's next step is then claimed by the commit that enqueues
/// it): the claim would otherwise only lengthen the time the result holds its task's lock,
/// which every result of that task waits for (the copies of a fan-out drained about 15 %
/// slower), so it runs after the commit instead.
pub(super) fn claims_in_transaction(pg: bool, enqueued: usize) -> bool {
    !pg || enqueued > 0
}

/// Completes the successes whose lease is still held; returns their batch indexes and how
/// many steps their completion enqueued.
async fn complete_many(
    tx: &mut Tx,
    batch: &[Success<'_>],
    now: DateTime<Utc>,
) -> Result<(Vec<usize>, usize), StoreError> {
    let mut tasks: Vec<Uuid> = batch.iter().map(|s| s.task).collect();
    tasks.sort_unstable();
    tasks.dedup();
    // Lock the tasks in one order, so two batches never wait on each other.
    let sql = format!(
        "SELECT task_uuid, status, parent_task_uuid FROM tasks WHERE task_uuid {} \
         ORDER BY task_uuid{}",
        in_list(tx.is_pg(), 1),
        tx.for_update()
    );
    let mut states: BTreeMap<Uuid, (TaskState, bool)> = BTreeMap::new();
    for r in tx.all(&sql, uuid_args(tasks.iter().copied())).await? {
        let has_parent = r.opt_text("parent_task_uuid")?.is_some();
        states.insert(r.uuid("task_uuid")?, (r.parsed("status")?, has_parent));
    }
    let sql = format!(
        "SELECT l.step_uuid, l.token FROM step_leases l JOIN steps s ON s.step_uuid = l.step_uuid \
         WHERE s.status = $1 AND l.step_uuid {}",
        in_list(tx.is_pg(), 2)
    );
    let mut a = args![StepState::InProgress.as_str()];
    a.extend(uuid_args(batch.iter().map(|s| s.lease.step_uuid)));
    let mut held = HashMap::with_capacity(batch.len());
    for r in tx.all(&sql, a).await? {
        held.insert(r.uuid("step_uuid")?, r.text("token")?);
    }
    let valid: Vec<&Success> = batch
        .iter()
        .filter(|s| held.get(&s.lease.step_uuid) == Some(&s.lease.token.to_string()))
        .collect();
    if valid.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let ids: Vec<Uuid> = valid.iter().map(|s| s.lease.step_uuid).collect();
    let in_ids = in_list(tx.is_pg(), 1);
    // The writes below are queued and sent as one statement (`Tx::defer`): the leases, the
    // completed steps, their children (never one of the completed steps: a child runs only
    // after its parents complete), and the audit and attempt rows are all different rows.
    tx.defer(
        format!("DELETE FROM step_leases WHERE step_uuid {in_ids}"),
        uuid_args(ids.iter().copied()),
        None,
    );

    StepState::InProgress.transition(StepState::Complete)?;
    let mut a = args![
        StepState::Complete.as_str(),
        now,
        StepState::InProgress.as_str()
    ];
    for s in &valid {
        let StepOutcome::Success(result) = &s.report.outcome else {
            unreachable!("only successes take the set-based path")
        };
        a.push(s.lease.step_uuid.into());
        a.push(json_text(result).into());
    }
    let rows = value_rows_at(4, valid.len(), 2);
    let sql = format!(
        "UPDATE steps SET status = $1, updated_at = $2, completed_at = $2, results = v.column2 \
         FROM (VALUES {rows}) AS v WHERE steps.step_uuid = v.column1 AND steps.status = $3"
    );
    tx.defer(
        sql,
        a,
        Some((
            valid.len() as u64,
            "completed steps changed concurrently".to_owned(),
        )),
    );
    // One parent of each child is met per completed parent: the completed steps' edges,
    // counted per child (a join's count is not recomputed from its 10,000 edges per batch).
    tx.defer(
        format!(
            "UPDATE steps SET unmet_parents = unmet_parents - c.n FROM (SELECT child_uuid, \
             COUNT(*) AS n FROM step_edges WHERE parent_uuid {in_ids} GROUP BY child_uuid) AS c \
             WHERE steps.step_uuid = c.child_uuid"
        ),
        uuid_args(ids.iter().copied()),
        None,
    );
    let audit = valid
        .iter()
        .map(|s| {
            args![
                s.task,
                s.lease.step_uuid,
                StepState::InProgress.as_str(),
                StepState::Complete.as_str(),
                now,
                &s.lease.worker_id,
                format!("attempt {} succeeded", s.lease.attempt)
            ]
        })
        .collect();
    defer_rows(tx, TRANSITION_INSERT, 7, audit, "");
    let results = valid
        .iter()
        .map(|s| {
            let StepOutcome::Success(result) = &s.report.outcome else {
                unreachable!("only successes take the set-based path")
            };
            let duration = (now - s.report.started_at).num_milliseconds().max(0);
            args![
                s.lease.step_uuid,
                s.task,
                i64::from(s.lease.attempt),
                &s.lease.worker_id,
                1i64,
                json_text(result),
                Option::<i64>::None,
                s.report.started_at,
                now,
                duration
            ]
        })
        .collect();
    defer_rows(
        tx,
        "INSERT INTO step_results (step_uuid, task_uuid, attempt, worker_id, success, payload, \
         backoff_ms, started_at, finished_at, duration_ms) VALUES ",
        10,
        results,
        "",
    );
    let completed: Vec<Completed> = states
        .iter()
        .map(|(task, (state, has_parent))| Completed {
            task: *task,
            state: *state,
            has_parent: *has_parent,
            parents: valid
                .iter()
                .filter(|s| s.task == *task)
                .map(|s| s.lease.step_uuid)
                .collect(),
            actor: valid
                .iter()
                .find(|s| s.task == *task)
                .map_or(super::engine::SYSTEM, |s| s.lease.worker_id.as_str()),
        })
        .collect();
    let enqueued = advance_completed(tx, &completed, now).await?;
    if enqueued > 0 {
        announce(tx).await?;
    }
    Ok((valid.iter().map(|s| s.index).collect(), enqueued))
}
