//! Floors: what the database itself does with minimal SQL on a scratch table, measured in the
//! same run as the engine's figures. Machines here are shared and noisy, so an absolute figure
//! is not comparable from run to run; a figure divided by its floor is.
//!
//! - **claim+complete**: 4 connections, each repeatedly claiming 16 rows in one statement and
//!   completing them in a second, every statement its own transaction (synchronous commit as
//!   the database is configured). Rows completed per second.
//! - **commit round trip**: one connection inserting one row per transaction; p50/p99.
//!
//! SQLite is driven the way the store drives it (`rusqlite`, in process, statements cached);
//! PostgreSQL through sqlx, as the store does.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::stats::{Samples, round};
use crate::stores::StoreKind;

/// Connections of the claim+complete floor.
pub(crate) const CONNECTIONS: usize = 4;
/// Rows one claim statement takes.
pub(crate) const BATCH: usize = 16;

/// Sizes of one floor measurement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    /// How long the claim+complete loop runs.
    pub(crate) seconds: f64,
    /// Rows in the scratch table (more than the loop can drain in `seconds`).
    pub(crate) rows: usize,
    /// Single-row commits timed.
    pub(crate) commits: usize,
}

impl Sizes {
    pub(crate) fn new(quick: bool) -> Self {
        if quick {
            Self {
                seconds: 0.3,
                rows: 20_000,
                commits: 30,
            }
        } else {
            Self {
                seconds: 3.0,
                rows: 400_000,
                commits: 300,
            }
        }
    }
}

/// The floors of one store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Floors {
    /// Rows claimed and completed per second.
    pub(crate) claim_complete_rows_per_s: f64,
    /// Single-row commit round trip.
    pub(crate) commit_p50_ms: f64,
    pub(crate) commit_p99_ms: f64,
}

impl Floors {
    pub(crate) fn to_json(self) -> Value {
        json!({
            "claim_complete_rows_per_s": round(self.claim_complete_rows_per_s, 0),
            "claim_complete_connections": CONNECTIONS,
            "claim_complete_rows_per_statement": BATCH,
            "commit_p50_ms": round(self.commit_p50_ms, 3),
            "commit_p99_ms": round(self.commit_p99_ms, 3),
        })
    }

    /// One line for the reports.
    pub(crate) fn describe(self, store: StoreKind) -> String {
        format!(
            "floor ({}): bare claim+complete {:.0} rows/s ({CONNECTIONS} connections, {BATCH} rows \
             per statement); single-row commit p50 {:.3} ms, p99 {:.3} ms",
            store.name(),
            self.claim_complete_rows_per_s,
            self.commit_p50_ms,
            self.commit_p99_ms
        )
    }
}

/// Measures the floors on `url`: a PostgreSQL database (scratch tables are created in it and
/// dropped after), or for SQLite a scratch file beside the store's (same journal settings).
pub(crate) async fn measure(kind: StoreKind, url: &str, sizes: Sizes) -> Result<Floors> {
    let target = Target::new(kind, url)?;
    let mut admin = target.connect().await?;
    admin.prepare(sizes.rows).await?;
    let mut conns = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        conns.push(target.connect().await?);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(sizes.seconds);
    let started = Instant::now();
    let loops = conns
        .into_iter()
        .enumerate()
        .map(|(worker, conn)| claim_loop(conn, worker, deadline));
    let counts: Vec<usize> = futures::future::join_all(loops)
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let elapsed = started.elapsed().as_secs_f64();
    let mut commits = Samples::with_capacity(sizes.commits);
    for i in 0..sizes.commits {
        let t = Instant::now();
        admin.commit_one(i).await?;
        commits.record(t.elapsed());
    }
    admin.finish().await?;
    target.remove_scratch();
    Ok(Floors {
        claim_complete_rows_per_s: counts.iter().sum::<usize>() as f64 / elapsed.max(1e-9),
        commit_p50_ms: commits.percentile_ms(50.0),
        commit_p99_ms: commits.percentile_ms(99.0),
    })
}

async fn claim_loop(mut conn: Conn, worker: usize, deadline: Instant) -> Result<usize> {
    let mut done = 0;
    while Instant::now() < deadline {
        let ids = conn.claim(worker).await?;
        if ids.is_empty() {
            break;
        }
        conn.complete(&ids).await?;
        done += ids.len();
    }
    Ok(done)
}

/// Where the scratch tables live.
enum Target {
    Postgres(String),
    Sqlite(String),
}

impl Target {
    fn new(kind: StoreKind, url: &str) -> Result<Self> {
        Ok(match kind {
            StoreKind::Postgres => Self::Postgres(url.to_owned()),
            StoreKind::Sqlite => {
                let path = url
                    .strip_prefix("sqlite://")
                    .context("floor: a SQLite URL starts with sqlite://")?;
                Self::Sqlite(format!("{path}.floor"))
            }
        })
    }

    async fn connect(&self) -> Result<Conn> {
        Ok(match self {
            Self::Postgres(url) => Conn::Pg(
                PgConnection::connect(url)
                    .await
                    .context("floor: cannot connect to PostgreSQL")?,
            ),
            Self::Sqlite(path) => {
                let c = rusqlite::Connection::open(path)?;
                c.busy_timeout(Duration::from_secs(10))?;
                c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
                c.execute_batch("PRAGMA synchronous = NORMAL")?;
                Conn::Sqlite(c)
            }
        })
    }

    fn remove_scratch(&self) {
        if let Self::Sqlite(path) = self {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
    }
}

/// One connection of either backend, speaking the floor's few statements.
enum Conn {
    Pg(PgConnection),
    Sqlite(rusqlite::Connection),
}

impl Conn {
    async fn run(&mut self, sql: &str) -> Result<()> {
        match self {
            Self::Pg(c) => sqlx::query(sql).execute(c).await.map(drop)?,
            Self::Sqlite(c) => c.execute_batch(sql)?,
        }
        Ok(())
    }

    /// Creates the scratch tables with `rows` claimable rows.
    async fn prepare(&mut self, rows: usize) -> Result<()> {
        let (fill, commits) = match self {
            Self::Pg(_) => (
                format!(
                    "INSERT INTO bench_floor_jobs (id) SELECT g FROM generate_series(1, {rows}) g"
                ),
                "CREATE TABLE bench_floor_commits (id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL)",
            ),
            Self::Sqlite(_) => (
                format!(
                    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g \
                     WHERE n < {rows}) INSERT INTO bench_floor_jobs (id) SELECT n FROM g"
                ),
                "CREATE TABLE bench_floor_commits (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)",
            ),
        };
        for sql in [
            "DROP TABLE IF EXISTS bench_floor_jobs",
            "DROP TABLE IF EXISTS bench_floor_commits",
            "CREATE TABLE bench_floor_jobs (id BIGINT PRIMARY KEY, state SMALLINT NOT NULL \
             DEFAULT 0, worker INT, result TEXT)",
            &fill,
            "CREATE INDEX bench_floor_ready ON bench_floor_jobs (id) WHERE state = 0",
            commits,
            "ANALYZE bench_floor_jobs",
        ] {
            self.run(sql).await?;
        }
        Ok(())
    }

    /// Claims up to [`BATCH`] rows in one statement.
    async fn claim(&mut self, worker: usize) -> Result<Vec<i64>> {
        let worker = i64::try_from(worker)?;
        let batch = i64::try_from(BATCH)?;
        Ok(match self {
            Self::Pg(c) => {
                sqlx::query_scalar(
                    "UPDATE bench_floor_jobs SET state = 1, worker = $1::BIGINT WHERE id IN \
                     (SELECT id FROM bench_floor_jobs WHERE state = 0 ORDER BY id LIMIT $2 \
                     FOR UPDATE SKIP LOCKED) RETURNING id",
                )
                .bind(worker)
                .bind(batch)
                .fetch_all(c)
                .await?
            }
            Self::Sqlite(c) => c
                .prepare_cached(
                    "UPDATE bench_floor_jobs SET state = 1, worker = ?1 WHERE id IN \
                     (SELECT id FROM bench_floor_jobs WHERE state = 0 ORDER BY id LIMIT ?2) \
                     RETURNING id",
                )?
                .query_map([worker, batch], |r| r.get(0))?
                .collect::<Result<_, _>>()?,
        })
    }

    /// Completes the claimed rows in one statement.
    async fn complete(&mut self, ids: &[i64]) -> Result<()> {
        match self {
            Self::Pg(c) => {
                sqlx::query(
                    "UPDATE bench_floor_jobs SET state = 2, result = 'ok' WHERE id = ANY($1)",
                )
                .bind(ids)
                .execute(c)
                .await?;
            }
            Self::Sqlite(c) => {
                c.prepare_cached(
                    "UPDATE bench_floor_jobs SET state = 2, result = 'ok' \
                     WHERE id IN (SELECT value FROM json_each(?1))",
                )?
                .execute([serde_json::to_string(ids)?])?;
            }
        }
        Ok(())
    }

    /// One single-row transaction.
    async fn commit_one(&mut self, i: usize) -> Result<()> {
        let at = i64::try_from(i)?;
        match self {
            Self::Pg(c) => sqlx::query("INSERT INTO bench_floor_commits (at) VALUES ($1)")
                .bind(at)
                .execute(c)
                .await
                .map(drop)?,
            Self::Sqlite(c) => c
                .prepare_cached("INSERT INTO bench_floor_commits (at) VALUES (?1)")?
                .execute([at])
                .map(drop)?,
        }
        Ok(())
    }

    /// Drops the scratch tables and closes the connection.
    async fn finish(mut self) -> Result<()> {
        self.run("DROP TABLE IF EXISTS bench_floor_jobs").await?;
        self.run("DROP TABLE IF EXISTS bench_floor_commits").await?;
        match self {
            Self::Pg(c) => c.close().await?,
            Self::Sqlite(c) => c.close().map_err(|(_, e)| e)?,
        }
        Ok(())
    }
}
