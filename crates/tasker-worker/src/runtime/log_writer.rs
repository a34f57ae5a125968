//! The writer of one attempt's step log: drains the [`StepLog`] channel into the store while
//! the handler runs, one batch per store call (whatever arrived since the last write), so lines
//! are readable moments after they were written and a chatty program costs few round trips.

use std::sync::Arc;
use std::time::Duration;

use tasker_core::Store;
use tasker_core::store::NewLogLine;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::handlers::step_log::StepLog;

/// Most lines written in one store call.
const BATCH: usize = 500;
/// Longest wait for the last lines at the end of an attempt (a stuck database must not hold
/// the result back for long).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Which attempt a writer appends to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    pub(crate) task_uuid: Uuid,
    pub(crate) step_uuid: Uuid,
    pub(crate) attempt: u32,
}

/// A running writer; [`LogWriter::finish`] stores what is left and stops it.
pub(crate) struct LogWriter {
    done: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LogWriter {
    /// The log handle for a handler and its writer. With `max_bytes == 0` nothing is kept.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        attempt: Attempt,
        max_bytes: usize,
    ) -> (StepLog, LogWriter) {
        if max_bytes == 0 {
            let idle = LogWriter {
                done: None,
                task: None,
            };
            return (StepLog::discard(), idle);
        }
        let (log, receiver) = StepLog::channel(max_bytes);
        let (done, stop) = oneshot::channel();
        let task = tokio::spawn(drain(store, attempt, receiver, stop));
        let writer = LogWriter {
            done: Some(done),
            task: Some(task),
        };
        (log, writer)
    }

    /// Stores the lines written so far and stops; lines written later are dropped.
    pub(crate) async fn finish(mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
        if let Some(task) = self.task.take()
            && tokio::time::timeout(FLUSH_TIMEOUT, task).await.is_err()
        {
            tracing::warn!("the step log's last lines were not stored in time");
        }
    }
}

async fn drain(
    store: Arc<dyn Store>,
    attempt: Attempt,
    mut receiver: mpsc::UnboundedReceiver<NewLogLine>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut stopping = false;
    loop {
        let first = if stopping {
            None
        } else {
            tokio::select! {
                biased;
                line = receiver.recv() => line,
                _ = &mut stop => {
                    stopping = true;
                    None
                }
            }
        };
        let mut batch: Vec<NewLogLine> = first.into_iter().collect();
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        // Empty: stopped with nothing left, or every handle is gone.
        if batch.is_empty() {
            return;
        }
        if let Err(e) = store
            .append_step_log(
                attempt.task_uuid,
                attempt.step_uuid,
                attempt.attempt,
                &batch,
            )
            .await
        {
            tracing::warn!(step = %attempt.step_uuid, error = %e, lines = batch.len(), "storing step log lines failed");
        }
    }
}
