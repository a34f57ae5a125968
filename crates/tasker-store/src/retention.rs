//! Purging finished tasks in batches, shared by the retention loop of `tasker-server` and
//! `tasker-ctl task purge`: each batch is one short transaction of the store, and the caller
//! chooses the pause between batches (the server leaves room for the engine's own writes).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tasker_core::store::PurgeCount;
use tasker_core::{Store, StoreError};

/// Deletes every task that ended before `finished_before` and has no pending DLQ entry,
/// `batch_size` tasks per transaction, sleeping `pause` between batches. Returns what was
/// deleted; on an error, the batches already committed stay deleted.
pub async fn purge_finished(
    store: &dyn Store,
    finished_before: DateTime<Utc>,
    batch_size: u32,
    pause: Duration,
) -> Result<PurgeCount, StoreError> {
    let batch_size = batch_size.max(1);
    let mut total = PurgeCount::default();
    loop {
        let batch = store
            .purge_finished_tasks(finished_before, batch_size)
            .await?;
        total.add(batch);
        if batch.tasks < u64::from(batch_size) {
            return Ok(total);
        }
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

/// The cutoff of a retention of `days` days at `now`.
pub fn retention_cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - chrono::Duration::days(i64::from(days))
}
