//! The claim loop: claims ready steps for the free slots plus a buffer of `prefetch` steps
//! held under this worker's lease, starts buffered steps the moment a slot frees, and claims
//! again (in the background, while buffered steps keep starting) once the buffer is down to
//! half. A buffered step that waits too long for a slot is handed back to the queue, and a
//! stopping worker hands back its whole buffer: in both cases the attempt does not count.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use tasker_core::StoreError;
use tasker_core::store::{ClaimRequest, ClaimedStep, Lease};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::reporter::HandoffReceiver;
use super::worker::{Shared, Slot, execute};

/// A claimed step waiting for a slot.
struct Buffered {
    step: ClaimedStep,
    since: Instant,
}

/// The longest a buffered step waits for a slot before it is handed back: a third of the
/// lease. The attempt's first renewal comes a third of the lease after its start, so a step
/// started at the end of this wait is still renewed well before its lease runs out.
pub(super) fn longest_buffered_wait(lease: chrono::Duration) -> Duration {
    (lease / 3)
        .to_std()
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(100))
}

/// How fast this worker starts steps (counted in windows of [`Pace::WINDOW`]), how long its
/// claims take, and whether the queue has a backlog. While the queue keeps up (a claim got
/// fewer steps than it asked for), the buffer holds what the worker starts during a few
/// claims ([`Pace::CLAIMS_AHEAD`]): refilled at half, it does not run dry, and a step waits in
/// it about that long at most. While a backlog waits in the queue (a claim sent with every
/// slot busy got all it asked for), steps wait there or here alike, and the buffer covers
/// more claims ([`Pace::CLAIMS_AHEAD_UNDER_BACKLOG`]), so each claim takes many steps. A worker whose slots are busy with long steps starts few
/// and claims only for its free slots; one that runs short steps claims ahead.
#[derive(Debug)]
struct Pace {
    window_start: Instant,
    current: usize,
    previous: usize,
    /// Recent claim duration (moving average), in seconds.
    claim_secs: f64,
    /// Whether the last claim got every step it asked for.
    backlog: bool,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            window_start: Instant::now(),
            current: 0,
            previous: 0,
            claim_secs: 0.0,
            backlog: false,
        }
    }
}

impl Pace {
    const WINDOW: Duration = Duration::from_secs(1);
    /// Claim durations the buffer covers: refilled at half, it lasts two claims.
    const CLAIMS_AHEAD: f64 = 4.0;
    /// Claim durations the buffer covers under a backlog: claims take many steps at once.
    const CLAIMS_AHEAD_UNDER_BACKLOG: f64 = 16.0;
    /// The least time the buffer covers, whatever the claims take.
    const MIN_AHEAD: Duration = Duration::from_millis(2);

    fn roll(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.window_start);
        if elapsed >= Self::WINDOW * 2 {
            self.previous = 0;
            self.current = 0;
            self.window_start = now;
        } else if elapsed >= Self::WINDOW {
            self.previous = self.current;
            self.current = 0;
            self.window_start += Self::WINDOW;
        }
    }

    fn started(&mut self, n: usize) {
        self.roll(Instant::now());
        self.current += n;
    }

    /// Records how long a claim took and whether it found a backlog (sent while every slot
    /// was busy, it got all it asked for).
    fn claimed(&mut self, took: Duration, backlog: bool) {
        self.backlog = backlog;
        let secs = took.as_secs_f64();
        self.claim_secs = if self.claim_secs == 0.0 {
            secs
        } else {
            0.8 * self.claim_secs + 0.2 * secs
        };
    }

    /// Steps to hold ahead of the free slots: the starts (of the busier of the last two
    /// windows) during [`Pace::CLAIMS_AHEAD`] claims, or during a whole window under a
    /// backlog; at least one when any started, at most `prefetch`.
    fn target(&mut self, prefetch: usize) -> usize {
        self.roll(Instant::now());
        let starts = self.current.max(self.previous);
        let claims = if self.backlog {
            Self::CLAIMS_AHEAD_UNDER_BACKLOG
        } else {
            Self::CLAIMS_AHEAD
        };
        let ahead = (self.claim_secs * claims)
            .clamp(Self::MIN_AHEAD.as_secs_f64(), Self::WINDOW.as_secs_f64());
        let per_window = Self::WINDOW.as_secs_f64();
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let wanted = (starts as f64 * ahead / per_window).ceil() as usize;
        wanted.min(prefetch)
    }
}

type Claim = JoinHandle<Result<Vec<ClaimedStep>, StoreError>>;
/// A claim in flight: its task, the steps asked for, when it was sent, and whether every
/// slot was busy then.
type InFlight = (Claim, usize, Instant, bool);

/// Runs until the worker stops, then hands back the buffer and waits for the running steps.
pub(super) async fn run(shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.concurrency));
    let mut running: JoinSet<()> = JoinSet::new();
    let mut buffer: VecDeque<Buffered> = VecDeque::new();
    let mut claim: Option<InFlight> = None;
    let signal = shared.store.work_signal();
    let longest_wait = longest_buffered_wait(shared.execution.lease);
    // Whether a buffered step started since the last claim: the buffer is refilled only while
    // steps flow through it, so slots busy with long steps do not keep claiming and handing
    // back the same steps.
    let mut flowing = false;
    let mut pace = Pace::default();
    // Whether work was announced while a claim ran (that claim may have missed it).
    let mut signalled = false;
    let mut handed = shared
        .handed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    while !shared.stopping.load(Ordering::SeqCst) {
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Steps the reporter handed over take their slots before the free ones are counted.
        take_handed(&mut handed, &mut buffer);
        let started = start_buffered(&shared, &slots, &mut buffer, &mut running);
        pace.started(started);
        flowing |= started > 0;
        if hand_back_aged(&shared, &mut buffer, &mut running, longest_wait) {
            flowing = false;
            shared
                .handoff
                .buffered
                .store(buffer.len(), Ordering::SeqCst);
        }
        if claim.is_none() {
            // Slots whose results are being written get their next steps with that write.
            let free = slots
                .available_permits()
                .saturating_sub(shared.handoff.pending.load(Ordering::SeqCst));
            let ahead = pace.target(shared.prefetch);
            let want = free + ahead.saturating_sub(buffer.len());
            // Claim for a free slot at once; refill the buffer once it is down to half.
            if want > 0 && (free > 0 || (flowing && buffer.len() <= ahead / 2)) {
                claim = Some((spawn_claim(&shared, want), want, Instant::now(), free == 0));
                flowing = false;
                signalled = false;
            }
        }
        while running.try_join_next().is_some() {}
        let aged_at = buffer.front().map(|b| b.since + longest_wait);
        let wait_until = Instant::now() + shared.poll;
        let wait_until = aged_at.map_or(wait_until, |a| a.min(wait_until));
        tokio::select! {
            (joined, want, sent, saturated) = join_claim(&mut claim) => {
                let got = claimed(&shared, joined);
                let claimed_all = got.len() == want;
                pace.claimed(sent.elapsed(), saturated && claimed_all);
                let now = Instant::now();
                buffer.extend(got.into_iter().map(|step| Buffered { step, since: now }));
                shared.handoff.buffered.store(buffer.len(), Ordering::SeqCst);
                if !claimed_all && !std::mem::take(&mut signalled) {
                    // The queue had fewer steps than asked for, and no work was announced
                    // while the claim ran: wait for a signal before asking again.
                    let started = start_buffered(&shared, &slots, &mut buffer, &mut running);
                    pace.started(started);
                    flowing |= started > 0;
                    tokio::select! {
                        () = &mut notified => {}
                        () = shared.wake.notified() => {}
                        () = shared.handoff.done.notified() => {}
                        () = tokio::time::sleep_until(wait_until) => {}
                    }
                }
            }
            () = &mut notified => signalled |= claim.is_some(),
            () = shared.wake.notified() => {}
            () = shared.handoff.done.notified() => {}
            () = tokio::time::sleep_until(wait_until) => {}
        }
    }
    // The reporter claims nothing more; a step it claimed meanwhile and can no longer hand
    // over, it hands back itself.
    shared.handoff.closed.store(true, Ordering::SeqCst);
    if let Some(rx) = handed.as_mut() {
        rx.close();
    }
    take_handed(&mut handed, &mut buffer);
    if let Some((in_flight, ..)) = claim.take() {
        let got = claimed(&shared, in_flight.await);
        buffer.extend(got.into_iter().map(|step| Buffered {
            step,
            since: Instant::now(),
        }));
    }
    for b in buffer.drain(..) {
        let shared = shared.clone();
        running.spawn(
            async move { hand_back(&shared, &b.step.lease, "the worker is stopping").await },
        );
    }
    while running.join_next().await.is_some() {}
}

/// Waits for the claim in flight (never completes without one) and clears it.
async fn join_claim(
    claim: &mut Option<InFlight>,
) -> (
    Result<Result<Vec<ClaimedStep>, StoreError>, tokio::task::JoinError>,
    usize,
    Instant,
    bool,
) {
    let Some((handle, want, sent, saturated)) = claim.as_mut() else {
        return std::future::pending().await;
    };
    let joined = handle.await;
    let (want, sent, saturated) = (*want, *sent, *saturated);
    *claim = None;
    (joined, want, sent, saturated)
}

fn spawn_claim(shared: &Arc<Shared>, want: usize) -> Claim {
    let request = ClaimRequest {
        worker_id: shared.worker_id.clone(),
        namespaces: shared.namespaces.clone(),
        limit: u32::try_from(want).unwrap_or(u32::MAX),
        lease: shared.execution.lease,
    };
    let store = shared.store.clone();
    tokio::spawn(async move { store.claim_steps(&request, Utc::now()).await })
}

/// The steps of a finished claim; a failed claim is logged and gives none.
fn claimed(
    shared: &Shared,
    joined: Result<Result<Vec<ClaimedStep>, StoreError>, tokio::task::JoinError>,
) -> Vec<ClaimedStep> {
    match joined {
        Ok(Ok(steps)) => {
            metrics::counter!("tasker_worker_steps_total", "result" => "claimed")
                .increment(steps.len() as u64);
            steps
        }
        Ok(Err(e)) => {
            tracing::warn!(worker = %shared.worker_id, error = %e, "claim failed");
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(worker = %shared.worker_id, error = %e, "claim task failed");
            Vec::new()
        }
    }
}

/// Moves the steps the reporter claimed with results into the buffer.
fn take_handed(handed: &mut Option<HandoffReceiver>, buffer: &mut VecDeque<Buffered>) {
    let Some(rx) = handed.as_mut() else {
        return;
    };
    while let Ok(steps) = rx.try_recv() {
        let now = Instant::now();
        buffer.extend(steps.into_iter().map(|step| Buffered { step, since: now }));
    }
}

/// Starts buffered steps, oldest first, while slots are free; how many started.
fn start_buffered(
    shared: &Arc<Shared>,
    slots: &Arc<Semaphore>,
    buffer: &mut VecDeque<Buffered>,
    running: &mut JoinSet<()>,
) -> usize {
    let before = buffer.len();
    while !buffer.is_empty() {
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            break;
        };
        let Some(b) = buffer.pop_front() else {
            break;
        };
        let slot = Slot::new(permit, shared.clone());
        let shared = shared.clone();
        running.spawn(async move { execute(&shared, b.step, slot).await });
    }
    metrics::gauge!("tasker_worker_buffered_steps").set(buffer.len() as f64);
    shared
        .handoff
        .buffered
        .store(buffer.len(), Ordering::SeqCst);
    before - buffer.len()
}

/// Hands back the buffered steps that waited `longest_wait` without a slot, so that an idle
/// worker can run them; whether any was.
fn hand_back_aged(
    shared: &Arc<Shared>,
    buffer: &mut VecDeque<Buffered>,
    running: &mut JoinSet<()>,
    longest_wait: Duration,
) -> bool {
    let before = buffer.len();
    let now = Instant::now();
    while buffer
        .front()
        .is_some_and(|b| now.duration_since(b.since) >= longest_wait)
    {
        let Some(b) = buffer.pop_front() else {
            break;
        };
        let shared = shared.clone();
        running.spawn(async move {
            hand_back(&shared, &b.step.lease, "no slot came free in time").await;
        });
    }
    buffer.len() < before
}

/// Gives a buffered step's lease back: the step is enqueued again and its attempt not counted.
async fn hand_back(shared: &Shared, lease: &Lease, why: &str) {
    match shared.store.release_lease(lease, Utc::now()).await {
        Ok(released) => {
            if released {
                metrics::counter!("tasker_worker_steps_total", "result" => "handed_back")
                    .increment(1);
            }
            tracing::debug!(step = %lease.step_uuid, released, why, "buffered step handed back");
        }
        Err(e) => {
            tracing::warn!(step = %lease.step_uuid, error = %e, why, "handing back a buffered step failed; its lease will expire");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Pace;

    /// A pace that started `starts` steps and whose one claim took `claim`.
    fn pace(starts: usize, claim: Duration, backlog: bool) -> Pace {
        let mut pace = Pace::default();
        pace.started(starts);
        pace.claimed(claim, backlog);
        pace
    }

    #[test]
    fn an_idle_worker_holds_nothing_ahead() {
        assert_eq!(pace(0, Duration::from_millis(1), false).target(1000), 0);
    }

    #[test]
    fn a_keeping_up_queue_buffers_four_claims_of_starts() {
        // 1,000 starts a second, 4 ms ahead.
        let mut p = pace(1000, Duration::from_millis(1), false);
        assert_eq!(p.target(1000), 4);
        // The claim time is a moving average: one fast claim moves it a fifth of the way.
        p.claimed(Duration::from_micros(10), false);
        assert!((p.claim_secs - 0.000_802).abs() < 1e-9, "{}", p.claim_secs);
        // Fast claims still cover 2 ms; one start is enough for one step ahead.
        assert_eq!(pace(1000, Duration::from_micros(10), false).target(1000), 2);
        assert_eq!(pace(1, Duration::from_micros(10), false).target(1000), 1);
    }

    #[test]
    fn a_backlog_buffers_more_claims_and_the_prefetch_caps_it() {
        let mut p = pace(1000, Duration::from_millis(1), true);
        assert_eq!(p.target(1000), 16);
        assert_eq!(p.target(10), 10);
        // A claim that came back short ends the backlog.
        p.claimed(Duration::from_millis(1), false);
        assert_eq!(p.target(1000), 4);
    }
}
