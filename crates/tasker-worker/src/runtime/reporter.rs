//! Result recording for the whole worker: steps hand their outcomes to one reporter, which
//! writes whatever arrived while its writes were in flight as one batch (group commit). A
//! single result is written alone, as soon as it arrives; a burst costs one transaction. Up to
//! `MAX_IN_FLIGHT` writes run at once: a write spends most of its time waiting on the
//! database (round trips, the commit's flush), and one at a time left the worker idle.

use std::sync::Arc;

use chrono::Utc;
use tasker_core::store::{Lease, RecordOutcome, StepReport};
use tasker_core::{Store, StoreError};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// Most results written in one batch.
const MAX_BATCH: usize = 256;

/// Most writes (batches or single results) in flight at once.
const MAX_IN_FLIGHT: usize = 2;

type Reply = oneshot::Sender<Result<RecordOutcome, StoreError>>;

struct Pending {
    lease: Lease,
    report: StepReport,
    reply: Reply,
    /// The reporting step's span: a result written alone is recorded under it.
    span: tracing::Span,
}

/// Hands outcomes to the reporter task.
pub(crate) struct Reporter {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Reporter {
    /// Starts the reporter task; it ends when the `Reporter` is dropped and its queue drained.
    pub(crate) fn start(store: Arc<dyn Store>) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(store, rx));
        Self { queue }
    }

    /// Records one outcome (batched with others reported meanwhile).
    pub(crate) async fn record(
        &self,
        lease: &Lease,
        report: StepReport,
    ) -> Result<RecordOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            lease: lease.clone(),
            report,
            reply,
            span: tracing::Span::current(),
        };
        if self.queue.send(pending).is_err() {
            return Err(StoreError::Conflict(
                "the worker's reporter has stopped".to_owned(),
            ));
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Conflict(
                "the worker's reporter has stopped".to_owned(),
            ))
        })
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Wait for a free write before taking what else arrived, so a batch holds everything
        // reported while the other writes were in flight.
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let store = store.clone();
        tokio::spawn(async move {
            write(&*store, batch).await;
            drop(permit);
        });
    }
    // The queue is closed: wait for the writes still in flight.
    let _ = slots.acquire_many(MAX_IN_FLIGHT as u32).await;
}

/// Writes one batch and answers each of its results.
async fn write(store: &dyn Store, mut batch: Vec<Pending>) {
    if batch.len() == 1 {
        let p = batch.remove(0);
        let outcome = store
            .record_result(&p.lease, p.report, Utc::now())
            .instrument(p.span)
            .await;
        let _ = p.reply.send(outcome);
        return;
    }
    metrics::histogram!("tasker_worker_result_batch_size").record(batch.len() as f64);
    let reports: Vec<(Lease, StepReport)> = batch
        .iter()
        .map(|p| (p.lease.clone(), p.report.clone()))
        .collect();
    let steps: Vec<String> = reports
        .iter()
        .map(|(l, _)| l.step_uuid.to_string())
        .collect();
    let span = tracing::info_span!(target: tasker_config::SPAN_TARGET, "store.record_results",
        otel.kind = "client", results = reports.len() as i64, step_uuids = %steps.join(","));
    match store
        .record_results(&reports, Utc::now())
        .instrument(span)
        .await
    {
        Ok(outcomes) if outcomes.len() == batch.len() => {
            for (p, outcome) in batch.into_iter().zip(outcomes) {
                let _ = p.reply.send(Ok(outcome));
            }
        }
        result => {
            if let Err(e) = result {
                tracing::warn!(error = %e, results = reports.len(), "recording a batch of results failed; recording them one by one");
            }
            // None of the batch is known recorded: each is written on its own (a result
            // whose lease is gone is discarded, so nothing counts twice).
            for p in batch {
                let outcome = store
                    .record_result(&p.lease, p.report, Utc::now())
                    .instrument(p.span)
                    .await;
                let _ = p.reply.send(outcome);
            }
        }
    }
}
