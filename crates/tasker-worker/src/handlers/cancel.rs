//! `Cancellation`: the signal a handler gets when the task of the step it runs is cancelled
//! (the worker learns it through the store). A handler that watches it can stop cleanly; one
//! that does not is stopped once `worker.cancel_grace_seconds` have passed.

use tokio::sync::watch;

/// Read side of a step's cancellation signal; cheap to clone.
#[derive(Debug, Clone)]
pub struct Cancellation(watch::Receiver<bool>);

/// The worker's side of a [`Cancellation`].
#[derive(Debug)]
pub(crate) struct Canceller(watch::Sender<bool>);

impl Cancellation {
    /// A signal and the sender that raises it.
    pub(crate) fn new() -> (Canceller, Cancellation) {
        let (tx, rx) = watch::channel(false);
        (Canceller(tx), Cancellation(rx))
    }

    /// Whether the step was cancelled.
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once the step is cancelled; never, when the worker dropped the sender
    /// without cancelling.
    pub async fn cancelled(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Default for Cancellation {
    /// A signal that is never raised.
    fn default() -> Self {
        Cancellation(watch::channel(false).1)
    }
}

impl PartialEq for Cancellation {
    /// Two signals are equal when they are in the same state.
    fn eq(&self, other: &Self) -> bool {
        self.is_cancelled() == other.is_cancelled()
    }
}

impl Canceller {
    /// Raises the signal.
    pub(crate) fn cancel(&self) {
        self.0.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_raised_signal_wakes_its_watchers() {
        let (tx, rx) = Cancellation::new();
        assert!(!rx.is_cancelled());
        let watcher = tokio::spawn({
            let rx = rx.clone();
            async move { rx.cancelled().await }
        });
        tx.cancel();
        watcher.await.unwrap();
        assert!(rx.is_cancelled());
        assert!(!Cancellation::default().is_cancelled());
    }
}
