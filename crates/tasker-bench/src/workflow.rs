//! `workflow`: one `tasker-server` with its embedded worker on SQLite or PostgreSQL. Latency
//! comes from tasks run one at a time, each read back to back until complete (so the
//! figure is not inflated by queueing or coarse polling); tasks/s from a backlog created over
//! several connections and drained.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};

use crate::configs::{self, POLL_INTERVAL_MS, ServerKind, WORKER_CONCURRENCY};
use crate::floors;
use crate::http::Conn;
use crate::procs::{Process, sibling_binary};
use crate::stats::{Samples, print_table, round};
use crate::stores::{Store, StoreKind};
use crate::tasks::{self, Shape, TASK_POLL};

/// Connections creating the backlog of the tasks/s phase.
const CREATORS: usize = 8;

/// Parameters of one run.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) shape: Shape,
    pub(crate) store: StoreKind,
    pub(crate) tasks: usize,
    pub(crate) warmup: usize,
    pub(crate) database_url: String,
    pub(crate) pg_settings: Vec<String>,
    pub(crate) floor_sizes: floors::Sizes,
}

impl Params {
    pub(crate) fn new(
        shape: Shape,
        store: StoreKind,
        tasks: Option<usize>,
        quick: bool,
        database_url: String,
        pg_settings: Vec<String>,
    ) -> Self {
        Self {
            shape,
            store,
            tasks: tasks.unwrap_or(if quick { 20 } else { 200 }).max(1),
            warmup: if quick { 2 } else { 10 },
            database_url,
            pg_settings,
            floor_sizes: floors::Sizes::new(quick),
        }
    }
}

/// The store's floors on a database (or file) of their own, measured after the workflow so
/// the two do not share the machine.
async fn measure_floor(params: &Params) -> Result<floors::Floors> {
    let root = crate::procs::ConfigRoot::new()?;
    let store = Store::open(
        params.store,
        &root,
        &params.database_url,
        "wffloor",
        &params.pg_settings,
    )
    .await?;
    let floor = floors::measure(params.store, &store.url, params.floor_sizes).await;
    store.close().await?;
    floor
}

/// Runs the benchmark and returns its JSON document.
pub(crate) async fn run(params: &Params) -> Result<Value> {
    let root = configs::root_for(&ServerKind::Workflow {
        embedded_worker: true,
    })?;
    let store = Store::open(
        params.store,
        &root,
        &params.database_url,
        "workflow",
        &params.pg_settings,
    )
    .await?;
    let outcome = measure(params, &root, &store.url).await;
    store.close().await?;
    let mut doc = outcome?;
    let floor = measure_floor(params).await?;
    let commits = doc["complete_p50_ms"].as_f64().unwrap_or(0.0) / floor.commit_p50_ms.max(1e-9);
    doc["floor"] = floor.to_json();
    doc["complete_p50_in_commit_round_trips"] = round(commits, 1).into();
    println!("{}", floor.describe(params.store));
    print_report(&doc);
    Ok(doc)
}

async fn measure(params: &Params, root: &crate::procs::ConfigRoot, url: &str) -> Result<Value> {
    let mut server = Process::start(&sibling_binary("tasker-server")?, root, url)?;
    let mut conn = Conn::connect(server.addr()).await?;
    for i in 0..params.warmup {
        tasks::run_one(&mut conn, params.shape, i64::try_from(i)?).await?;
    }

    let mut create = Samples::with_capacity(params.tasks);
    let mut complete = Samples::with_capacity(params.tasks);
    let mut server_complete = Samples::with_capacity(params.tasks);
    let sequential_started = Instant::now();
    for i in 0..params.tasks {
        let finished = tasks::run_one(&mut conn, params.shape, i64::try_from(i)?).await?;
        create.record(finished.create);
        complete.record(finished.complete);
        server_complete.record(finished.server_complete);
    }
    let sequential_secs = sequential_started.elapsed().as_secs_f64();
    server.check_alive()?;

    let before = tasks::count_complete(&mut conn).await?;
    let burst_started = Instant::now();
    let burst_create = tasks::submit(server.addr(), params.shape, params.tasks, CREATORS).await?;
    let target = before + u64::try_from(params.tasks)?;
    let done = tasks::wait_complete(
        server.addr(),
        target,
        Duration::from_millis(5),
        Duration::from_secs(15),
    )
    .await?;
    let burst_secs = (done - burst_started).as_secs_f64();
    server.check_alive()?;

    Ok(document(
        params,
        Figures {
            create,
            complete,
            server_complete,
            burst_create,
            sequential_secs,
            burst_secs,
        },
    ))
}

struct Figures {
    create: Samples,
    complete: Samples,
    server_complete: Samples,
    burst_create: Samples,
    sequential_secs: f64,
    burst_secs: f64,
}

fn document(params: &Params, mut f: Figures) -> Value {
    let n = params.tasks as f64;
    let complete_p50 = f.complete.percentile_ms(50.0);
    let create_p50 = f.create.percentile_ms(50.0);
    // PRODUCT 9: create → complete p50 and creation p50 per shape and store.
    let (complete_limit, create_limit) = match (params.shape, params.store) {
        (Shape::Linear, StoreKind::Sqlite) => (3.0, 0.8),
        (Shape::Linear, StoreKind::Postgres) => (6.0, 1.5),
        (Shape::Diamond, StoreKind::Sqlite) => (2.5, 0.8),
        (Shape::Diamond, StoreKind::Postgres) => (5.0, 1.5),
    };
    json!({
        "benchmark": "workflow",
        "shape": params.shape.name(),
        "store": params.store.name(),
        "tasks": params.tasks,
        "create_p50_ms": create_p50,
        "create_p99_ms": f.create.percentile_ms(99.0),
        "complete_p50_ms": complete_p50,
        "complete_p95_ms": f.complete.percentile_ms(95.0),
        "complete_p99_ms": f.complete.percentile_ms(99.0),
        "tasks_per_s": round(n / f.burst_secs.max(1e-9), 1),
        "server_complete_p50_ms": f.server_complete.percentile_ms(50.0),
        "server_complete_p95_ms": f.server_complete.percentile_ms(95.0),
        "sequential_tasks_per_s": round(n / f.sequential_secs.max(1e-9), 1),
        "burst_create_p50_ms": f.burst_create.percentile_ms(50.0),
        "burst_create_p99_ms": f.burst_create.percentile_ms(99.0),
        "burst_connections": CREATORS,
        "task_poll_interval_ms": u64::try_from(TASK_POLL.as_millis()).unwrap_or(0),
        "orchestration_poll_interval_ms": POLL_INTERVAL_MS,
        "worker_poll_interval_ms": POLL_INTERVAL_MS,
        "worker_concurrency": WORKER_CONCURRENCY,
        "worker_prefetch": configs::prefetch(),
        "pg_settings": params.pg_settings,
        "targets": {
            "complete_p50_max_ms": complete_limit,
            "complete_p50_met": complete_p50 <= complete_limit,
            "create_p50_max_ms": create_limit,
            "create_p50_met": create_p50 <= create_limit,
        },
    })
}

fn print_report(doc: &Value) {
    println!(
        "workflow: {} shape on {}, {} tasks one at a time (read every {} ms until complete; 0 = back to back), \
         then {} tasks over {} connections",
        doc["shape"].as_str().unwrap_or_default(),
        doc["store"].as_str().unwrap_or_default(),
        doc["tasks"],
        doc["task_poll_interval_ms"],
        doc["tasks"],
        doc["burst_connections"],
    );
    println!(
        "server: embedded worker (concurrency {}), orchestration and worker poll interval {} ms \
         (both also woken by the store's work signal)",
        doc["worker_concurrency"], doc["orchestration_poll_interval_ms"]
    );
    let row = |name: &str, p50: &str, p95: &str, p99: &str| {
        let cell = |key: &str| match &doc[key] {
            Value::Null => "-".to_owned(),
            v => v.to_string(),
        };
        vec![name.to_owned(), cell(p50), cell(p95), cell(p99)]
    };
    print_table(&[
        ["figure", "p50 ms", "p95 ms", "p99 ms"]
            .map(str::to_owned)
            .to_vec(),
        row(
            "create → complete (client)",
            "complete_p50_ms",
            "complete_p95_ms",
            "complete_p99_ms",
        ),
        row(
            "create → complete (server clock)",
            "server_complete_p50_ms",
            "server_complete_p95_ms",
            "-",
        ),
        row(
            "task creation round trip",
            "create_p50_ms",
            "-",
            "create_p99_ms",
        ),
        row(
            "creation under burst",
            "burst_create_p50_ms",
            "-",
            "burst_create_p99_ms",
        ),
    ]);
    println!();
    println!(
        "tasks_per_s {} (burst), {} (one at a time)",
        doc["tasks_per_s"], doc["sequential_tasks_per_s"]
    );
    println!("targets     {}", doc["targets"]);
}
