//! Lease recovery by workers: every `lease_recovery_interval_ms` the worker takes back the
//! expired leases of workers that died (their steps are enqueued again, or fail when out of
//! attempts) and enqueues the retries that are due, so that a deployment of workers without a
//! `tasker-server` still makes progress. The store's expiry re-checks each lease under the
//! task's lock, so any number of workers and servers may sweep at once.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tasker_core::Store;
use tokio::task::JoinHandle;

/// Starts the sweep; `None` when `interval_ms` is 0 (recovery left to the servers).
pub(crate) fn spawn(
    store: Arc<dyn Store>,
    worker_id: String,
    interval_ms: u64,
) -> Option<JoinHandle<()>> {
    if interval_ms == 0 {
        return None;
    }
    let every = Duration::from_millis(interval_ms.max(10));
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sweep(store.as_ref(), &worker_id).await;
        }
    }))
}

async fn sweep(store: &dyn Store, worker_id: &str) {
    let now = Utc::now();
    match store.expire_leases(now).await {
        Ok(0) => {}
        Ok(n) => {
            metrics::counter!("tasker_worker_leases_recovered_total").increment(n);
            tracing::info!(worker = %worker_id, steps = n, "took back expired leases");
        }
        Err(e) => tracing::warn!(worker = %worker_id, error = %e, "lease recovery failed"),
    }
    if let Err(e) = store.enqueue_due_retries(now).await {
        tracing::warn!(worker = %worker_id, error = %e, "retry promotion failed");
    }
}
