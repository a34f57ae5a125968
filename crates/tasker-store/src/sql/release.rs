//! Giving a lease back before its attempt ends: a worker that shuts down with steps still
//! running hands them back so that another worker claims them at once, without waiting for
//! the lease to expire and without spending an attempt.

use chrono::{DateTime, Utc};
use tasker_core::store::Lease;
use tasker_core::{StepState, StoreError};

use super::engine::{SYSTEM, advance, load_step_tx, lock_task, set_step_state};
use super::{SqlStore, announce, notify_work};
use crate::db::args;

impl SqlStore {
    pub(super) async fn release_lease_impl(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(row) = self
            .pool
            .one(
                "SELECT task_uuid FROM step_leases WHERE step_uuid = $1 AND token = $2",
                args![lease.step_uuid, lease.token],
            )
            .await?
        else {
            return Ok(false);
        };
        let task_uuid = row.uuid("task_uuid")?;
        let mut tx = self.pool.begin().await?;
        lock_task(&mut tx, task_uuid).await?;
        let deleted = tx
            .exec(
                "DELETE FROM step_leases WHERE step_uuid = $1 AND token = $2",
                args![lease.step_uuid, lease.token],
            )
            .await?;
        if deleted != 1 {
            return Ok(false);
        }
        let step = load_step_tx(&mut tx, lease.step_uuid).await?;
        if step.status != StepState::InProgress {
            tx.commit().await?;
            return Ok(false);
        }
        let reason = format!(
            "lease released by worker {} during attempt {}; the attempt does not count",
            lease.worker_id, lease.attempt
        );
        set_step_state(
            &mut tx,
            task_uuid,
            lease.step_uuid,
            StepState::InProgress,
            StepState::Enqueued,
            &lease.worker_id,
            Some(&reason),
            now,
        )
        .await?;
        tx.exec(
            "UPDATE steps SET attempts = attempts - 1 WHERE step_uuid = $1 AND attempts > 0",
            args![lease.step_uuid],
        )
        .await?;
        announce(&mut tx).await?;
        advance(&mut tx, task_uuid, SYSTEM, now).await?;
        tx.commit().await?;
        notify_work(&self.signal);
        Ok(true)
    }
}
