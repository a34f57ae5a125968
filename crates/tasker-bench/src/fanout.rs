//! `fanout`: one `tasker-server` with its embedded worker runs `examples/batch_sum` split into
//! N copies (1 → N → join). Reports creation-to-completion time as the client saw it and as
//! the server recorded it, and the server's peak resident memory (`VmHWM`). The floor is the
//! same run with one copy, on the same machine.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};

use crate::configs::{self, ServerKind};
use crate::http::Conn;
use crate::procs::{Process, sibling_binary};
use crate::stores::{Store, StoreKind};

/// How often the task is read while it runs: every 5 ms at first, then less often, up to
/// every 100 ms (each read counts the task's steps; read every 5 ms, the counts of a
/// 10,000-copy task took a third of PostgreSQL's time from the run it measures). The server
/// clock figure does not depend on it.
const POLL_FIRST: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(100);
/// Longest a fan-out may take before the benchmark gives up: 15 minutes, or 50 ms per copy
/// for large runs (100,000 copies: 83 minutes), so a slow engine is measured, not abandoned.
fn timeout(copies: usize) -> Duration {
    Duration::from_secs(900).max(Duration::from_millis(
        u64::try_from(copies).unwrap_or(u64::MAX).saturating_mul(50),
    ))
}

/// Parameters of one run.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) store: StoreKind,
    pub(crate) copies: usize,
    /// The embedded worker's `worker.concurrency`.
    pub(crate) concurrency: usize,
    pub(crate) database_url: String,
    pub(crate) pg_settings: Vec<String>,
}

/// Runs the benchmark and returns its JSON document.
pub(crate) async fn run(params: &Params) -> Result<Value> {
    let root = configs::root_for(&ServerKind::Workflow {
        embedded_worker: true,
    })?;
    let max_batches = params.copies.max(1);
    root.write(
        "base/common.toml",
        &format!(
            "[templates]\nsearch_paths = [{:?}]\n\n[engine]\nmax_batches = {max_batches}\n\n\
             [logging]\nlevel = \"warn\"\n",
            root.path().join("templates").display().to_string()
        ),
    )?;
    root.write("templates/batch_sum.yaml", configs::BATCH_SUM)?;
    configs::set_worker_concurrency(&root, params.concurrency)?;
    let store = Store::open(
        params.store,
        &root,
        &params.database_url,
        "fanout",
        &params.pg_settings,
    )
    .await?;
    let outcome = measure(params, &root, &store.url).await;
    store.close().await?;
    let doc = outcome?;
    print_report(&doc);
    Ok(doc)
}

struct Run {
    client: Duration,
    server: Duration,
}

async fn measure(params: &Params, root: &crate::procs::ConfigRoot, url: &str) -> Result<Value> {
    let mut server = Process::start(&sibling_binary("tasker-server")?, root, url)?;
    let mut conn = Conn::connect(server.addr()).await?;
    let floor = fan_out(&mut conn, 1).await?;
    let run = fan_out(&mut conn, params.copies).await?;
    server.check_alive()?;
    let peak_rss_kib = server.peak_rss_kib();
    Ok(json!({
        "benchmark": "fanout",
        "store": params.store.name(),
        "copies": params.copies,
        "worker_concurrency": params.concurrency,
        "client_seconds": secs(run.client),
        "server_seconds": secs(run.server),
        "floor_one_copy_seconds": secs(floor.client),
        "copies_per_second": round(params.copies as f64 / run.server.as_secs_f64().max(1e-9)),
        "server_peak_rss_kib": peak_rss_kib,
    }))
}

/// Creates one `batch_sum` task of `copies` copies (each a range of one number) and reads it
/// until it is complete; checks the total.
async fn fan_out(conn: &mut Conn, copies: usize) -> Result<Run> {
    let n = i64::try_from(copies)?;
    let body = json!({
        "namespace": "examples",
        "name": "batch_sum",
        "context": {"from": 1, "to": n, "parts": n},
        "initiator": "tasker-bench",
    });
    let started = Instant::now();
    let task = conn.post_json("/v1/tasks", &body).await?.json(201)?;
    let id = task["task_uuid"]
        .as_str()
        .ok_or_else(|| anyhow!("created task has no task_uuid: {task}"))?
        .to_owned();
    let path = format!("/v1/tasks/{id}");
    let limit = timeout(copies);
    let mut poll = POLL_FIRST;
    let done = loop {
        let task = conn.get(&path).await?.json(200)?;
        match task["status"].as_str() {
            Some("complete") => break task,
            Some("error" | "blocked_by_failures" | "cancelled" | "resolved_manually") => {
                bail!("fan-out task {id} ended as {}", task["status"])
            }
            _ if started.elapsed() > limit => {
                bail!(
                    "fan-out task {id} still running after {} s",
                    limit.as_secs()
                )
            }
            _ => {
                tokio::time::sleep(poll).await;
                poll = (poll * 3 / 2).min(POLL_MAX);
            }
        }
    };
    let client = started.elapsed();
    let at = |key: &str| -> Result<chrono::DateTime<chrono::Utc>> {
        let text = done[key]
            .as_str()
            .ok_or_else(|| anyhow!("task has no {key}"))?;
        Ok(chrono::DateTime::parse_from_rfc3339(text)?.with_timezone(&chrono::Utc))
    };
    let server = (at("completed_at")? - at("created_at")?)
        .to_std()
        .unwrap_or_default();
    let context = conn.get(&format!("{path}/context")).await?.json(200)?;
    let want = n * (n + 1) / 2;
    if context["step_results"]["total"]["value"] != json!(want) {
        bail!(
            "fan-out of {copies} summed to {}, not {want}",
            context["step_results"]["total"]
        );
    }
    Ok(Run { client, server })
}

fn secs(d: Duration) -> f64 {
    round(d.as_secs_f64())
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn print_report(doc: &Value) {
    println!(
        "fanout on {}: 1 -> {} -> join, embedded worker concurrency {}",
        doc["store"].as_str().unwrap_or_default(),
        doc["copies"],
        doc["worker_concurrency"]
    );
    println!(
        "  creation to completion (client) {:>10} s",
        doc["client_seconds"]
    );
    println!(
        "  creation to completion (server) {:>10} s",
        doc["server_seconds"]
    );
    println!(
        "  floor: the same with one copy   {:>10} s",
        doc["floor_one_copy_seconds"]
    );
    println!(
        "  copies per second (server)      {:>10}",
        doc["copies_per_second"]
    );
    println!(
        "  server peak RSS                 {:>10} KiB",
        doc["server_peak_rss_kib"]
    );
}
