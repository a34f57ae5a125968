//! `throughput`: steps per second drained from a backlog, beside the store's floor measured in
//! the same run. PostgreSQL: per worker count, a fresh database, a `tasker-server` without
//! embedded worker, a backlog of linear tasks created before any worker runs, then N
//! `tasker-worker` processes started together. SQLite: the backlog is created through a server
//! without a worker, which then stops, and a server with its embedded worker drains it. The
//! clock runs from the workers listening to the last task complete. On PostgreSQL the
//! database's own transaction counter gives the transactions per step.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::configs::{self, POLL_INTERVAL_MS, ServerKind, WORKER_CONCURRENCY};
use crate::floors::{self, Floors};
use crate::procs::{ConfigRoot, Process, sibling_binary};
use crate::scrape::{StoreWork, store_work};
use crate::stats::{print_table, round};
use crate::stores::{Store, StoreKind};
use crate::tasks::{self, Shape};

/// Connections creating the backlog.
const CREATORS: usize = 8;
/// Interval between two counts of completed tasks: each count is a query over the growing
/// tasks table, so it is kept rare against a drain of several seconds.
const COUNT_EVERY: Duration = Duration::from_millis(20);
/// The run fails when no task completes for this long.
const STALL: Duration = Duration::from_secs(15);

/// Parameters of one run.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) store: StoreKind,
    pub(crate) workers: Vec<usize>,
    pub(crate) tasks: usize,
    pub(crate) database_url: String,
    pub(crate) pg_settings: Vec<String>,
    pub(crate) floor_sizes: floors::Sizes,
}

impl Params {
    pub(crate) fn new(
        store: StoreKind,
        workers: Vec<usize>,
        tasks: Option<usize>,
        quick: bool,
        database_url: String,
        pg_settings: Vec<String>,
    ) -> Self {
        Self {
            store,
            workers,
            tasks: tasks.unwrap_or(if quick { 30 } else { 2000 }).max(1),
            database_url,
            pg_settings,
            floor_sizes: floors::Sizes::new(quick),
        }
    }
}

struct Point {
    /// External worker processes (0: the server's embedded worker).
    workers: usize,
    steps: usize,
    drain_secs: f64,
    with_startup_secs: f64,
    startup_ms: f64,
    /// Database transactions during the drain (PostgreSQL).
    transactions: Option<u64>,
    /// Statements and transactions the processes' stores sent during the drain (their own
    /// counters), the bench's own progress queries included.
    store: StoreWork,
}

/// Runs the benchmark and returns its JSON document.
pub(crate) async fn run(params: &Params) -> Result<Value> {
    if params.workers.is_empty() || params.workers.contains(&0) {
        bail!("--workers takes positive counts, e.g. 1,2,4");
    }
    // SQLite runs one point: the embedded worker (workers in other processes are a
    // PostgreSQL deployment).
    let counts = match params.store {
        StoreKind::Postgres => params.workers.clone(),
        StoreKind::Sqlite => vec![0],
    };
    let floor = measure_floor(params).await?;
    let mut points = Vec::new();
    for workers in counts {
        let root = configs::root_for(&ServerKind::Workflow {
            embedded_worker: false,
        })?;
        let store = Store::open(
            params.store,
            &root,
            &params.database_url,
            &format!("w{workers}"),
            &params.pg_settings,
        )
        .await?;
        let outcome = match workers {
            0 => embedded_point(params, &root, &store.url).await,
            n => point(params, &root, &store.url, n).await,
        };
        store.close().await?;
        points.push(outcome?);
    }
    let doc = document(params, &points, floor);
    print_report(&doc, params.store, floor);
    Ok(doc)
}

/// The store's floors, on a database (or file) of their own created for this run.
pub(crate) async fn measure_floor(params: &Params) -> Result<Floors> {
    let root = ConfigRoot::new()?;
    let store = Store::open(
        params.store,
        &root,
        &params.database_url,
        "floor",
        &params.pg_settings,
    )
    .await?;
    let floor = floors::measure(params.store, &store.url, params.floor_sizes).await;
    store.close().await?;
    floor
}

/// SQLite: the backlog through a server without a worker, then a server with its embedded
/// worker on the same file drains it.
async fn embedded_point(params: &Params, root: &ConfigRoot, url: &str) -> Result<Point> {
    let shape = Shape::Linear;
    {
        let creator = Process::start(&sibling_binary("tasker-server")?, root, url)?;
        tasks::submit(creator.addr(), shape, params.tasks, CREATORS).await?;
    }
    let drain_root = configs::root_for(&ServerKind::Workflow {
        embedded_worker: true,
    })?;
    let spawned = Instant::now();
    let server = Process::start(&sibling_binary("tasker-server")?, &drain_root, url)?;
    let ready = Instant::now();
    let before = store_work(server.addr()).await?;
    let target = u64::try_from(params.tasks)?;
    let done = tasks::wait_complete(server.addr(), target, COUNT_EVERY, STALL)
        .await
        .with_context(|| {
            format!(
                "the embedded worker did not drain the backlog; server log:\n{}",
                server.log_tail()
            )
        })?;
    let store = store_work(server.addr()).await?.since(before);
    Ok(Point {
        workers: 0,
        steps: params.tasks * shape.steps(),
        drain_secs: (done - ready).as_secs_f64(),
        with_startup_secs: (done - spawned).as_secs_f64(),
        startup_ms: (ready - spawned).as_secs_f64() * 1000.0,
        transactions: None,
        store,
    })
}

async fn point(params: &Params, root: &ConfigRoot, url: &str, workers: usize) -> Result<Point> {
    let server = Process::start(&sibling_binary("tasker-server")?, root, url)?;
    let shape = Shape::Linear;
    tasks::submit(server.addr(), shape, params.tasks, CREATORS).await?;
    let before = pg_transactions(url).await?;
    let server_before = store_work(server.addr()).await?;
    let worker_binary = sibling_binary("tasker-worker")?;
    let spawned = Instant::now();
    let mut running = Vec::with_capacity(workers);
    for _ in 0..workers {
        running.push(Process::spawn(&worker_binary, root, url)?);
    }
    for worker in &mut running {
        worker.wait_ready()?;
    }
    let ready = Instant::now();
    let target = u64::try_from(params.tasks)?;
    let done = match tasks::wait_complete(server.addr(), target, COUNT_EVERY, STALL).await {
        Ok(done) => done,
        Err(e) => {
            let logs: Vec<String> = running.iter().map(Process::log_tail).collect();
            return Err(e).context(format!(
                "{workers} tasker-worker process(es) did not drain the backlog (do they run the \
                 worker runtime against the database?); worker log tails:\n{}",
                logs.join("\n--\n")
            ));
        }
    };
    let mut work = vec![store_work(server.addr()).await?.since(server_before)];
    for worker in &running {
        work.push(store_work(worker.addr()).await?);
    }
    // Backends report their counters when they end: stop every process first.
    drop(running);
    drop(server);
    let after = pg_transactions(url).await?;
    Ok(Point {
        workers,
        steps: params.tasks * shape.steps(),
        drain_secs: (done - ready).as_secs_f64(),
        with_startup_secs: (done - spawned).as_secs_f64(),
        startup_ms: (ready - spawned).as_secs_f64() * 1000.0,
        transactions: Some(after.saturating_sub(before)),
        store: StoreWork::sum(work),
    })
}

/// Committed and rolled-back transactions of the database so far (`pg_stat_database`),
/// read from a connection of its own after the measured processes have ended.
async fn pg_transactions(url: &str) -> Result<u64> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    // Statistics of ended backends reach the shared counters within a second; the counter
    // is read until it stops moving so the figure includes them.
    let mut last: i64 = -1;
    for _ in 0..20 {
        let now: i64 = sqlx::query_scalar(
            "SELECT (xact_commit + xact_rollback)::BIGINT FROM pg_stat_database \
             WHERE datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await?;
        if now == last {
            break;
        }
        last = now;
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(&mut conn)
            .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    conn.close().await?;
    Ok(u64::try_from(last.max(0))?)
}

/// The highest steps/s among the points of a throughput document.
pub(crate) fn peak_steps_per_s(doc: &Value) -> Result<f64> {
    doc["points"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["steps_per_s"].as_f64())
        .fold(None, |best: Option<f64>, v| {
            Some(best.map_or(v, |b| b.max(v)))
        })
        .ok_or_else(|| anyhow::anyhow!("the throughput run measured no point"))
}

fn document(params: &Params, points: &[Point], floor: Floors) -> Value {
    let rate = |steps: usize, secs: f64| steps as f64 / secs.max(1e-9);
    let base = points
        .first()
        .map(|p| rate(p.steps, p.drain_secs))
        .unwrap_or(0.0);
    let points: Vec<Value> = points
        .iter()
        .map(|p| {
            let steps_per_s = rate(p.steps, p.drain_secs);
            json!({
                "workers": p.workers,
                "embedded_worker": p.workers == 0,
                "steps_per_s": round(steps_per_s, 1),
                "ratio_to_floor": round(steps_per_s / floor.claim_complete_rows_per_s.max(1e-9), 3),
                "transactions_per_step": p.transactions.map(|t| round(t as f64 / p.steps.max(1) as f64, 2)),
                "statements_per_step": round(p.store.statements / p.steps.max(1) as f64, 2),
                "store_transactions_per_step": round(p.store.transactions / p.steps.max(1) as f64, 2),
                "steps": p.steps,
                "seconds": round(p.drain_secs, 3),
                "steps_per_s_incl_startup": round(rate(p.steps, p.with_startup_secs), 1),
                "worker_startup_ms": round(p.startup_ms, 1),
                "speedup": round(if base > 0.0 { steps_per_s / base } else { 0.0 }, 2),
            })
        })
        .collect();
    json!({
        "benchmark": "throughput",
        "store": params.store.name(),
        "shape": Shape::Linear.name(),
        "tasks": params.tasks,
        "worker_concurrency": WORKER_CONCURRENCY,
        "worker_prefetch": configs::prefetch(),
        "worker_poll_interval_ms": POLL_INTERVAL_MS,
        "pg_settings": params.pg_settings,
        "floor": floor.to_json(),
        "points": points,
    })
}

fn print_report(doc: &Value, store: StoreKind, floor: Floors) {
    println!(
        "throughput: {} linear tasks ({} steps) per point on {}, created before the workers \
         start; each worker runs {} steps at once",
        doc["tasks"],
        doc["tasks"].as_u64().unwrap_or(0) * 4,
        doc["store"].as_str().unwrap_or_default(),
        doc["worker_concurrency"],
    );
    println!("{}", floor.describe(store));
    let mut rows = vec![
        [
            "workers",
            "steps/s",
            "of floor",
            "txn/step",
            "stmt/step",
            "speedup",
            "seconds",
            "steps/s incl. startup",
            "startup ms",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for p in doc["points"].as_array().into_iter().flatten() {
        rows.push(
            [
                "workers",
                "steps_per_s",
                "ratio_to_floor",
                "transactions_per_step",
                "statements_per_step",
                "speedup",
                "seconds",
                "steps_per_s_incl_startup",
                "worker_startup_ms",
            ]
            .iter()
            .map(|k| match (*k, &p[*k]) {
                ("workers", v) if v.as_u64() == Some(0) => "embedded".to_owned(),
                (_, Value::Null) => "-".to_owned(),
                (_, v) => v.to_string(),
            })
            .collect(),
        );
    }
    print_table(&rows);
}
