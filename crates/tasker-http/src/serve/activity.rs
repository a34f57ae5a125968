//! What one connection is doing, and the deadline that applies to it: reading a request head
//! (header timeout), waiting between requests (idle timeout), or serving requests (no deadline
//! here: the request timeout and the write timeout bound that).
//!
//! hyper's own header timer starts whenever the server is ready to read, so it would also
//! close kept-alive connections after the header timeout; tracking the phase here lets the
//! idle timeout and the header timeout mean what their names say.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::http_metrics::Rejection;

/// The phase of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Receiving a request head since `since` (the connection's opening for its first
    /// request, else the first byte after an idle wait).
    Head { since: Instant },
    /// No request in progress and no byte received since `since`.
    Idle { since: Instant },
    /// `requests` requests are being handled or their responses written.
    Busy { requests: usize },
}

impl Phase {
    fn on_read(self, now: Instant) -> Self {
        match self {
            Phase::Idle { .. } => Phase::Head { since: now },
            other => other,
        }
    }

    fn on_request(self) -> Self {
        match self {
            Phase::Busy { requests } => Phase::Busy {
                requests: requests + 1,
            },
            _ => Phase::Busy { requests: 1 },
        }
    }

    fn on_response_done(self, now: Instant) -> Self {
        match self {
            Phase::Busy { requests } if requests > 1 => Phase::Busy {
                requests: requests - 1,
            },
            Phase::Busy { .. } => Phase::Idle { since: now },
            other => other,
        }
    }

    fn deadline(self, timeouts: &PhaseTimeouts) -> Option<(Instant, Rejection)> {
        match self {
            Phase::Head { since } => Some((since + timeouts.header, Rejection::HeaderTimeout)),
            Phase::Idle { since } => Some((since + timeouts.idle, Rejection::IdleTimeout)),
            Phase::Busy { .. } => None,
        }
    }
}

/// The two phase deadlines of a connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct PhaseTimeouts {
    pub(super) header: Duration,
    pub(super) idle: Duration,
}

/// A connection's phase, shared by its IO (reads), its service (requests) and its driver
/// (deadlines). Phase changes that move a deadline wake the driver.
#[derive(Debug)]
pub(super) struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
}

impl Activity {
    /// A connection opened at `now`: its first request head is expected at once.
    pub(super) fn new(now: Instant) -> Self {
        Self {
            phase: Mutex::new(Phase::Head { since: now }),
            changed: Notify::new(),
        }
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        let before = *phase;
        *phase = change(before);
        if std::mem::discriminant(&before) != std::mem::discriminant(&*phase) {
            self.changed.notify_one();
        }
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived from the client.
    pub(super) fn on_read(&self) {
        self.update(|phase| phase.on_read(Instant::now()));
    }

    /// A request head was parsed; the connection is busy until the guard drops (with the
    /// response body, once it is written).
    pub(super) fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.update(Phase::on_request);
        RequestGuard(self.clone())
    }

    /// When and why the connection is to be closed, unless its phase changes first.
    pub(super) fn deadline(&self, timeouts: &PhaseTimeouts) -> Option<(Instant, Rejection)> {
        self.phase().deadline(timeouts)
    }

    /// Whether a request head is being received: such a connection has nothing to finish.
    pub(super) fn reading_head(&self) -> bool {
        matches!(self.phase(), Phase::Head { .. })
    }

    /// Completes when the phase changed since the last call.
    pub(super) async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// Holds the connection busy while a request is handled and its response written.
#[derive(Debug)]
pub(super) struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0
            .update(|phase| phase.on_response_done(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: PhaseTimeouts = PhaseTimeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    #[test]
    fn a_new_connection_must_send_its_head_within_the_header_timeout() {
        let opened = Instant::now();
        let phase = Phase::Head { since: opened };
        assert_eq!(
            phase.deadline(&TIMEOUTS),
            Some((opened + TIMEOUTS.header, Rejection::HeaderTimeout))
        );
        // More bytes of the same head do not extend it.
        let later = opened + Duration::from_secs(9);
        assert_eq!(phase.on_read(later), phase);
    }

    #[test]
    fn a_served_connection_waits_the_idle_timeout_then_the_header_timeout() {
        let t0 = Instant::now();
        let busy = Phase::Head { since: t0 }.on_request();
        assert_eq!(busy.deadline(&TIMEOUTS), None);
        let done = t0 + Duration::from_secs(1);
        let idle = busy.on_response_done(done);
        assert_eq!(
            idle.deadline(&TIMEOUTS),
            Some((done + TIMEOUTS.idle, Rejection::IdleTimeout))
        );
        let first_byte = done + Duration::from_secs(30);
        assert_eq!(
            idle.on_read(first_byte).deadline(&TIMEOUTS),
            Some((first_byte + TIMEOUTS.header, Rejection::HeaderTimeout))
        );
    }

    #[test]
    fn a_connection_stays_busy_until_every_response_is_done() {
        let t0 = Instant::now();
        let two = Phase::Idle { since: t0 }.on_request().on_request();
        let one = two.on_response_done(t0);
        assert_eq!(one, Phase::Busy { requests: 1 });
        assert_eq!(one.on_read(t0), one);
        assert_eq!(one.on_response_done(t0), Phase::Idle { since: t0 });
    }

    #[tokio::test]
    async fn phase_changes_that_move_the_deadline_wake_the_driver() {
        let activity = Arc::new(Activity::new(Instant::now()));
        assert!(activity.reading_head());
        let guard = activity.begin_request();
        activity.changed().await;
        assert!(!activity.reading_head());
        drop(guard);
        activity.changed().await;
        assert_eq!(
            activity.deadline(&TIMEOUTS).map(|(_, why)| why),
            Some(Rejection::IdleTimeout)
        );
    }
}
