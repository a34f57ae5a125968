//! Waiting for an observable condition instead of sleeping. Every wait has a hang guard: a
//! generous deadline that only keeps a broken run from hanging. It is never a measurement; no
//! test asserts how quickly something happened.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// The hang guard of most waits.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// How often a condition is checked.
const INTERVAL: Duration = Duration::from_millis(20);

/// Checks `probe` until it returns `Ok`; `Err` carries what was seen instead. Once `guard` has
/// passed, panics naming `what` was awaited and the last thing seen.
pub async fn eventually<T, E: Display>(
    what: &str,
    guard: Duration,
    probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    match try_eventually(guard, probe).await {
        Ok(value) => value,
        Err(seen) => panic!("hang guard ({guard:?}) passed waiting for {what}; last seen: {seen}"),
    }
}

/// Checks `probe` until it returns `Ok`; after `guard`, the last `Err` it returned.
pub async fn try_eventually<T, E>(
    guard: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + guard;
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(seen) if Instant::now() >= deadline => return Err(seen),
            Err(_) => tokio::time::sleep(INTERVAL).await,
        }
    }
}

/// [`eventually`] for code outside an async runtime.
pub fn eventually_blocking<T, E: Display>(
    what: &str,
    guard: Duration,
    mut probe: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + guard;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => {
                panic!("hang guard ({guard:?}) passed waiting for {what}; last seen: {seen}")
            }
            Err(_) => std::thread::sleep(INTERVAL),
        }
    }
}
