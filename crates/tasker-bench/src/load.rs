//! Closed-loop HTTP load: N connections, each sending its next request as soon as the previous
//! response arrives, for a fixed time or until a pool of one-use requests runs out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};

use crate::http::Conn;
use crate::stats::Samples;

/// Where each connection takes its next request from.
#[derive(Clone)]
pub(crate) enum Requests {
    /// The same prepared request every time.
    Fixed(Arc<Vec<u8>>),
    /// A distinct prepared request each time, from a shared cursor. With `cycle` the pool
    /// starts over when used up; otherwise the phase ends there.
    Pool {
        pool: Arc<Vec<Vec<u8>>>,
        cursor: Arc<AtomicUsize>,
        cycle: bool,
    },
}

impl Requests {
    fn next(&self) -> Option<&[u8]> {
        match self {
            Self::Fixed(bytes) => Some(bytes),
            Self::Pool {
                pool,
                cursor,
                cycle,
            } => {
                let i = cursor.fetch_add(1, Ordering::Relaxed);
                if *cycle {
                    pool.get(i % pool.len().max(1)).map(Vec::as_slice)
                } else {
                    pool.get(i).map(Vec::as_slice)
                }
            }
        }
    }
}

/// What one load phase measured.
#[derive(Default)]
pub(crate) struct Phase {
    pub(crate) requests: u64,
    pub(crate) elapsed: Duration,
    pub(crate) latency: Samples,
}

impl Phase {
    pub(crate) fn add(&mut self, other: Phase) {
        self.requests += other.requests;
        self.elapsed += other.elapsed;
        self.latency.extend(other.latency);
    }

    pub(crate) fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }
}

/// Runs `connections` closed loops against `addr` for `duration`; every response must be 200.
pub(crate) async fn run(
    addr: &str,
    connections: usize,
    duration: Duration,
    requests: &Requests,
) -> Result<Phase> {
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::connect(addr).await?);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for mut conn in conns {
        let requests = requests.clone();
        tasks.spawn(async move {
            let mut latency = Samples::with_capacity(64 * 1024);
            let mut count = 0u64;
            while Instant::now() < deadline {
                let Some(request) = requests.next() else {
                    break;
                };
                let sent = Instant::now();
                let response = conn.send(request).await?;
                latency.record(sent.elapsed());
                if response.status != 200 {
                    bail!(
                        "HTTP {}: {}",
                        response.status,
                        String::from_utf8_lossy(&response.body)
                    );
                }
                count += 1;
            }
            Ok::<_, anyhow::Error>((count, latency))
        });
    }
    let mut phase = Phase::default();
    while let Some(joined) = tasks.join_next().await {
        let (count, latency) = joined.map_err(|e| anyhow!("load task failed: {e}"))??;
        phase.requests += count;
        phase.latency.extend(latency);
    }
    phase.elapsed = started.elapsed();
    Ok(phase)
}
