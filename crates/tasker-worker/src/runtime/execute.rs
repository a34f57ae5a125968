//! One claimed step: run its handler in its own task (so a panic becomes a failure), enforce
//! the step timeout, renew the lease while it runs, and report the outcome. A worker that
//! loses its lease stops the handler and reports nothing; a worker told to release its steps
//! (at the end of a shutdown's grace period) stops the handler and gives the lease back. While
//! the handler runs the worker also polls the step's state: once the task is cancelled (by any
//! server, in any process) the handler's cancellation signal is raised, it gets
//! `cancel_grace` to stop, and is then stopped for good; nothing is reported (the store has
//! already recorded the step as cancelled).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tasker_config::SPAN_TARGET;
use tasker_core::Store;
use tasker_core::store::{ClaimedStep, RecordOutcome, StepOutcome, StepReport};
use tracing::Instrument;

use super::log_writer::{Attempt, LogWriter};
use crate::handlers::registry::{HandlerError, HandlerRegistry, StepInput};

pub(crate) struct Execution {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: HandlerRegistry,
    pub(crate) lease: chrono::Duration,
    /// Used when a step carries no timeout of its own.
    pub(crate) default_timeout_seconds: u64,
    /// Most bytes of step log kept per attempt.
    pub(crate) step_log_max_bytes: usize,
    /// Set to `true` when running steps must stop and release their leases.
    pub(crate) release: tokio::sync::watch::Sender<bool>,
    /// Writes outcomes, batched with the other steps' outcomes.
    pub(crate) reporter: super::reporter::Reporter,
    /// How long a cancelled step's handler gets to stop after its signal.
    pub(crate) cancel_grace: Duration,
    /// Outcomes being recorded at most (a step hands its worker slot back when its handler
    /// ends and takes one of these until its outcome is recorded).
    pub(crate) recording: Arc<tokio::sync::Semaphore>,
}

/// How often a running step's state is read to learn that its task was cancelled.
const CANCEL_POLL: Duration = Duration::from_secs(1);

/// How an attempt ended without an outcome to report.
enum Stop {
    /// The worker is shutting down: give the lease back.
    Release,
    /// The lease is gone to another worker: report nothing.
    Abandon,
    /// The step was cancelled: signal the handler, then stop it.
    Cancel,
}

impl Execution {
    /// Runs one attempt in a `step.execute` span that joins the task's trace (the context
    /// stored with the task), with the handler and the result recording as its children.
    /// `slot` (the step's place among the worker's `concurrency`) is dropped when the handler
    /// ends, before the outcome is recorded: recording waits on the database, not on the
    /// worker, and the results of steps that end together are written as one batch.
    pub(crate) async fn run<S: Send>(&self, claimed: ClaimedStep, slot: S) {
        let step = &claimed.step;
        let span = tracing::info_span!(target: SPAN_TARGET, "step.execute",
            otel.name = %format_args!("step {}", step.name),
            task_uuid = %step.task_uuid,
            step_uuid = %step.step_uuid,
            step.name = %step.name,
            step.handler = %step.handler,
            attempt = i64::from(claimed.lease.attempt),
            worker_id = %claimed.lease.worker_id,
            outcome = tracing::field::Empty);
        tasker_telemetry::set_parent(&span, claimed.trace_parent.as_deref());
        self.attempt(claimed, slot).instrument(span).await;
    }

    async fn attempt<S: Send>(&self, claimed: ClaimedStep, slot: S) {
        let started_at = Utc::now();
        let step = &claimed.step;
        let lease = claimed.lease.clone();
        let Some(handler) = self.registry.get(&step.handler) else {
            let error = HandlerError::permanent(format!(
                "no handler `{}` is registered on this worker",
                step.handler
            ));
            self.report(&claimed, failure(&error), started_at).await;
            return;
        };
        let attempt = Attempt {
            task_uuid: step.task_uuid,
            step_uuid: step.step_uuid,
            attempt: lease.attempt,
        };
        let (log, log_writer) =
            LogWriter::start(self.store.clone(), attempt, self.step_log_max_bytes);
        let (canceller, cancel) = crate::handlers::cancel::Cancellation::new();
        let input = StepInput {
            task_uuid: step.task_uuid,
            step_uuid: step.step_uuid,
            step_name: step.name.clone(),
            attempt: lease.attempt,
            context: claimed.context.clone(),
            parent_results: claimed.parent_results.clone(),
            initialization: step.initialization.clone(),
            log,
            batch: step.batch.clone(),
            failed_batches: claimed.failed_batches.clone(),
            cancel,
        };
        let handler_span = tracing::info_span!(target: SPAN_TARGET, "step.handler",
            handler = %step.handler, task_uuid = %step.task_uuid, step_uuid = %step.step_uuid);
        let mut call = AbortOnDrop(tokio::spawn(
            async move { handler.call(input).await }.instrument(handler_span),
        ));
        let timeout_seconds = match step.timeout_seconds {
            0 => self.default_timeout_seconds.max(1),
            n => n,
        };
        let timeout = tokio::time::sleep(Duration::from_secs(timeout_seconds));
        tokio::pin!(timeout);
        let renew_every = (self.lease / 3).to_std().unwrap_or(Duration::from_secs(1));
        let mut renew =
            tokio::time::interval_at(tokio::time::Instant::now() + renew_every, renew_every);
        let handler_started = std::time::Instant::now();
        let mut release = self.release.subscribe();
        let mut poll =
            tokio::time::interval_at(tokio::time::Instant::now() + CANCEL_POLL, CANCEL_POLL);
        let outcome = loop {
            tokio::select! {
                joined = &mut call.0 => break Ok(match joined {
                    Ok(Ok(value)) => StepOutcome::Success(value),
                    Ok(Err(error)) => failure(&error),
                    Err(join) => failure(&HandlerError::retryable(format!("handler panicked: {join}"))),
                }),
                () = &mut timeout => {
                    break Ok(failure(&HandlerError::retryable(format!(
                        "timed out after {timeout_seconds} s"
                    ))));
                }
                () = released(&mut release) => break Err(Stop::Release),
                _ = poll.tick() => {
                    if self.cancelled(step.step_uuid).await {
                        break Err(Stop::Cancel);
                    }
                }
                _ = renew.tick() => {
                    match self.store.renew_lease(&lease, Utc::now() + self.lease).await {
                        Ok(true) => metrics::counter!("tasker_worker_lease_renewals_total").increment(1),
                        Ok(false) if self.cancelled(step.step_uuid).await => break Err(Stop::Cancel),
                        Ok(false) => break Err(Stop::Abandon),
                        Err(e) => tracing::warn!(step = %step.step_uuid, error = %e, "lease renewal failed"),
                    }
                }
            }
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(Stop::Abandon) => {
                tracing::warn!(step = %step.step_uuid, "lease lost; abandoning the attempt");
                return;
            }
            Err(Stop::Release) => {
                // Stop the handler before giving the step away; its task ends once the handler
                // future is dropped, which kills a command's process group.
                call.0.abort();
                let _ = (&mut call.0).await;
                self.release_lease(&lease).await;
                return;
            }
            Err(Stop::Cancel) => {
                tracing::info!(step = %step.step_uuid, grace_seconds = self.cancel_grace.as_secs(),
                    "step cancelled; signalling its handler");
                canceller.cancel();
                if tokio::time::timeout(self.cancel_grace, &mut call.0)
                    .await
                    .is_err()
                {
                    tracing::warn!(step = %step.step_uuid, "handler still running after the cancel grace period; stopping it");
                }
                drop(call);
                log_writer.finish().await;
                metrics::counter!("tasker_worker_steps_total", "result" => "cancelled")
                    .increment(1);
                return;
            }
        };
        metrics::histogram!("tasker_worker_handler_duration_seconds", "handler" => step.handler.clone())
            .record(handler_started.elapsed().as_secs_f64());
        // The attempt's log is complete before its result is: once a step leaves
        // `in_progress`, a reader has every line.
        drop(call);
        log_writer.finish().await;
        let recording = self.recording.acquire().await;
        let held = self.reporter.hold_slot();
        drop(slot);
        self.report(&claimed, outcome, started_at).await;
        drop((held, recording));
    }

    /// Whether the step was cancelled (its task cancelled); a failed read says no.
    async fn cancelled(&self, step_uuid: uuid::Uuid) -> bool {
        matches!(
            self.store.step_state(step_uuid).await,
            Ok(Some(tasker_core::StepState::Cancelled))
        )
    }

    /// Gives the lease back after the handler was stopped; on failure the lease expires.
    async fn release_lease(&self, lease: &tasker_core::store::Lease) {
        match self.store.release_lease(lease, Utc::now()).await {
            Ok(true) => {
                metrics::counter!("tasker_worker_steps_total", "result" => "released").increment(1);
                tracing::info!(step = %lease.step_uuid, attempt = lease.attempt, "lease released");
            }
            Ok(false) => {
                tracing::info!(step = %lease.step_uuid, "lease no longer held; nothing to release");
            }
            Err(e) => {
                tracing::warn!(step = %lease.step_uuid, error = %e, "releasing the lease failed; it will expire");
            }
        }
    }

    async fn report(
        &self,
        claimed: &ClaimedStep,
        outcome: StepOutcome,
        started_at: chrono::DateTime<Utc>,
    ) {
        let result = if matches!(outcome, StepOutcome::Success(_)) {
            "completed"
        } else {
            "failed"
        };
        metrics::counter!("tasker_worker_steps_total", "result" => result).increment(1);
        tracing::Span::current().record("outcome", result);
        let recording = tracing::info_span!(target: SPAN_TARGET, "step.record_result",
            task_uuid = %claimed.step.task_uuid, step_uuid = %claimed.step.step_uuid,
            outcome = result);
        self.record(claimed, outcome, started_at)
            .instrument(recording)
            .await;
    }

    async fn record(
        &self,
        claimed: &ClaimedStep,
        outcome: StepOutcome,
        started_at: chrono::DateTime<Utc>,
    ) {
        let report = StepReport {
            outcome,
            started_at,
            jitter_sample: rand::random::<f64>(),
        };
        for attempt in 1..=3u64 {
            let recorded = if attempt == 1 {
                self.reporter.record(&claimed.lease, report.clone()).await
            } else {
                self.store
                    .record_result(&claimed.lease, report.clone(), Utc::now())
                    .await
            };
            match recorded {
                Ok(RecordOutcome::Discarded) => {
                    tracing::info!(step = %claimed.step.step_uuid, "result discarded: lease no longer held");
                    return;
                }
                Ok(outcome) => {
                    tracing::debug!(step = %claimed.step.step_uuid, ?outcome, "result recorded");
                    return;
                }
                Err(e) => {
                    tracing::warn!(step = %claimed.step.step_uuid, error = %e, attempt, "recording the result failed");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
            }
        }
    }
}

/// Completes once `release` is `true`; never when its sender is gone.
async fn released(release: &mut tokio::sync::watch::Receiver<bool>) {
    let closed = release.wait_for(|r| *r).await.is_err();
    if closed {
        std::future::pending::<()>().await;
    }
}

/// Aborts the handler task when the attempt ends early (timeout, lost lease, worker dropped).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn failure(error: &HandlerError) -> StepOutcome {
    let mut body = json!({ "message": error.message });
    if let Some(details) = &error.details {
        body["details"] = details.clone();
    }
    StepOutcome::Failure {
        error: body,
        retryable: error.retryable,
    }
}
