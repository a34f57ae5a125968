//! `dispatch`: how long a ready step waits for its handler to start, at a steady load below
//! peak. Workers run first (PostgreSQL: one `tasker-server` and one `tasker-worker`; SQLite:
//! the server's embedded worker); linear tasks are then created at a fixed rate, so that
//! `rate` steps per second become ready, for a few seconds; once every task is complete the
//! store itself gives each step's wait: `step_results.started_at` (taken by the worker just
//! before the handler starts) minus `steps.ready_at` (the moment the step was enqueued), for
//! first attempts. Both are whole milliseconds, so each sample is within ±1 ms of the true
//! wait (the mean is unbiased); figures below 1 ms read as 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::configs::{self, ServerKind};
use crate::http::Conn;
use crate::procs::{ConfigRoot, Process, sibling_binary};
use crate::stats::{print_table, round};
use crate::stores::{Store, StoreKind};
use crate::tasks::{self, Shape};

/// Connections creating tasks.
const CREATORS: usize = 8;
/// The run fails when no task completes for this long.
const STALL: Duration = Duration::from_secs(15);

/// Parameters of one run.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) store: StoreKind,
    /// Steps made ready per second (linear tasks: a quarter of it in tasks per second).
    pub(crate) rate: f64,
    pub(crate) seconds: f64,
    pub(crate) database_url: String,
    pub(crate) pg_settings: Vec<String>,
}

/// Runs the benchmark and returns its JSON document.
pub(crate) async fn run(params: &Params) -> Result<Value> {
    if !(params.rate.is_finite() && params.rate > 0.0) {
        bail!("--rate must be a positive number of steps per second");
    }
    let embedded = params.store == StoreKind::Sqlite;
    let root = configs::root_for(&ServerKind::Workflow {
        embedded_worker: embedded,
    })?;
    let store = Store::open(
        params.store,
        &root,
        &params.database_url,
        "dispatch",
        &params.pg_settings,
    )
    .await?;
    let outcome = measure(params, &root, &store.url, embedded).await;
    store.close().await?;
    let (samples, created, elapsed) = outcome?;
    let doc = document(params, samples, created, elapsed);
    print_report(&doc);
    Ok(doc)
}

async fn measure(
    params: &Params,
    root: &ConfigRoot,
    url: &str,
    embedded: bool,
) -> Result<(Vec<(i64, i64)>, usize, Duration)> {
    let server = Process::start(&sibling_binary("tasker-server")?, root, url)?;
    let _worker = if embedded {
        None
    } else {
        Some(Process::start(
            &sibling_binary("tasker-worker")?,
            root,
            url,
        )?)
    };
    // Warm both processes up (connections, prepared statements) before the paced phase.
    tasks::submit(server.addr(), Shape::Linear, 10, 2).await?;
    tasks::wait_complete(server.addr(), 10, Duration::from_millis(5), STALL).await?;
    let tasks_per_s = params.rate / Shape::Linear.steps() as f64;
    let count = ((tasks_per_s * params.seconds).round() as usize).max(1);
    let started = Instant::now();
    paced(server.addr(), tasks_per_s, count).await?;
    let elapsed = started.elapsed();
    tasks::wait_complete(
        server.addr(),
        u64::try_from(count + 10)?,
        Duration::from_millis(20),
        STALL,
    )
    .await
    .with_context(|| {
        format!(
            "the paced tasks did not complete; server log:\n{}",
            server.log_tail()
        )
    })?;
    let samples = waits(url).await?;
    Ok((samples, count, elapsed))
}

/// Creates `count` linear tasks, the `i`th at `i / tasks_per_s` seconds from now, over
/// [`CREATORS`] connections; fails when creations fall more than a second behind.
async fn paced(addr: &str, tasks_per_s: f64, count: usize) -> Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let mut creators = tokio::task::JoinSet::new();
    for _ in 0..CREATORS {
        let mut conn = Conn::connect(addr).await?;
        let next = next.clone();
        creators.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(());
                }
                let due = start + Duration::from_secs_f64(i as f64 / tasks_per_s);
                let late = tokio::time::Instant::now().saturating_duration_since(due);
                if late > Duration::from_secs(1) {
                    bail!("task creation fell {late:?} behind the rate asked for");
                }
                tokio::time::sleep_until(due).await;
                tasks::create(&mut conn, Shape::Linear, i64::try_from(i)?).await?;
            }
        });
    }
    while let Some(joined) = creators.join_next().await {
        joined.map_err(|e| anyhow!("creator task failed: {e}"))??;
    }
    Ok(())
}

/// Each first attempt's wait from ready to handler start, and the part of it until the step
/// was claimed (its `enqueued → in_progress` transition), in milliseconds (warm-up included:
/// ten tasks against hundreds).
async fn waits(url: &str) -> Result<Vec<(i64, i64)>> {
    use sqlx::Connection;
    const SQL: &str = "SELECT r.started_at - s.ready_at AS waited, t.at - s.ready_at AS to_claim \
                       FROM step_results r JOIN steps s ON s.step_uuid = r.step_uuid \
                       JOIN transitions t ON t.step_uuid = s.step_uuid AND t.to_state = 'in_progress' \
                       WHERE r.attempt = 1 AND s.attempts = 1";
    let waits: Vec<(i64, i64)> = if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let rows = sqlx::query_as(SQL).fetch_all(&mut conn).await?;
        conn.close().await?;
        rows
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let rows = sqlx::query_as(SQL).fetch_all(&mut conn).await?;
        conn.close().await?;
        rows
    };
    Ok(waits)
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

fn document(params: &Params, samples: Vec<(i64, i64)>, created: usize, elapsed: Duration) -> Value {
    let mut waits: Vec<i64> = samples.iter().map(|(w, _)| *w).collect();
    let mut to_claim: Vec<i64> = samples.iter().map(|(_, c)| *c).collect();
    waits.sort_unstable();
    to_claim.sort_unstable();
    let mean = if waits.is_empty() {
        0.0
    } else {
        waits.iter().sum::<i64>() as f64 / waits.len() as f64
    };
    let offered = (created * Shape::Linear.steps()) as f64 / elapsed.as_secs_f64().max(1e-9);
    json!({
        "benchmark": "dispatch",
        "store": params.store.name(),
        "worker": if params.store == StoreKind::Sqlite { "embedded" } else { "1 tasker-worker" },
        "worker_concurrency": configs::WORKER_CONCURRENCY,
        "worker_prefetch": configs::prefetch(),
        "rate_steps_per_s": round(params.rate, 1),
        "offered_steps_per_s": round(offered, 1),
        "seconds": round(elapsed.as_secs_f64(), 2),
        "samples": waits.len(),
        "resolution_ms": 1,
        "dispatch_p50_ms": percentile(&waits, 50.0),
        "dispatch_p99_ms": percentile(&waits, 99.0),
        "dispatch_max_ms": waits.last().copied().unwrap_or(0),
        "dispatch_mean_ms": round(mean, 3),
        "ready_to_claimed_p50_ms": percentile(&to_claim, 50.0),
        "ready_to_claimed_p99_ms": percentile(&to_claim, 99.0),
    })
}

fn print_report(doc: &Value) {
    println!(
        "dispatch: ready -> handler start on {} ({}), {} steps/s offered for {} s; \
         store timestamps in whole ms (each sample within ±1 ms)",
        doc["store"].as_str().unwrap_or_default(),
        doc["worker"].as_str().unwrap_or_default(),
        doc["offered_steps_per_s"],
        doc["seconds"],
    );
    let keys = [
        "samples",
        "dispatch_p50_ms",
        "dispatch_p99_ms",
        "dispatch_max_ms",
        "dispatch_mean_ms",
        "ready_to_claimed_p50_ms",
        "ready_to_claimed_p99_ms",
    ];
    let rows = vec![
        keys.iter().map(|k| (*k).to_owned()).collect(),
        keys.iter().map(|k| doc[*k].to_string()).collect(),
    ];
    print_table(&rows);
}
