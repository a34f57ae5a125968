//! One claimed step: run its handler in its own task (so a panic becomes a failure), enforce
//! the step timeout, renew the lease while it runs, and report the outcome. A worker that
//! loses its lease stops the handler and reports nothing.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tasker_core::Store;
use tasker_core::store::{ClaimedStep, RecordOutcome, StepOutcome, StepReport};

use crate::handlers::registry::{HandlerError, HandlerRegistry, StepInput};

pub(crate) struct Execution {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: HandlerRegistry,
    pub(crate) lease: chrono::Duration,
    /// Used when a step carries no timeout of its own.
    pub(crate) default_timeout_seconds: u64,
}

impl Execution {
    pub(crate) async fn run(&self, claimed: ClaimedStep) {
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
        let input = StepInput {
            task_uuid: step.task_uuid,
            step_uuid: step.step_uuid,
            step_name: step.name.clone(),
            attempt: lease.attempt,
            context: claimed.context.clone(),
            parent_results: claimed.parent_results.clone(),
            initialization: step.initialization.clone(),
            batch: step.batch.clone(),
            failed_batches: claimed.failed_batches.clone(),
        };
        let mut call = AbortOnDrop(tokio::spawn(async move { handler.call(input).await }));
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
        let outcome = loop {
            tokio::select! {
                joined = &mut call.0 => break match joined {
                    Ok(Ok(value)) => StepOutcome::Success(value),
                    Ok(Err(error)) => failure(&error),
                    Err(join) => failure(&HandlerError::retryable(format!("handler panicked: {join}"))),
                },
                () = &mut timeout => {
                    break failure(&HandlerError::retryable(format!(
                        "timed out after {timeout_seconds} s"
                    )));
                }
                _ = renew.tick() => {
                    match self.store.renew_lease(&lease, Utc::now() + self.lease).await {
                        Ok(true) => metrics::counter!("tasker_worker_lease_renewals_total").increment(1),
                        Ok(false) => {
                            tracing::warn!(step = %step.step_uuid, "lease lost; abandoning the attempt");
                            return;
                        }
                        Err(e) => tracing::warn!(step = %step.step_uuid, error = %e, "lease renewal failed"),
                    }
                }
            }
        };
        metrics::histogram!("tasker_worker_handler_duration_seconds", "handler" => step.handler.clone())
            .record(handler_started.elapsed().as_secs_f64());
        self.report(&claimed, outcome, started_at).await;
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
        let report = StepReport {
            outcome,
            started_at,
            jitter_sample: rand::random::<f64>(),
        };
        for attempt in 1..=3u64 {
            match self
                .store
                .record_result(&claimed.lease, report.clone(), Utc::now())
                .await
            {
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
