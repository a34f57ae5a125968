//! Claims with leases, lease renewal and expiry, and the promotion of steps whose retry
//! time has come.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tasker_core::dynamic::group_parent_results;
use tasker_core::store::{ClaimRequest, ClaimedStep, DlqReason, Lease};
use tasker_core::{StepState, StoreError};
use uuid::Uuid;

use super::engine::{SYSTEM, advance, load_step_tx, lock_task, open_dlq, set_step_state};
use super::rows::load_steps;
use super::{SqlStore, announce, notify_work};
use crate::db::{Arg, args, placeholders};

impl SqlStore {
    pub(super) async fn claim_steps_impl(
        &self,
        req: &ClaimRequest,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedStep>, StoreError> {
        let mut a: Vec<Arg> = args![StepState::Enqueued.as_str()];
        let mut filter = "FROM steps WHERE status = $1".to_owned();
        if !req.namespaces.is_empty() {
            filter.push_str(&format!(
                " AND namespace IN ({})",
                placeholders(2, req.namespaces.len())
            ));
            a.extend(req.namespaces.iter().map(Arg::from));
        }
        // Idle workers look before they take the write lock (SQLite) or open a transaction.
        let probe = format!("SELECT step_uuid {filter} LIMIT 1");
        if self.pool.one(&probe, a.clone()).await?.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "SELECT step_uuid, task_uuid, attempts {filter} ORDER BY ready_at, position LIMIT ${}{}",
            a.len() + 1,
            tx.skip_locked()
        );
        a.push(i64::from(req.limit).into());
        let expires = now + req.lease;
        let mut leases = Vec::new();
        for r in tx.all(&sql, a).await? {
            let step_uuid = r.uuid("step_uuid")?;
            let task_uuid = r.uuid("task_uuid")?;
            let attempt = u32::try_from(r.int("attempts")? + 1).unwrap_or(u32::MAX);
            let reason = format!("claimed for attempt {attempt}");
            set_step_state(
                &mut tx,
                task_uuid,
                step_uuid,
                StepState::Enqueued,
                StepState::InProgress,
                &req.worker_id,
                Some(&reason),
                now,
            )
            .await?;
            let token = Uuid::new_v4();
            tx.exec(
                "INSERT INTO step_leases (step_uuid, task_uuid, worker_id, token, attempt, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (step_uuid) DO UPDATE SET \
                 task_uuid = excluded.task_uuid, worker_id = excluded.worker_id, \
                 token = excluded.token, attempt = excluded.attempt, expires_at = excluded.expires_at",
                args![step_uuid, task_uuid, &req.worker_id, token, i64::from(attempt), expires],
            )
            .await?;
            leases.push((
                task_uuid,
                Lease {
                    step_uuid,
                    worker_id: req.worker_id.clone(),
                    token,
                    attempt,
                    expires_at: expires,
                },
            ));
        }
        tx.commit().await?;
        let mut claimed = Vec::with_capacity(leases.len());
        for (task_uuid, lease) in leases {
            claimed.push(self.claimed_step(task_uuid, lease).await?);
        }
        Ok(claimed)
    }

    async fn claimed_step(&self, task_uuid: Uuid, lease: Lease) -> Result<ClaimedStep, StoreError> {
        let step = load_steps(&self.pool, task_uuid, Some(lease.step_uuid))
            .await?
            .pop()
            .ok_or_else(|| StoreError::NotFound(format!("step {}", lease.step_uuid)))?;
        let task = self
            .pool
            .one(
                "SELECT context, trace_parent FROM tasks WHERE task_uuid = $1",
                args![task_uuid],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("task {task_uuid}")))?;
        let context = task.json("context")?;
        let trace_parent = task.opt_text("trace_parent")?;
        let rows = self
            .pool
            .all(
                "SELECT p.name, p.template_step, p.batch_index, p.status, p.results \
                 FROM step_edges e JOIN steps p ON p.step_uuid = e.parent_uuid \
                 WHERE e.child_uuid = $1",
                args![lease.step_uuid],
            )
            .await?;
        let mut parents = Vec::with_capacity(rows.len());
        for r in &rows {
            let name = r.text("name")?;
            parents.push((
                name.clone(),
                r.opt_text("template_step")?.unwrap_or(name),
                r.opt_int("batch_index")?
                    .and_then(|i| u32::try_from(i).ok()),
                r.parsed("status")?,
                r.opt_json("results")?.unwrap_or(Value::Null),
            ));
        }
        let (mut parent_results, failed_batches) = group_parent_results(parents);
        // A batch worker with no (successful) copies still appears, as an empty array.
        if let Some(plan) = super::dynamic::read_plan(&self.pool, task_uuid).await?
            && let Some(own) = plan.get(&step.template_step)
        {
            for parent in &own.step.depends_on {
                if plan
                    .get(parent)
                    .is_some_and(|p| p.step.step_type == tasker_core::StepType::BatchWorker)
                {
                    parent_results
                        .entry(parent.clone())
                        .or_insert_with(|| Value::Array(Vec::new()));
                }
            }
        }
        Ok(ClaimedStep {
            lease,
            step,
            context,
            parent_results,
            failed_batches,
            trace_parent,
        })
    }

    pub(super) async fn renew_lease_impl(
        &self,
        lease: &Lease,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = tx
            .exec(
                "UPDATE step_leases SET expires_at = $1 WHERE step_uuid = $2 AND token = $3",
                args![until, lease.step_uuid, lease.token],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    pub(super) async fn enqueue_due_retries_impl(
        &self,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let rows = self
            .pool
            .all(
                "SELECT DISTINCT task_uuid FROM steps WHERE status = $1 AND retry_at <= $2",
                args![StepState::WaitingForRetry.as_str(), now],
            )
            .await?;
        let mut total = 0u64;
        for r in &rows {
            let task_uuid = r.uuid("task_uuid")?;
            let mut tx = self.pool.begin().await?;
            let adv = advance(&mut tx, task_uuid, SYSTEM, now).await?;
            if adv.enqueued > 0 {
                announce(&mut tx).await?;
            }
            tx.commit().await?;
            total += adv.enqueued as u64;
        }
        if total > 0 {
            notify_work(&self.signal);
        }
        Ok(total)
    }

    pub(super) async fn next_retry_at_impl(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.pool
            .one(
                "SELECT MIN(retry_at) AS at FROM steps WHERE status = $1",
                args![StepState::WaitingForRetry.as_str()],
            )
            .await?
            .map(|r| r.opt_time("at"))
            .transpose()
            .map(Option::flatten)
    }

    pub(super) async fn expire_leases_impl(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let rows = self
            .pool
            .all(
                "SELECT step_uuid, task_uuid FROM step_leases WHERE expires_at < $1",
                args![now],
            )
            .await?;
        let mut expired = 0;
        for r in &rows {
            let (step_uuid, task_uuid) = (r.uuid("step_uuid")?, r.uuid("task_uuid")?);
            let mut tx = self.pool.begin().await?;
            lock_task(&mut tx, task_uuid).await?;
            let Some(lease) = tx
                .one(
                    "SELECT worker_id, attempt FROM step_leases WHERE step_uuid = $1 AND expires_at < $2",
                    args![step_uuid, now],
                )
                .await?
            else {
                continue;
            };
            tx.exec(
                "DELETE FROM step_leases WHERE step_uuid = $1",
                args![step_uuid],
            )
            .await?;
            let step = load_step_tx(&mut tx, step_uuid).await?;
            if step.status == StepState::InProgress {
                let worker = lease.text("worker_id")?;
                let exhausted = step.attempts >= step.max_attempts;
                let reason = format!(
                    "lease of worker {worker} expired during attempt {}",
                    step.attempts
                );
                let to = if exhausted {
                    StepState::Error
                } else {
                    StepState::Enqueued
                };
                set_step_state(
                    &mut tx,
                    task_uuid,
                    step_uuid,
                    StepState::InProgress,
                    to,
                    SYSTEM,
                    Some(&reason),
                    now,
                )
                .await?;
                if exhausted {
                    tx.exec(
                        "UPDATE steps SET last_error = $1 WHERE step_uuid = $2",
                        args![json!({"message": reason}).to_string(), step_uuid],
                    )
                    .await?;
                } else {
                    announce(&mut tx).await?;
                }
                advance(&mut tx, task_uuid, SYSTEM, now).await?;
                if exhausted {
                    open_dlq(
                        &mut tx,
                        task_uuid,
                        Some(step_uuid),
                        DlqReason::MaxRetriesExceeded,
                        now,
                    )
                    .await?;
                }
                expired += 1;
            }
            tx.commit().await?;
        }
        if expired > 0 {
            notify_work(&self.signal);
        }
        Ok(expired)
    }
}
