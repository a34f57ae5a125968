//! Driving tasks through the orchestration API: create one, watch one to completion with
//! tight polling, submit a backlog over several connections, and wait until a number of tasks
//! is complete (one cheap list query per check, so watching N tasks costs no more than one).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::http::Conn;
use crate::stats::Samples;

/// Interval between two reads of one task while waiting for it: none, each read goes as soon
/// as the previous answer is in, so completion is seen within one `GET` round trip (about
/// 0.1 ms). A timer cannot wait less than a millisecond, and waiting 1–2 ms between reads
/// added about 1 ms to every figure, a third of the 3 ms target.
pub(crate) const TASK_POLL: Duration = Duration::ZERO;
/// Longest time one task may take before the run is declared broken.
const TASK_TIMEOUT: Duration = Duration::from_secs(30);

/// A template to instantiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Shape {
    /// `examples/linear_math`: four steps in a row.
    Linear,
    /// `examples/diamond_math`: start, two parallel branches, join.
    Diamond,
}

impl Shape {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Diamond => "diamond",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Self::Linear => "linear_math",
            Self::Diamond => "diamond_math",
        }
    }

    /// Steps per task.
    pub(crate) fn steps(self) -> usize {
        4
    }
}

/// A completed task as the client observed it.
pub(crate) struct Finished {
    /// Request sent → 201 received.
    pub(crate) create: Duration,
    /// Request sent → complete status observed.
    pub(crate) complete: Duration,
    /// `completed_at - created_at` as the server recorded them.
    pub(crate) server_complete: Duration,
}

/// Creates a task; its id and the round-trip time.
pub(crate) async fn create(
    conn: &mut Conn,
    shape: Shape,
    value: i64,
) -> Result<(String, Duration)> {
    let body = json!({
        "namespace": "examples",
        "name": shape.template(),
        "context": {"value": value},
        "initiator": "tasker-bench",
    });
    let sent = Instant::now();
    let response = conn.post_json("/v1/tasks", &body).await?;
    let elapsed = sent.elapsed();
    let task = response.json(201).context("POST /v1/tasks")?;
    let id = task["task_uuid"]
        .as_str()
        .ok_or_else(|| anyhow!("created task has no task_uuid: {task}"))?;
    Ok((id.to_owned(), elapsed))
}

/// Creates one task and reads it back to back ([`TASK_POLL`]) until it is complete.
pub(crate) async fn run_one(conn: &mut Conn, shape: Shape, value: i64) -> Result<Finished> {
    let started = Instant::now();
    let (id, create) = self::create(conn, shape, value).await?;
    let path = format!("/v1/tasks/{id}");
    loop {
        let task = conn.get(&path).await?.json(200)?;
        match task["status"].as_str() {
            Some("complete") => {
                let complete = started.elapsed();
                return Ok(Finished {
                    create,
                    complete,
                    server_complete: server_duration(&task)?,
                });
            }
            Some("error" | "blocked_by_failures" | "cancelled" | "resolved_manually") => {
                bail!("task {id} ended as {}", task["status"])
            }
            _ if started.elapsed() > TASK_TIMEOUT => {
                bail!("task {id} still {} after {TASK_TIMEOUT:?}", task["status"])
            }
            _ if TASK_POLL.is_zero() => tokio::task::yield_now().await,
            _ => tokio::time::sleep(TASK_POLL).await,
        }
    }
}

fn server_duration(task: &Value) -> Result<Duration> {
    let at = |key: &str| -> Result<DateTime<Utc>> {
        let text = task[key]
            .as_str()
            .ok_or_else(|| anyhow!("task has no {key}"))?;
        Ok(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc))
    };
    Ok((at("completed_at")? - at("created_at")?)
        .to_std()
        .unwrap_or_default())
}

/// Creates `count` tasks over `connections` connections as fast as the server answers;
/// returns the creation round-trip times.
pub(crate) async fn submit(
    addr: &str,
    shape: Shape,
    count: usize,
    connections: usize,
) -> Result<Samples> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut creators = tokio::task::JoinSet::new();
    for _ in 0..connections.max(1) {
        let mut conn = Conn::connect(addr).await?;
        let next = next.clone();
        creators.spawn(async move {
            let mut latency = Samples::with_capacity(count);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, anyhow::Error>(latency);
                }
                let (_, elapsed) = create(&mut conn, shape, i64::try_from(i)?).await?;
                latency.record(elapsed);
            }
        });
    }
    let mut all = Samples::with_capacity(count);
    while let Some(joined) = creators.join_next().await {
        all.extend(joined.map_err(|e| anyhow!("creator task failed: {e}"))??);
    }
    Ok(all)
}

/// Tasks in state `complete`.
pub(crate) async fn count_complete(conn: &mut Conn) -> Result<u64> {
    let list = conn
        .get("/v1/tasks?status=complete&per_page=1")
        .await?
        .json(200)?;
    list["pagination"]["total_count"]
        .as_u64()
        .ok_or_else(|| anyhow!("task list has no pagination.total_count: {list}"))
}

/// Waits until at least `target` tasks are complete, counting them every `every`; fails when
/// the count has not moved for `stall`. Returns the moment the target was observed.
pub(crate) async fn wait_complete(
    addr: &str,
    target: u64,
    every: Duration,
    stall: Duration,
) -> Result<Instant> {
    let mut conn = Conn::connect(addr).await?;
    let mut last = (count_complete(&mut conn).await?, Instant::now());
    loop {
        let done = count_complete(&mut conn).await?;
        if done >= target {
            return Ok(Instant::now());
        }
        if done != last.0 {
            last = (done, Instant::now());
        } else if last.1.elapsed() > stall {
            bail!("only {done} of {target} tasks complete, and none finished for {stall:?}");
        }
        tokio::time::sleep(every).await;
    }
}
