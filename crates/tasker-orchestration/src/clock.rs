//! The time source of the schedule loop. Servers use [`SystemClock`]; tests inject a
//! [`ManualClock`] so fire times come without waiting for them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::Notify;

/// Where the schedule loop reads the time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Notified when the time jumps (a manual clock moved); the system clock never jumps.
    fn jumps(&self) -> Arc<Notify>;
}

/// The wall clock.
#[derive(Debug, Default)]
pub struct SystemClock {
    never: Arc<Notify>,
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn jumps(&self) -> Arc<Notify> {
        self.never.clone()
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    jumps: Arc<Notify>,
}

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self {
            now: Mutex::new(now),
            jumps: Arc::new(Notify::new()),
        })
    }

    /// Moves the clock to `now` and wakes whoever waits on it.
    pub fn set(&self, now: DateTime<Utc>) {
        *self.now.lock() = now;
        self.jumps.notify_waiters();
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let next = *self.now.lock() + by;
        self.set(next);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock()
    }

    fn jumps(&self) -> Arc<Notify> {
        self.jumps.clone()
    }
}
