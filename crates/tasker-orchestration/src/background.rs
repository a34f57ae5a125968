//! Background work of a server: the orchestration loop (expire leases, enqueue due retries,
//! time out approvals;
//! woken by the store's work signal, by the next retry time, or by the polling interval) and
//! the staleness detector, and the schedule loop (`scheduler`).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tasker_core::TaskState;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::orchestrator::Inner;

pub(crate) fn spawn(inner: &Arc<Inner>, stop: &watch::Sender<bool>) -> Vec<JoinHandle<()>> {
    let mut handles = vec![
        tokio::spawn(orchestration_loop(inner.clone(), stop.subscribe())),
        tokio::spawn(crate::scheduler::schedule_loop(
            inner.clone(),
            stop.subscribe(),
        )),
    ];
    if inner.dlq.staleness.enabled {
        handles.push(tokio::spawn(staleness_detector(
            inner.clone(),
            stop.subscribe(),
        )));
    }
    handles
}

async fn orchestration_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let poll = Duration::from_millis(inner.loop_cfg.poll_interval_ms.max(10));
    let signal = inner.store.work_signal();
    let mut next_sweep = Instant::now();
    while !*stop.borrow() {
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if Instant::now() >= next_sweep {
            sweep(&inner).await;
            next_sweep = Instant::now() + poll;
        }
        // A wake-up only re-reads the earliest retry time; the sweep runs when it is due.
        if let Ok(Some(at)) = inner.store.next_retry_at().await {
            let due = Instant::now()
                + (at - Utc::now()).to_std().unwrap_or(Duration::ZERO)
                + Duration::from_millis(1);
            next_sweep = next_sweep.min(due);
        }
        tokio::select! {
            () = &mut notified => {
                // Work signals come with every recorded result: the earliest retry time is
                // re-read at most once per `WAKE_COALESCE`, covering every signal meanwhile.
                tokio::time::sleep(WAKE_COALESCE).await;
            }
            () = tokio::time::sleep_until(next_sweep) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The shortest time between two readings of the earliest retry time prompted by work signals.
const WAKE_COALESCE: Duration = Duration::from_millis(10);

/// Takes expired leases back and enqueues steps whose retry time has come.
async fn sweep(inner: &Inner) {
    let now = Utc::now();
    if let Err(e) = inner.store.expire_leases(now).await {
        tracing::warn!(error = %e, "lease expiry failed");
    }
    if let Err(e) = inner.store.enqueue_due_retries(now).await {
        tracing::warn!(error = %e, "retry promotion failed");
    }
    match inner.store.expire_waiting_steps(now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "approval steps timed out"),
        Err(e) => tracing::warn!(error = %e, "approval timeout sweep failed"),
    }
}

pub(crate) fn thresholds(inner: &Inner) -> Vec<(TaskState, chrono::Duration)> {
    let s = &inner.dlq.staleness;
    let minutes = |m: u64| chrono::Duration::minutes(i64::try_from(m).unwrap_or(i64::MAX / 60_000));
    vec![
        (TaskState::Pending, minutes(s.pending_threshold_minutes)),
        (
            TaskState::StepsInProcess,
            minutes(s.steps_in_process_threshold_minutes),
        ),
        (
            TaskState::WaitingForRetry,
            minutes(s.waiting_for_retry_threshold_minutes),
        ),
    ]
}

async fn staleness_detector(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(inner.dlq.staleness.detector_interval_seconds.max(1));
    let thresholds = thresholds(&inner);
    while !*stop.borrow() {
        match inner
            .store
            .open_stale_entries(&thresholds, Utc::now())
            .await
        {
            Ok(opened) if !opened.is_empty() => {
                tracing::warn!(count = opened.len(), "stale tasks moved to the DLQ");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "staleness detection failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}
