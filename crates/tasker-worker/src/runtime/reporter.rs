//! Result recording for the whole worker: steps hand their outcomes to one reporter, which
//! writes whatever arrived while its writes were in flight as one batch (group commit). A
//! single result is written alone, as soon as it arrives; a burst costs one transaction. Up to
//! `MAX_IN_FLIGHT` writes run at once: a write spends most of its time waiting on the
//! database (round trips, the commit's flush), and one at a time left the worker idle.
//!
//! A write also claims the next steps for the slots its results free (`Handoff`), in the
//! transaction that records them: the step a result enqueues is claimed by the commit that
//! enqueues it, with no wake-up and no claim of its own in between.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chrono::Utc;
use tasker_core::store::{ClaimRequest, ClaimedStep, Lease, RecordOutcome, StepReport};
use tasker_core::{Store, StoreError};
use tokio::sync::{Notify, mpsc, oneshot};
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
    handoff: Option<Arc<Handoff>>,
}

/// Steps the reporter claims together with results, for the slots the reporting steps free,
/// on their way to the claim loop (`dispatch`), which starts them like the steps it claims.
pub(crate) struct Handoff {
    /// What the reporter claims with (its `limit` is set per write).
    request: ClaimRequest,
    /// Slots freed by steps whose outcomes are queued or being written ([`HeldSlot`]): each
    /// write may claim a step for its slot, so the claim loop does not claim for them itself.
    pub(super) pending: AtomicUsize,
    /// Steps in the claim loop's buffer, which the freed slots take first.
    pub(super) buffered: AtomicUsize,
    /// Raised when a write is done (steps handed over, or none).
    pub(super) done: Notify,
    /// Set when the claim loop stops: writes claim nothing more.
    pub(super) closed: AtomicBool,
    steps: mpsc::UnboundedSender<Vec<ClaimedStep>>,
}

impl Handoff {
    /// The handoff and the claim loop's end of it.
    pub(crate) fn new(request: ClaimRequest) -> (Arc<Self>, HandoffReceiver) {
        let (steps, rx) = mpsc::unbounded_channel();
        let handoff = Arc::new(Self {
            request,
            pending: AtomicUsize::new(0),
            buffered: AtomicUsize::new(0),
            done: Notify::new(),
            closed: AtomicBool::new(false),
            steps,
        });
        (handoff, rx)
    }

    /// The claim for a write of `results` results: one step per freed slot, less the steps
    /// already buffered for them.
    fn claim_for(&self, results: usize) -> Option<ClaimRequest> {
        if self.closed.load(Ordering::SeqCst) {
            return None;
        }
        let want = results.saturating_sub(self.buffered.load(Ordering::SeqCst));
        (want > 0).then(|| ClaimRequest {
            limit: u32::try_from(want).unwrap_or(u32::MAX),
            ..self.request.clone()
        })
    }

    /// Hands claimed steps to the claim loop; once it has stopped, gives their leases back.
    async fn hand_over(&self, store: &dyn Store, steps: Vec<ClaimedStep>) {
        if steps.is_empty() {
            return;
        }
        metrics::counter!("tasker_worker_steps_total", "result" => "claimed")
            .increment(steps.len() as u64);
        if let Err(mpsc::error::SendError(steps)) = self.steps.send(steps) {
            for step in steps {
                if let Err(e) = store.release_lease(&step.lease, Utc::now()).await {
                    tracing::warn!(step = %step.lease.step_uuid, error = %e, "handing back a step claimed while stopping failed; its lease will expire");
                }
            }
        }
    }
}

/// A slot left to the write of its step's outcome ([`Reporter::hold_slot`]); dropping it
/// gives the slot back to the claim loop and wakes it.
pub(crate) struct HeldSlot(Arc<Handoff>);

impl Drop for HeldSlot {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::SeqCst);
        self.0.done.notify_one();
    }
}

/// The claim loop's end of the [`Handoff`].
pub(crate) type HandoffReceiver = mpsc::UnboundedReceiver<Vec<ClaimedStep>>;

impl Reporter {
    /// Starts the reporter task; it ends when the `Reporter` is dropped and its queue drained.
    /// With a `handoff`, writes also claim steps for the slots their results free.
    pub(crate) fn start(store: Arc<dyn Store>, handoff: Option<Arc<Handoff>>) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(store, rx, handoff.clone()));
        Self { queue, handoff }
    }

    /// Marks a slot about to be freed by a step whose outcome follows: until the mark is
    /// dropped (after the outcome is recorded), the claim loop leaves that slot to the
    /// write, which claims its next step. Take it before freeing the slot.
    pub(crate) fn hold_slot(&self) -> Option<HeldSlot> {
        self.handoff.as_ref().map(|h| {
            h.pending.fetch_add(1, Ordering::SeqCst);
            HeldSlot(h.clone())
        })
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

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    handoff: Option<Arc<Handoff>>,
) {
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
        let handoff = handoff.clone();
        tokio::spawn(async move {
            let results = batch.len();
            match &handoff {
                Some(h) => match h.claim_for(results) {
                    Some(claim) => write_and_claim(&*store, batch, h, &claim).await,
                    None => write(&*store, batch).await,
                },
                None => write(&*store, batch).await,
            }
            if let Some(h) = &handoff {
                h.done.notify_one();
            }
            drop(permit);
        });
    }
    // The queue is closed: wait for the writes still in flight.
    let _ = slots.acquire_many(MAX_IN_FLIGHT as u32).await;
}

/// Writes one batch with a claim for its freed slots, hands the claimed steps over and
/// answers each result; a failed write falls back to [`write`] (which claims nothing).
async fn write_and_claim(
    store: &dyn Store,
    batch: Vec<Pending>,
    handoff: &Handoff,
    claim: &ClaimRequest,
) {
    let reports: Vec<(Lease, StepReport)> = batch
        .iter()
        .map(|p| (p.lease.clone(), p.report.clone()))
        .collect();
    let span = if batch.len() == 1 {
        batch[0].span.clone()
    } else {
        batch_span(&reports)
    };
    let written = store
        .record_results_and_claim(&reports, claim, Utc::now())
        .instrument(span)
        .await;
    match written {
        Ok((outcomes, steps)) if outcomes.len() == batch.len() => {
            handoff.hand_over(store, steps).await;
            for (p, outcome) in batch.into_iter().zip(outcomes) {
                let _ = p.reply.send(Ok(outcome));
            }
        }
        Ok((_, steps)) => {
            handoff.hand_over(store, steps).await;
            write(store, batch).await;
        }
        Err(e) => {
            tracing::warn!(error = %e, results = batch.len(), "recording results with a claim failed; recording them without");
            write(store, batch).await;
        }
    }
}

/// The span of a batch written together (the steps' own spans stay with them); records the
/// batch's size.
fn batch_span(reports: &[(Lease, StepReport)]) -> tracing::Span {
    metrics::histogram!("tasker_worker_result_batch_size").record(reports.len() as f64);
    let steps: Vec<String> = reports
        .iter()
        .map(|(l, _)| l.step_uuid.to_string())
        .collect();
    tracing::info_span!(target: tasker_config::SPAN_TARGET, "store.record_results",
        otel.kind = "client", results = reports.len() as i64, step_uuids = %steps.join(","))
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
    let reports: Vec<(Lease, StepReport)> = batch
        .iter()
        .map(|p| (p.lease.clone(), p.report.clone()))
        .collect();
    let span = batch_span(&reports);
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use tasker_core::store::ClaimRequest;

    use super::Handoff;

    fn handoff() -> std::sync::Arc<Handoff> {
        Handoff::new(ClaimRequest {
            worker_id: "w".into(),
            namespaces: vec!["ns".into()],
            limit: 0,
            lease: chrono::Duration::seconds(30),
        })
        .0
    }

    /// A step claimed with a result after the claim loop stopped goes back to the queue at
    /// once (its attempt not counted) instead of waiting for its lease to expire.
    #[tokio::test]
    async fn steps_that_can_no_longer_be_handed_over_are_released() {
        use tasker_core::store::{NewStep, NewTask, StepDefaults, TaskMeta};
        use tasker_core::{BackoffSettings, StepState, Store, parse_template};

        let dir = tempfile::tempdir().unwrap();
        let url =
            tasker_config::DatabaseUrl::new(format!("sqlite://{}/t.db", dir.path().display()));
        let store = tasker_store::connect(&url, None).await.unwrap();
        let template = parse_template(
            "name: one\nnamespace: ns\nversion: 1.0.0\nsteps:\n  - {name: only, handler: {callable: h}}\n",
        )
        .unwrap();
        let defaults = StepDefaults {
            max_attempts: 3,
            timeout_seconds: 60,
            backoff: BackoffSettings {
                base_ms: 100,
                max_ms: 1000,
                jitter_percent: 0,
            },
        };
        let now = chrono::Utc::now();
        let task = NewTask {
            task_uuid: uuid::Uuid::new_v4(),
            namespace: template.namespace.clone(),
            name: template.name.clone(),
            version: template.version.clone(),
            context: serde_json::json!({}),
            created_by: "test".into(),
            meta: TaskMeta::default(),
            plan: None,
            steps: NewStep::plan(&template, &defaults, uuid::Uuid::new_v4),
            trace_parent: None,
        };
        let task = store.create_task(task, now).await.unwrap().task_uuid;
        let (h, rx) = Handoff::new(ClaimRequest {
            worker_id: "w".into(),
            namespaces: vec![],
            limit: 0,
            lease: chrono::Duration::seconds(30),
        });
        let claim = h.claim_for(1).unwrap();
        let steps = store.claim_steps(&claim, now).await.unwrap();
        assert_eq!(steps.len(), 1);
        drop(rx);
        h.hand_over(&store, steps).await;
        let step = &store.list_steps(task).await.unwrap()[0];
        assert_eq!((step.status, step.attempts), (StepState::Enqueued, 0));
    }

    #[test]
    fn a_write_claims_one_step_per_result_less_the_buffered_ones() {
        let h = handoff();
        let claim = h.claim_for(3).expect("nothing buffered: a step per result");
        assert_eq!(
            (
                claim.limit,
                claim.worker_id.as_str(),
                claim.namespaces.as_slice()
            ),
            (3, "w", ["ns".to_owned()].as_slice())
        );
        h.buffered.store(2, Ordering::SeqCst);
        assert_eq!(h.claim_for(3).map(|c| c.limit), Some(1));
        assert!(
            h.claim_for(2).is_none(),
            "the buffer covers every freed slot"
        );
        h.buffered.store(0, Ordering::SeqCst);
        h.closed.store(true, Ordering::SeqCst);
        assert!(
            h.claim_for(3).is_none(),
            "a stopped claim loop takes nothing more"
        );
    }
}
