//! The console's task list with a large store: one task is created through the API (a real
//! four-step task, `steps_in_process` with no worker to run it), then copied with its steps by SQL to reach
//! `--tasks` rows, and `GET /ui/tasks` is requested over one keep-alive connection. Reports
//! the server time the console reports (`Server-Timing: app;dur=`) and the round trip, for
//! the first page, a filtered page and a deep page.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::configs::{self, ServerKind};
use crate::http::Conn;
use crate::procs::{Process, sibling_binary};
use crate::stats::{Samples, print_table, round};
use crate::stores::{Store, StoreKind};
use crate::tasks::Shape;

/// What to run.
pub(crate) struct Params {
    store: StoreKind,
    tasks: usize,
    requests: usize,
    database_url: String,
}

impl Params {
    pub(crate) fn new(
        store: StoreKind,
        tasks: Option<usize>,
        requests: Option<usize>,
        quick: bool,
        database_url: String,
    ) -> Self {
        Self {
            store,
            tasks: tasks.unwrap_or(if quick { 5_000 } else { 100_000 }),
            requests: requests.unwrap_or(if quick { 20 } else { 200 }),
            database_url,
        }
    }
}

pub(crate) async fn run(p: &Params) -> Result<Value> {
    let root = configs::root_for(&ServerKind::Workflow {
        embedded_worker: false,
    })?;
    let store = Store::open(p.store, &root, &p.database_url, "console", &[]).await?;
    let server = Process::start(&sibling_binary("tasker-server")?, &root, &store.url)?;
    let host = server.addr().to_owned();
    let mut conn = Conn::connect(&host).await?;
    let (seed, _) = crate::tasks::create(&mut conn, Shape::Diamond, 1).await?;
    let seeded = Instant::now();
    copy_task(p.store, &store.url, &seed, p.tasks.saturating_sub(1)).await?;
    let seed_time = seeded.elapsed();
    let cookie = open_session(&mut conn).await?;
    // Whether the page must list tasks: the first and the filtered page match every task (a
    // filter that matched none once measured an empty page); page 1000 may be past the end.
    let pages = [
        ("first page", "/ui/tasks".to_owned(), true),
        (
            "filtered",
            "/ui/tasks?namespace=examples&name=diamond_math&status=steps_in_process".to_owned(),
            true,
        ),
        ("page 1000", "/ui/tasks?page=1000".to_owned(), false),
    ];
    let mut rows = vec![vec![
        "page".to_owned(),
        "server p50 ms".to_owned(),
        "server p95 ms".to_owned(),
        "round trip p50 ms".to_owned(),
        "round trip p95 ms".to_owned(),
    ]];
    let mut figures = Vec::new();
    for (label, path, lists) in &pages {
        let (mut server_ms, mut round_trip) =
            measure(&mut conn, &host, path, &cookie, p.requests, *lists).await?;
        let row = [
            server_ms.percentile_ms(50.0),
            server_ms.percentile_ms(95.0),
            round_trip.percentile_ms(50.0),
            round_trip.percentile_ms(95.0),
        ];
        rows.push(
            std::iter::once((*label).to_owned())
                .chain(row.iter().map(|v| format!("{v:.2}")))
                .collect(),
        );
        figures.push(json!({
            "page": label, "path": path,
            "server_p50_ms": round(row[0], 3), "server_p95_ms": round(row[1], 3),
            "round_trip_p50_ms": round(row[2], 3), "round_trip_p95_ms": round(row[3], 3),
        }));
    }
    println!(
        "console task list: {} tasks on {} (seeded in {:.1} s), {} requests per page",
        p.tasks,
        p.store.name(),
        seed_time.as_secs_f64(),
        p.requests
    );
    print_table(&rows);
    drop(server);
    store.close().await?;
    Ok(json!({
        "benchmark": "console-list", "store": p.store.name(), "tasks": p.tasks,
        "requests_per_page": p.requests, "pages": figures,
    }))
}

/// Requests `path` `n` times (after one warm-up); server and round-trip times. With `lists`,
/// the warm-up's page must link to a task.
async fn measure(
    conn: &mut Conn,
    host: &str,
    path: &str,
    cookie: &str,
    n: usize,
    lists: bool,
) -> Result<(Samples, Samples)> {
    let request = crate::http::request_bytes("GET", host, path, &[("cookie", cookie)], None);
    let mut server = Samples::with_capacity(n);
    let mut round_trip = Samples::with_capacity(n);
    for i in 0..=n {
        let sent = Instant::now();
        let response = conn.send(&request).await?;
        let elapsed = sent.elapsed();
        if response.status != 200 {
            bail!("GET {path}: HTTP {}", response.status);
        }
        if i == 0 && lists && !String::from_utf8_lossy(&response.body).contains("href=\"/ui/tasks/")
        {
            bail!("GET {path}: the page lists no task, so it measures an empty list");
        }
        let ms: f64 = response
            .header("server-timing")
            .and_then(|v| v.strip_prefix("app;dur="))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow!("GET {path}: no Server-Timing header"))?;
        if i > 0 {
            server.record(Duration::from_secs_f64(ms / 1000.0));
            round_trip.record(elapsed);
        }
    }
    Ok((server, round_trip))
}

/// The anonymous console session (auth is off): the sign-in page sets its cookie.
async fn open_session(conn: &mut Conn) -> Result<String> {
    let response = conn.get("/ui/login").await?;
    response
        .header("set-cookie")
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("GET /ui/login set no cookie (HTTP {})", response.status))
}

/// Copies task `seed` and its steps `copies` times, each copy a second older than the last.
async fn copy_task(kind: StoreKind, url: &str, seed: &str, copies: usize) -> Result<()> {
    let (task_id, step_id) = match kind {
        StoreKind::Sqlite => (
            "printf('00000000-0000-4000-8000-%012x', i)",
            "printf('%08x-0000-4000-8000-%012x', s.position + 1, i)",
        ),
        StoreKind::Postgres => (
            "'00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0')",
            "lpad(to_hex(s.position + 1), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0')",
        ),
    };
    let series = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {copies})"
    );
    let tasks = format!(
        "{series} INSERT INTO tasks (task_uuid, namespace, name, version, status, context, created_by, \
         initiator, source_system, reason, tags, priority, correlation_id, idempotency_key, \
         created_at, updated_at, status_changed_at, completed_at) \
         SELECT {task_id}, namespace, name, version, status, context, created_by, initiator, \
         source_system, reason, tags, priority, correlation_id, NULL, created_at - i * 1000, \
         updated_at, status_changed_at, completed_at FROM n, tasks WHERE task_uuid = '{seed}'"
    );
    let steps = format!(
        "{series} INSERT INTO steps (step_uuid, task_uuid, position, namespace, name, handler, \
         initialization, status, attempts, max_attempts, retryable, backoff_base_ms, backoff_max_ms, \
         jitter_percent, timeout_seconds, results, last_error, ready_at, retry_at, created_at, \
         updated_at, completed_at) \
         SELECT {step_id}, {task_id}, s.position, s.namespace, s.name, s.handler, s.initialization, \
         'pending', 0, s.max_attempts, s.retryable, s.backoff_base_ms, s.backoff_max_ms, \
         s.jitter_percent, s.timeout_seconds, NULL, NULL, NULL, NULL, s.created_at, s.updated_at, NULL \
         FROM n, steps s WHERE s.task_uuid = '{seed}'"
    );
    match kind {
        StoreKind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url)
                .await
                .context("open the SQLite store")?;
            sqlx::query(&tasks)
                .execute(&pool)
                .await
                .context("copy tasks")?;
            sqlx::query(&steps)
                .execute(&pool)
                .await
                .context("copy steps")?;
            sqlx::query("ANALYZE").execute(&pool).await?;
        }
        StoreKind::Postgres => {
            let pool = sqlx::PgPool::connect(url)
                .await
                .context("open the PostgreSQL store")?;
            sqlx::query(&tasks)
                .execute(&pool)
                .await
                .context("copy tasks")?;
            sqlx::query(&steps)
                .execute(&pool)
                .await
                .context("copy steps")?;
            sqlx::query("ANALYZE").execute(&pool).await?;
        }
    }
    Ok(())
}
