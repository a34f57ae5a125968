//! Claims with leases, lease renewal and expiry, and the promotion of steps whose retry
//! time has come.

use chrono::{DateTime, Utc};
use serde_json::json;
use tasker_core::store::{ClaimRequest, ClaimedStep, DlqReason, Lease};
use tasker_core::{StepState, StoreError};
use uuid::Uuid;

use super::bulk::{TRANSITION_INSERT, defer_rows};
use super::engine::{SYSTEM, advance, load_step_tx, lock_task, open_dlq, set_step_state};
use super::{SqlStore, announce, notify_work};
use crate::db::{Arg, Tx, args, placeholders};

/// The queue filter of a claim (`FROM steps WHERE …`, ready steps of the request's
/// namespaces) and its arguments, `$1` being the `enqueued` status.
fn claim_filter(req: &ClaimRequest) -> (String, Vec<Arg>) {
    let mut a: Vec<Arg> = args![StepState::Enqueued.as_str()];
    let mut filter = "FROM steps WHERE status = $1".to_owned();
    if !req.namespaces.is_empty() {
        filter.push_str(&format!(
            " AND namespace IN ({})",
            placeholders(2, req.namespaces.len())
        ));
        a.extend(req.namespaces.iter().map(Arg::from));
    }
    (filter, a)
}

impl SqlStore {
    pub(super) async fn claim_steps_impl(
        &self,
        req: &ClaimRequest,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedStep>, StoreError> {
        // The claim on PostgreSQL is one statement, which writes nothing when nothing is
        // ready. On SQLite an idle worker looks before it takes the write lock.
        if self.pool.is_pg() {
            let leases = self.claim_leases(req, now).await?;
            return self.claimed_or_handed_back(leases, now).await;
        }
        let (filter, a) = claim_filter(req);
        let probe = format!("SELECT step_uuid {filter} LIMIT 1");
        if self.pool.one(&probe, a).await?.is_none() {
            return Ok(Vec::new());
        }
        let leases = self.claim_leases(req, now).await?;
        self.claimed_or_handed_back(leases, now).await
    }

    /// A claim on its own (PostgreSQL: one statement, atomic without a transaction; SQLite:
    /// a write transaction): the tasks and leases of the claimed steps, not yet read.
    pub(super) async fn claim_leases(
        &self,
        req: &ClaimRequest,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, Lease)>, StoreError> {
        if self.pool.is_pg() {
            let (sql, a, expires) = pg_claim(req, now)?;
            let rows = self.pool.all(&sql, a).await?;
            return pg_leases(&rows, req, expires);
        }
        let mut tx = self.pool.begin().await?;
        let leases = claim_in(&mut tx, req, now).await?;
        tx.commit().await?;
        Ok(leases)
    }

    /// The claim of a result written without one (see `results_batch::claims_in_transaction`):
    /// the results are committed, so a failed claim is logged and claims nothing rather than
    /// failing them.
    pub(super) async fn claim_after_commit(
        &self,
        req: &ClaimRequest,
        now: DateTime<Utc>,
    ) -> Vec<(Uuid, Lease)> {
        self.claim_leases(req, now).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "claim after recording results failed");
            Vec::new()
        })
    }

    /// The claimed steps as the worker needs them; when they cannot be read, their leases are
    /// released before the error is returned (the attempts do not count), so the steps are
    /// claimable again at once instead of when the leases, held by a worker that never saw
    /// them, expire.
    pub(super) async fn claimed_or_handed_back(
        &self,
        leases: Vec<(Uuid, Lease)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedStep>, StoreError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let held: Vec<Lease> = leases.iter().map(|(_, l)| l.clone()).collect();
        let err = match self.claimed_steps(leases).await {
            Ok(steps) => return Ok(steps),
            Err(e) => e,
        };
        tracing::warn!(error = %err, steps = held.len(), "claimed steps could not be read; releasing their leases");
        for lease in &held {
            if let Err(e) = self.release_lease_impl(lease, now).await {
                tracing::warn!(step = %lease.step_uuid, error = %e, "releasing an unread claim failed; its lease will expire");
            }
        }
        Err(err)
    }
}

/// Claims up to `req.limit` ready steps inside `tx` (which sees its own writes: the steps a
/// result just enqueued are claimable): their tasks and leases. The steps move to
/// `in_progress` with a lease and an audit row each.
pub(super) async fn claim_in(
    tx: &mut Tx,
    req: &ClaimRequest,
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, Lease)>, StoreError> {
    if tx.is_pg() {
        let (sql, a, expires) = pg_claim(req, now)?;
        let rows = tx.all(&sql, a).await?;
        return pg_leases(&rows, req, expires);
    }
    let (filter, mut a) = claim_filter(req);
    let sql = format!(
        "SELECT step_uuid, task_uuid, attempts {filter} ORDER BY ready_at, position LIMIT ${}{}",
        a.len() + 1,
        tx.skip_locked()
    );
    a.push(i64::from(req.limit.clamp(1, MAX_CLAIM)).into());
    let expires = now + req.lease;
    let mut leases = Vec::new();
    for r in tx.all(&sql, a).await? {
        let attempt = u32::try_from(r.int("attempts")? + 1).unwrap_or(u32::MAX);
        leases.push((
            r.uuid("task_uuid")?,
            Lease {
                step_uuid: r.uuid("step_uuid")?,
                worker_id: req.worker_id.clone(),
                token: Uuid::new_v4(),
                attempt,
                expires_at: expires,
            },
        ));
    }
    if !leases.is_empty() {
        start_attempts(tx, &leases, now).await?;
    }
    Ok(leases)
}

/// The claim on PostgreSQL as one statement (atomic on its own outside a transaction): the
/// steps are locked, moved to `in_progress`, leased (tokens from `gen_random_uuid`) and
/// audited together, in the order of the queue. The update finds the locked steps through an
/// array, which keeps it on the primary key: joined to the locking subquery, the generic plan
/// of the prepared statement hashed a scan of every step (14 ms at 20,000 steps). Returns the
/// statement, its arguments and the leases' expiry.
fn pg_claim(
    req: &ClaimRequest,
    now: DateTime<Utc>,
) -> Result<(String, Vec<Arg>, DateTime<Utc>), StoreError> {
    StepState::Enqueued.transition(StepState::InProgress)?;
    let (filter, mut a) = claim_filter(req);
    let n = a.len();
    let expires = now + req.lease;
    a.push(i64::from(req.limit.clamp(1, MAX_CLAIM)).into());
    a.extend(args![
        StepState::InProgress.as_str(),
        now,
        &req.worker_id,
        expires
    ]);
    let (limit, to, at, worker, until) = (n + 1, n + 2, n + 3, n + 4, n + 5);
    let sql = format!(
        "WITH c AS (SELECT step_uuid {filter} ORDER BY ready_at, position LIMIT ${limit} \
         FOR UPDATE SKIP LOCKED), \
         u AS (UPDATE steps s SET status = ${to}, updated_at = ${at}, attempts = s.attempts + 1 \
         WHERE s.step_uuid = ANY(ARRAY(SELECT step_uuid FROM c)) \
         RETURNING s.step_uuid, s.task_uuid, s.attempts, s.ready_at, s.position), \
         l AS (INSERT INTO step_leases (step_uuid, task_uuid, worker_id, token, attempt, expires_at) \
         SELECT step_uuid, task_uuid, ${worker}, CAST(gen_random_uuid() AS TEXT), attempts, ${until} \
         FROM u ON CONFLICT (step_uuid) DO UPDATE SET task_uuid = excluded.task_uuid, \
         worker_id = excluded.worker_id, token = excluded.token, attempt = excluded.attempt, \
         expires_at = excluded.expires_at RETURNING step_uuid, token), \
         a AS (INSERT INTO transitions (task_uuid, step_uuid, from_state, to_state, at, actor, reason) \
         SELECT task_uuid, step_uuid, $1, ${to}, ${at}, ${worker}, \
         'claimed for attempt ' || CAST(attempts AS TEXT) FROM u) \
         SELECT u.step_uuid, u.task_uuid, u.attempts, l.token FROM u \
         JOIN l ON l.step_uuid = u.step_uuid ORDER BY u.ready_at, u.position"
    );
    Ok((sql, a, expires))
}

/// The leases a PostgreSQL claim returned.
fn pg_leases(
    rows: &[crate::db::Row],
    req: &ClaimRequest,
    expires: DateTime<Utc>,
) -> Result<Vec<(Uuid, Lease)>, StoreError> {
    let mut leases = Vec::with_capacity(rows.len());
    for r in rows {
        leases.push((
            r.uuid("task_uuid")?,
            Lease {
                step_uuid: r.uuid("step_uuid")?,
                worker_id: req.worker_id.clone(),
                token: r.uuid("token")?,
                attempt: u32::try_from(r.int("attempts")?).unwrap_or(u32::MAX),
                expires_at: expires,
            },
        ));
    }
    Ok(leases)
}

impl SqlStore {
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

/// Most steps one claim takes (the worker asks for its free slots).
const MAX_CLAIM: u32 = 1_000;

/// Moves the claimed steps from `enqueued` to `in_progress` (starting an attempt), with one
/// audit row and one lease each: three writes for the whole claim, queued (`Tx::defer`) and
/// sent with the commit.
async fn start_attempts(
    tx: &mut Tx,
    leases: &[(Uuid, Lease)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    StepState::Enqueued.transition(StepState::InProgress)?;
    let mut a: Vec<Arg> = args![
        StepState::InProgress.as_str(),
        now,
        StepState::Enqueued.as_str()
    ];
    a.extend(leases.iter().map(|(_, l)| Arg::from(l.step_uuid)));
    let sql = format!(
        "UPDATE steps SET status = $1, updated_at = $2, attempts = attempts + 1 \
         WHERE status = $3 AND step_uuid IN ({})",
        placeholders(4, leases.len())
    );
    tx.defer(
        sql,
        a,
        Some((
            leases.len() as u64,
            "claimed steps changed concurrently".to_owned(),
        )),
    );
    let audit = leases
        .iter()
        .map(|(task, l)| {
            args![
                *task,
                l.step_uuid,
                StepState::Enqueued.as_str(),
                StepState::InProgress.as_str(),
                now,
                &l.worker_id,
                format!("claimed for attempt {}", l.attempt)
            ]
        })
        .collect();
    defer_rows(tx, TRANSITION_INSERT, 7, audit, "");
    let rows = leases
        .iter()
        .map(|(task, l)| {
            args![
                l.step_uuid,
                *task,
                &l.worker_id,
                l.token,
                i64::from(l.attempt),
                l.expires_at
            ]
        })
        .collect();
    defer_rows(
        tx,
        "INSERT INTO step_leases (step_uuid, task_uuid, worker_id, token, attempt, expires_at) \
         VALUES ",
        6,
        rows,
        " ON CONFLICT (step_uuid) DO UPDATE SET task_uuid = excluded.task_uuid, \
         worker_id = excluded.worker_id, token = excluded.token, attempt = excluded.attempt, \
         expires_at = excluded.expires_at",
    );
    Ok(())
}
