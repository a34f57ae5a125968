//! SQLite run in process: statements execute on the calling thread, through SQLite's own
//! prepared-statement cache. sqlx ran every statement on a thread per connection and sent each
//! row back over a channel, so a statement cost two thread wake-ups; on the 2-core reference
//! machine that was about 100 µs, most of a step's latency, against a few µs here.
//!
//! One writer connection behind an async mutex serialises this process's write transactions
//! (`BEGIN IMMEDIATE`; a waiting writer yields instead of blocking a thread). Reads outside a
//! transaction use read-only connections, which WAL lets run beside the writer. Another process
//! holding the write lock makes `BEGIN IMMEDIATE` answer busy at once; it is retried with an
//! async pause, never by blocking a thread in SQLite's busy handler.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use tasker_core::StoreError;
use tokio::sync::OwnedMutexGuard;

use super::Arg;

/// Statements kept prepared per connection.
const STATEMENT_CACHE: usize = 256;
/// Statements with more bind parameters than this (the chunks of bulk writes, whose sizes
/// vary) are prepared each time rather than kept.
const MAX_CACHED_ARGS: usize = 64;
/// How long a write transaction waits for another process's write lock.
const WRITE_PATIENCE: Duration = Duration::from_secs(10);
/// How long a read waits in SQLite's busy handler (WAL readers wait only in rare cases, such
/// as another connection recovering the WAL index).
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The database file.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    path: String,
}

impl Target {
    /// The file of a `sqlite:` URL (`sqlite://path`, `sqlite:path`; query options such as
    /// `mode=rwc` are for the migration pool, which creates the file). An in-memory database
    /// is refused: each connection would see a database of its own.
    pub(crate) fn from_url(url: &str) -> Result<Self, StoreError> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let path = rest.split('?').next().unwrap_or(rest);
        if path.is_empty() || path == ":memory:" || rest.contains("mode=memory") {
            return Err(StoreError::Backend(
                "an in-memory SQLite database is not supported: give `database.url` a file, \
                 such as sqlite://data/tasker.db"
                    .into(),
            ));
        }
        Ok(Self {
            path: path.to_owned(),
        })
    }
}

/// The in-process SQLite pool.
#[derive(Clone)]
pub(crate) struct LitePool {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    writer: Arc<tokio::sync::Mutex<Conn>>,
    readers: Mutex<Vec<Conn>>,
    /// Idle read connections kept open (`database.max_connections`).
    max_idle_readers: usize,
}

/// A connection. The `Mutex` makes it `Sync` (futures holding a transaction must be); it is
/// never contended, since the connection has one user at a time.
pub(crate) struct Conn(Mutex<Connection>);

impl Conn {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn open(target: &Target, read_only: bool) -> Result<Conn, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX;
    flags |= if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
    };
    let conn = Connection::open_with_flags(&target.path, flags).map_err(lite_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
        .map_err(lite_err)?;
    conn.busy_timeout(if read_only {
        READ_BUSY_TIMEOUT
    } else {
        Duration::ZERO
    })
    .map_err(lite_err)?;
    Ok(Conn(Mutex::new(conn)))
}

impl LitePool {
    /// Opens the writer (the database must exist and be migrated); at most `max_idle_readers`
    /// read connections stay open between reads.
    pub(crate) fn open(target: Target, max_idle_readers: usize) -> Result<Self, StoreError> {
        let writer = open(&target, false)?;
        Ok(Self {
            inner: Arc::new(Inner {
                target,
                writer: Arc::new(tokio::sync::Mutex::new(writer)),
                readers: Mutex::new(Vec::new()),
                max_idle_readers,
            }),
        })
    }

    /// Runs one statement outside a transaction: a read on a read connection, anything else
    /// as its own write transaction on the writer.
    pub(crate) async fn all(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<LiteRow>, StoreError> {
        if !is_read(sql) {
            let mut tx = self.begin().await?;
            let (rows, _) = tx.run(sql, args)?;
            tx.commit()?;
            return Ok(rows);
        }
        let reader = self.take_reader()?;
        let out = reader.with(|c| run(c, sql, args)).map(|(rows, _)| rows);
        let mut idle = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.inner.max_idle_readers {
            idle.push(reader);
        }
        out
    }

    fn take_reader(&self) -> Result<Conn, StoreError> {
        let idle = self
            .inner
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(c) => Ok(c),
            None => open(&self.inner.target, true),
        }
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE`), waiting for this process's other
    /// writers without blocking, and for another process's for up to [`WRITE_PATIENCE`].
    pub(crate) async fn begin(&self) -> Result<LiteTx, StoreError> {
        let conn = self.inner.writer.clone().lock_owned().await;
        let deadline = tokio::time::Instant::now() + WRITE_PATIENCE;
        let mut pause = Duration::from_millis(1);
        loop {
            match conn.with(|c| c.execute_batch("BEGIN IMMEDIATE")) {
                Ok(()) => return Ok(LiteTx { conn, done: false }),
                Err(e) if is_busy(&e) && tokio::time::Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(lite_err(e)),
            }
        }
    }
}

/// A write transaction on the writer connection; rolled back when dropped uncommitted.
pub(crate) struct LiteTx {
    conn: OwnedMutexGuard<Conn>,
    done: bool,
}

impl LiteTx {
    /// Runs a statement; its rows and the rows it changed.
    pub(crate) fn run(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<(Vec<LiteRow>, u64), StoreError> {
        self.conn.with(|c| run(c, sql, args))
    }

    pub(crate) fn commit(mut self) -> Result<(), StoreError> {
        self.conn
            .with(|c| c.execute_batch("COMMIT"))
            .map_err(lite_err)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for LiteTx {
    fn drop(&mut self) {
        if !self.done {
            self.conn.with(|c| {
                if !c.is_autocommit()
                    && let Err(e) = c.execute_batch("ROLLBACK")
                {
                    tracing::warn!(error = %e, "rolling back an SQLite transaction failed");
                }
            });
        }
    }
}

/// Whether a statement only reads (a plain `SELECT`); anything else goes to the writer.
fn is_read(sql: &str) -> bool {
    let head = sql.trim_start();
    head.get(..6)
        .is_some_and(|h| h.eq_ignore_ascii_case("select"))
}

/// The engine writes `$N` placeholders; SQLite reads `$N` as a *named* parameter (found by a
/// linear search of the names, and numbered by first appearance), `?N` as the `N`th. The
/// engine's SQL has no `$` outside placeholders.
fn numbered(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.contains('$') {
        std::borrow::Cow::Owned(sql.replace('$', "?"))
    } else {
        std::borrow::Cow::Borrowed(sql)
    }
}

fn run(conn: &Connection, sql: &str, args: Vec<Arg>) -> Result<(Vec<LiteRow>, u64), StoreError> {
    let sql = numbered(sql);
    if args.len() <= MAX_CACHED_ARGS {
        let mut stmt = conn.prepare_cached(&sql).map_err(lite_err)?;
        execute(conn, &mut stmt, args)
    } else {
        let mut stmt = conn.prepare(&sql).map_err(lite_err)?;
        execute(conn, &mut stmt, args)
    }
}

fn execute(
    conn: &Connection,
    stmt: &mut rusqlite::Statement<'_>,
    args: Vec<Arg>,
) -> Result<(Vec<LiteRow>, u64), StoreError> {
    let count = stmt.parameter_count();
    for (i, a) in args.into_iter().enumerate().take(count) {
        let value = match a {
            Arg::Text(v) => v.map_or(Value::Null, Value::Text),
            Arg::Int(v) => v.map_or(Value::Null, Value::Integer),
            Arg::Float(v) => Value::Real(v),
            Arg::List(v) => Value::Text(serde_json::Value::from(v).to_string()),
        };
        stmt.raw_bind_parameter(i + 1, value).map_err(lite_err)?;
    }
    let writes = !stmt.readonly();
    let columns: Arc<[String]> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let width = columns.len();
    let mut out = Vec::new();
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().map_err(lite_err)? {
        let mut values = Vec::with_capacity(width);
        for i in 0..width {
            values.push(Value::from(row.get_ref(i).map_err(lite_err)?));
        }
        out.push(LiteRow {
            columns: columns.clone(),
            values,
        });
    }
    drop(rows);
    let changed = if writes { conn.changes() } else { 0 };
    Ok((out, changed))
}

/// A result row, owned.
pub(crate) struct LiteRow {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl LiteRow {
    fn value(&self, col: &str) -> Result<&Value, StoreError> {
        self.columns
            .iter()
            .position(|c| c == col)
            .map(|i| &self.values[i])
            .ok_or_else(|| StoreError::Corrupt(format!("column `{col}`: not in the result")))
    }

    pub(crate) fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        match self.value(col)? {
            Value::Null => Ok(None),
            Value::Text(t) => Ok(Some(t.clone())),
            other => Err(mismatch(col, "text", other)),
        }
    }

    pub(crate) fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        match self.value(col)? {
            Value::Null => Ok(None),
            Value::Integer(i) => Ok(Some(*i)),
            other => Err(mismatch(col, "integer", other)),
        }
    }

    pub(crate) fn opt_float(&self, col: &str) -> Result<Option<f64>, StoreError> {
        match self.value(col)? {
            Value::Null => Ok(None),
            Value::Real(f) => Ok(Some(*f)),
            #[allow(clippy::cast_precision_loss)]
            Value::Integer(i) => Ok(Some(*i as f64)),
            other => Err(mismatch(col, "real", other)),
        }
    }
}

fn mismatch(col: &str, wanted: &str, got: &Value) -> StoreError {
    let kind = match ValueRef::from(got) {
        ValueRef::Null => "null",
        ValueRef::Integer(_) => "integer",
        ValueRef::Real(_) => "real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "blob",
    };
    StoreError::Corrupt(format!("column `{col}`: expected {wanted}, found {kind}"))
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// A unique violation is a conflict (as on PostgreSQL); the rest are backend errors.
pub(crate) fn lite_err(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e
        && matches!(f.extended_code, 2067 | 1555)
    {
        return StoreError::Conflict(format!(
            "unique constraint violated: {}",
            msg.as_deref().unwrap_or("UNIQUE constraint failed")
        ));
    }
    StoreError::Backend(Box::new(e))
}
