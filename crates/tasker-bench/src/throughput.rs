//! `throughput`: steps per second drained by N `tasker-worker` processes from a backlog on
//! PostgreSQL. Per worker count: a fresh database, a `tasker-server` without embedded worker,
//! a backlog of linear tasks created before any worker runs, then the workers started
//! together; the clock runs from all workers listening to the last task complete.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::configs::{self, POLL_INTERVAL_MS, ServerKind, WORKER_CONCURRENCY};
use crate::procs::{ConfigRoot, Process, sibling_binary};
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
            tasks: tasks.unwrap_or(if quick { 30 } else { 500 }).max(1),
            database_url,
            pg_settings,
        }
    }
}

struct Point {
    workers: usize,
    steps: usize,
    drain_secs: f64,
    with_startup_secs: f64,
    startup_ms: f64,
}

/// Runs the benchmark and returns its JSON document.
pub(crate) async fn run(params: &Params) -> Result<Value> {
    if params.store != StoreKind::Postgres {
        bail!("throughput runs on PostgreSQL only (workers in separate processes share it)");
    }
    if params.workers.is_empty() || params.workers.contains(&0) {
        bail!("--workers takes positive counts, e.g. 1,2,4");
    }
    let mut points = Vec::new();
    for &workers in &params.workers {
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
        let outcome = point(params, &root, &store.url, workers).await;
        store.close().await?;
        points.push(outcome?);
    }
    let doc = document(params, &points);
    print_report(&doc);
    Ok(doc)
}

async fn point(params: &Params, root: &ConfigRoot, url: &str, workers: usize) -> Result<Point> {
    let server = Process::start(&sibling_binary("tasker-server")?, root, url)?;
    let shape = Shape::Linear;
    tasks::submit(server.addr(), shape, params.tasks, CREATORS).await?;
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
    Ok(Point {
        workers,
        steps: params.tasks * shape.steps(),
        drain_secs: (done - ready).as_secs_f64(),
        with_startup_secs: (done - spawned).as_secs_f64(),
        startup_ms: (ready - spawned).as_secs_f64() * 1000.0,
    })
}

fn document(params: &Params, points: &[Point]) -> Value {
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
                "steps_per_s": round(steps_per_s, 1),
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
        "worker_poll_interval_ms": POLL_INTERVAL_MS,
        "pg_settings": params.pg_settings,
        "points": points,
    })
}

fn print_report(doc: &Value) {
    println!(
        "throughput: {} linear tasks ({} steps) per point on {}, created before the workers \
         start; each worker runs {} steps at once",
        doc["tasks"],
        doc["tasks"].as_u64().unwrap_or(0) * 4,
        doc["store"].as_str().unwrap_or_default(),
        doc["worker_concurrency"],
    );
    let mut rows = vec![
        [
            "workers",
            "steps/s",
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
                "speedup",
                "seconds",
                "steps_per_s_incl_startup",
                "worker_startup_ms",
            ]
            .iter()
            .map(|k| p[*k].to_string())
            .collect(),
        );
    }
    print_table(&rows);
}
