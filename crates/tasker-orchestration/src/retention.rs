//! The retention loop of a server: with `[engine] retention_days` above 0 it purges, at start
//! and then every `retention_interval_seconds`, the tasks that ended more than that many days
//! ago, `retention_batch_size` per transaction with a pause between batches so the engine's
//! own writes (claims, results) never wait long behind it.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tasker_config::EngineConfig;
use tasker_core::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Pause between two purge batches.
const BATCH_PAUSE: Duration = Duration::from_millis(50);

/// Starts the loop; `None` when retention is off.
pub(crate) fn spawn(
    store: Arc<dyn Store>,
    engine: &EngineConfig,
    stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if engine.retention_days == 0 {
        return None;
    }
    Some(tokio::spawn(run(store, engine.clone(), stop)))
}

async fn run(store: Arc<dyn Store>, engine: EngineConfig, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(engine.retention_interval_seconds.max(1));
    while !*stop.borrow() {
        let cutoff = tasker_store::retention_cutoff(Utc::now(), engine.retention_days);
        let purge = tasker_store::purge_finished(
            store.as_ref(),
            cutoff,
            engine.retention_batch_size,
            BATCH_PAUSE,
        );
        tokio::select! {
            purged = purge => match purged {
                Ok(n) if n.tasks > 0 => {
                    tracing::info!(
                        tasks = n.tasks,
                        steps = n.steps,
                        transitions = n.transitions,
                        results = n.results,
                        dlq_entries = n.dlq_entries,
                        %cutoff,
                        "retention purged finished tasks"
                    );
                }
                Ok(_) => tracing::debug!(%cutoff, "retention: nothing to purge"),
                Err(e) => tracing::warn!(error = %e, "retention purge failed"),
            },
            _ = stop.changed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}
