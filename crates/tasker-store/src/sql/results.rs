//! Recording an attempt's outcome: only the current lease holder's report counts; success
//! completes the step, failure schedules a retry with backoff or fails the step into the DLQ.

use chrono::{DateTime, Utc};
use serde_json::Value;
use tasker_core::store::{
    ClaimRequest, DlqReason, Lease, RecordOutcome, StepOutcome, StepRecord, StepReport,
};
use tasker_core::{StepState, StoreError, TaskState, backoff_delay_ms};
use uuid::Uuid;

use super::engine::{
    StepChange, advance, advance_after_locked, change_step_state, open_dlq, set_step_state,
};
use super::{SqlStore, announce, notify_work};
use crate::db::{Tx, args, json_text};

impl SqlStore {
    pub(super) async fn record_result_impl(
        &self,
        lease: &Lease,
        report: StepReport,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome, StoreError> {
        Ok(self
            .record_result_claiming(lease, report, now, None)
            .await?
            .0)
    }

    /// Records one result and, when `claim` is given and the result counted, claims steps for
    /// the reporting worker before the commit (`claims::claim_in`); returns the claim's leases.
    pub(super) async fn record_result_claiming(
        &self,
        lease: &Lease,
        report: StepReport,
        now: DateTime<Utc>,
        claim: Option<&ClaimRequest>,
    ) -> Result<(RecordOutcome, Vec<(Uuid, Lease)>), StoreError> {
        let mut tx = self.pool.begin().await?;
        let leased = lock_leased_step(&mut tx, lease).await?;
        let Some((task_uuid, state, step)) =
            leased.filter(|(_, _, s)| s.status == StepState::InProgress)
        else {
            tracing::info!(step = %lease.step_uuid, worker = %lease.worker_id, "stale result discarded");
            return Ok((RecordOutcome::Discarded, Vec::new()));
        };
        // The writes of a result are queued and sent together (`Tx::defer`): the lease, the
        // step row, its children's counts, the audit and attempt rows touch different rows.
        tx.defer(
            "DELETE FROM step_leases WHERE step_uuid = $1".to_owned(),
            args![lease.step_uuid],
            None,
        );
        // A decision's or batchable's result shapes the task: a bad one fails the step for good.
        let plan = if step.step_type.creates_steps() || step.batch_index.is_some() {
            super::dynamic::load_plan(&mut tx, task_uuid).await?
        } else {
            None
        };
        let mut report = report;
        let mut created = 0;
        let mut cursors = None;
        let mut dynamic_error = None;
        if let (Some(plan), StepOutcome::Success(result)) = (&plan, &report.outcome) {
            match plan.check_result(&step.template_step, result) {
                Ok(c) => cursors = c,
                Err(message) => {
                    report.outcome = StepOutcome::Failure {
                        error: serde_json::json!({"message": message, "kind": "invalid_result"}),
                        retryable: false,
                    };
                    dynamic_error = Some(message);
                }
            }
        }
        let (success, payload) = match &report.outcome {
            StepOutcome::Success(v) => (true, v.clone()),
            StepOutcome::Failure { error, .. } => (false, error.clone()),
        };
        let outcome = match report.outcome {
            StepOutcome::Success(result) => {
                let change = StepChange {
                    task_uuid,
                    step_uuid: lease.step_uuid,
                    from: StepState::InProgress,
                    to: StepState::Complete,
                    results: Some(json_text(&result)),
                    deferred: true,
                };
                let reason = format!("attempt {} succeeded", lease.attempt);
                change_step_state(&mut tx, change, &lease.worker_id, Some(&reason), now).await?;
                if let Some(plan) = &plan
                    && step.step_type.creates_steps()
                {
                    created =
                        super::dynamic::expand_after(&mut tx, &step, plan, cursors.as_deref(), now)
                            .await?;
                }
                RecordOutcome::Completed
            }
            StepOutcome::Failure { error, retryable } => {
                tx.exec(
                    "UPDATE steps SET last_error = $1 WHERE step_uuid = $2",
                    args![json_text(&error), lease.step_uuid],
                )
                .await?;
                let message = error_message(&error);
                if retryable && step.retryable && lease.attempt < step.max_attempts {
                    let delay_ms =
                        backoff_delay_ms(step.backoff, lease.attempt, report.jitter_sample);
                    let retry_at = now
                        + chrono::Duration::milliseconds(
                            i64::try_from(delay_ms).unwrap_or(i64::MAX),
                        );
                    tx.exec(
                        "UPDATE steps SET retry_at = $1 WHERE step_uuid = $2",
                        args![retry_at, lease.step_uuid],
                    )
                    .await?;
                    let reason = format!(
                        "attempt {} of {} failed: {message}; retry in {delay_ms} ms",
                        lease.attempt, step.max_attempts
                    );
                    set_step_state(
                        &mut tx,
                        task_uuid,
                        lease.step_uuid,
                        StepState::InProgress,
                        StepState::WaitingForRetry,
                        &lease.worker_id,
                        Some(&reason),
                        now,
                    )
                    .await?;
                    RecordOutcome::RetryScheduled { retry_at, delay_ms }
                } else {
                    let why = if dynamic_error.is_some() {
                        "invalid result"
                    } else if retryable && step.retryable {
                        "attempts exhausted"
                    } else {
                        "not retryable"
                    };
                    let reason = format!(
                        "attempt {} of {} failed: {message} ({why})",
                        lease.attempt, step.max_attempts
                    );
                    set_step_state(
                        &mut tx,
                        task_uuid,
                        lease.step_uuid,
                        StepState::InProgress,
                        StepState::Error,
                        &lease.worker_id,
                        Some(&reason),
                        now,
                    )
                    .await?;
                    RecordOutcome::FailedPermanently
                }
            }
        };
        let backoff = match &outcome {
            RecordOutcome::RetryScheduled { delay_ms, .. } => {
                Some(i64::try_from(*delay_ms).unwrap_or(i64::MAX))
            }
            _ => None,
        };
        let duration = (now - report.started_at).num_milliseconds().max(0);
        tx.defer(
            "INSERT INTO step_results (step_uuid, task_uuid, attempt, worker_id, success, payload, \
             backoff_ms, started_at, finished_at, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                .to_owned(),
            args![lease.step_uuid, task_uuid, i64::from(lease.attempt), &lease.worker_id, i64::from(success),
                json_text(&payload), backoff, report.started_at, now, duration],
            None,
        );
        let mut tolerated = false;
        if outcome == RecordOutcome::FailedPermanently
            && step.batch_index.is_some()
            && let Some(plan) = &plan
        {
            let policy = super::dynamic::after_copy_failed(&mut tx, &step, plan, now).await?;
            tolerated = policy == tasker_core::BatchFailure::Continue;
        }
        let adv = if step.step_type.creates_steps() || outcome == RecordOutcome::FailedPermanently {
            advance(&mut tx, task_uuid, &lease.worker_id, now).await?
        } else {
            advance_after_locked(
                &mut tx,
                task_uuid,
                state,
                &[lease.step_uuid],
                &lease.worker_id,
                now,
            )
            .await?
        };
        if outcome == RecordOutcome::FailedPermanently && !tolerated {
            let entry = open_dlq(
                &mut tx,
                task_uuid,
                Some(lease.step_uuid),
                DlqReason::MaxRetriesExceeded,
                now,
            )
            .await?;
            if let (Some(entry), Some(message)) = (entry, &dynamic_error) {
                tx.exec(
                    "UPDATE dlq_entries SET notes = $1 WHERE dlq_entry_uuid = $2",
                    args![
                        format!("step `{}`: {message}", step.name),
                        entry.dlq_entry_uuid
                    ],
                )
                .await?;
            }
        }
        if adv.enqueued > 0 {
            announce(&mut tx).await?;
        }
        let in_tx =
            claim.filter(|_| super::results_batch::claims_in_transaction(tx.is_pg(), adv.enqueued));
        let mut claimed = match in_tx {
            Some(req) => super::claims::claim_in(&mut tx, req, now).await?,
            None => Vec::new(),
        };
        tx.commit().await?;
        if let (Some(req), None) = (claim, in_tx) {
            claimed = self.claim_after_commit(req, now).await;
        }
        if created >= REFRESH_STATISTICS_AFTER {
            self.refresh_statistics().await;
        }
        notify_work(&self.signal);
        Ok((outcome, claimed))
    }
}

/// Steps created by one result from which PostgreSQL's planner statistics are refreshed.
const REFRESH_STATISTICS_AFTER: usize = 1_000;

impl SqlStore {
    /// `ANALYZE` of the tables a fan-out just grew (PostgreSQL). On the statistics from before
    /// a 10,000-copy fan-out, the planner took the copies' claims for scans of every step and
    /// edge (hash joins over the whole tables, 14 ms per claim instead of 1); autovacuum
    /// refreshes them only later. A failure is logged: the fan-out is committed either way.
    async fn refresh_statistics(&self) {
        if !self.pool.is_pg() {
            return;
        }
        for table in ["steps", "step_edges"] {
            if let Err(e) = self.pool.all(&format!("ANALYZE {table}"), Vec::new()).await {
                tracing::warn!(table, error = %e, "refreshing planner statistics after a fan-out failed");
            }
        }
    }
}

/// Locks the task of `step_uuid` (PostgreSQL) and returns it with its state, in one statement;
/// `None` when the step does not exist.
/// Locks the task of the step `lease` holds and reads the step, in one statement: the task,
/// the step and the lease, whose token must be the lease's. `None` when the step has no lease
/// or another one. On PostgreSQL all three rows are locked (in the order tasks, steps, leases,
/// the order every writer locks them): a statement that waited for one of the locks re-reads
/// every locked row at its newest version, so a lease removed meanwhile (expired, or its
/// result recorded) is seen as gone. With only the task locked, the step and the lease would
/// be read as they were when the statement began.
async fn lock_leased_step(
    tx: &mut Tx,
    lease: &Lease,
) -> Result<Option<(Uuid, TaskState, StepRecord)>, StoreError> {
    let lock = if tx.is_pg() {
        " FOR UPDATE OF t, s, l"
    } else {
        ""
    };
    let sql = format!(
        "SELECT t.status AS task_status, l.token, {} FROM tasks t \
         JOIN steps s ON s.task_uuid = t.task_uuid \
         JOIN step_leases l ON l.step_uuid = s.step_uuid \
         WHERE s.step_uuid = $1{lock}",
        super::rows::qualified_step_columns("s")
    );
    let Some(r) = tx.one(&sql, args![lease.step_uuid]).await? else {
        return Ok(None);
    };
    if r.text("token")? != lease.token.to_string() {
        return Ok(None);
    }
    let step = super::rows::step(&r)?;
    Ok(Some((step.task_uuid, r.parsed("task_status")?, step)))
}

fn error_message(error: &Value) -> String {
    match error.get("message").and_then(Value::as_str) {
        Some(m) => m.to_owned(),
        None => error.to_string(),
    }
}
