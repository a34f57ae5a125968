//! SQLite run in process: statements execute on the calling thread, through SQLite's own
//! prepared-statement cache. sqlx ran every statement on a thread per connection and sent each
//! row back over a channel, so a statement cost two thread wake-ups; on the 2-core reference
//! machine that was about 100 µs, most of a step's latency, against a few µs here.
//!
//! One writer connection behind an async mutex serialises this process's write transactions
//! (`BEGIN IMMEDIATE`; a waiting writer yields instead of blocking a thread). Plain `SELECT`s
//! outside a transaction use reader connections, which WAL lets run beside the writer. Another process
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
    // Readers open read-write too: a read-only connection cannot create the WAL index file,
    // which SQLite removes when the last connection to the file closes.
    let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_READ_WRITE;
    if !read_only {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(&target.path, flags).map_err(lite_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.busy_timeout(READ_BUSY_TIMEOUT).map_err(lite_err)?;
    if !read_only {
        // Already so when the migration pool made the file; a no-op then.
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(lite_err)?;
    }
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
/// linear search of the names, and numbered by first appearance), `?N` as the `N`th. A `$`
/// inside a quoted literal (a JSON path) is left alone.
fn numbered(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.contains('$') {
        std::borrow::Cow::Owned(super::deferred::rewrite_placeholders(sql, '?', 0))
    } else {
        std::borrow::Cow::Borrowed(sql)
    }
}

/// A statement slower than this is logged at `warn` (every statement is, at `debug`).
const SLOW_STATEMENT: Duration = Duration::from_secs(1);

fn run(conn: &Connection, sql: &str, args: Vec<Arg>) -> Result<(Vec<LiteRow>, u64), StoreError> {
    let started = std::time::Instant::now();
    let text = numbered(sql);
    let out = if args.len() <= MAX_CACHED_ARGS {
        let mut stmt = conn.prepare_cached(&text).map_err(lite_err)?;
        execute(conn, &mut stmt, args)
    } else {
        let mut stmt = conn.prepare(&text).map_err(lite_err)?;
        execute(conn, &mut stmt, args)
    };
    let elapsed = started.elapsed();
    // Only the SQL: arguments may hold task contexts and results.
    if elapsed >= SLOW_STATEMENT {
        tracing::warn!(target: "tasker_store::sql", elapsed_ms = elapsed.as_secs_f64() * 1000.0, statement = %summary(sql), "slow SQLite statement");
    } else {
        tracing::debug!(target: "tasker_store::sql", elapsed_ms = elapsed.as_secs_f64() * 1000.0, statement = %summary(sql), "SQLite statement");
    }
    out
}

/// A statement's text on one line, at most 200 characters.
fn summary(sql: &str) -> String {
    let line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tasker_core::StoreError;

    use super::{LitePool, Target};
    use crate::db::args;

    fn pool(dir: &tempfile::TempDir) -> LitePool {
        let url = format!("sqlite://{}/t.db", dir.path().display());
        LitePool::open(Target::from_url(&url).unwrap(), 2).unwrap()
    }

    async fn with_table(dir: &tempfile::TempDir) -> LitePool {
        let p = pool(dir);
        let mut tx = p.begin().await.unwrap();
        tx.run(
            "CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, f REAL, note TEXT)",
            vec![],
        )
        .unwrap();
        tx.commit().unwrap();
        p
    }

    #[test]
    fn urls_name_files_and_memory_is_refused() {
        assert_eq!(
            Target::from_url("sqlite://data/x.db?mode=rwc")
                .unwrap()
                .path,
            "data/x.db"
        );
        assert_eq!(
            Target::from_url("sqlite:/tmp/y.db").unwrap().path,
            "/tmp/y.db"
        );
        for url in ["sqlite::memory:", "sqlite://", "sqlite:file:x?mode=memory"] {
            let err = Target::from_url(url).err().unwrap().to_string();
            assert!(
                err.contains("in-memory SQLite database is not supported"),
                "{url}: {err}"
            );
        }
    }

    #[tokio::test]
    async fn placeholders_bind_by_number_and_rows_decode_by_type() {
        let dir = tempfile::tempdir().unwrap();
        let p = with_table(&dir).await;
        // `$2` before `$1`: bound by number, not by order of appearance.
        let rows = p
            .all(
                "INSERT INTO t (n, id, f, note) VALUES ($2, $1, $3, $4) RETURNING id, n, f, note",
                args!["a", 7_i64, 1.5_f64, None::<String>],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].opt_text("id").unwrap().as_deref(), Some("a"));
        assert_eq!(rows[0].opt_int("n").unwrap(), Some(7));
        assert_eq!(rows[0].opt_float("f").unwrap(), Some(1.5));
        assert_eq!(rows[0].opt_text("note").unwrap(), None);
        let read = p
            .all("SELECT n AS total FROM t WHERE id = $1", args!["a"])
            .await
            .unwrap();
        assert_eq!(read[0].opt_float("total").unwrap(), Some(7.0));
        let err = read[0].opt_text("total").err().unwrap().to_string();
        assert!(
            err.contains("column `total`: expected text, found integer"),
            "{err}"
        );
        let err = read[0].opt_int("missing").err().unwrap().to_string();
        assert!(err.contains("column `missing`: not in the result"), "{err}");
    }

    /// Log lines written by the code under test, for [`statements_are_logged_without_arguments`].
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn statements_are_logged_without_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let p = with_table(&dir).await;
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("tasker_store::sql=debug")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        p.all(
            "INSERT INTO t (id, note) VALUES ($1, $2)",
            args!["row-1", "sk-secret-value"],
        )
        .await
        .unwrap();
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains("INSERT INTO t (id, note) VALUES ($1, $2)"))
            .unwrap_or_else(|| panic!("no statement line in: {text}"));
        assert!(
            line.contains("DEBUG") && line.contains("SQLite statement"),
            "{line}"
        );
        assert!(line.contains("elapsed_ms="), "{line}");
        assert!(
            !text.contains("sk-secret-value") && !text.contains("row-1"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_dollar_inside_a_literal_is_not_a_placeholder() {
        let dir = tempfile::tempdir().unwrap();
        let p = pool(&dir);
        let rows = p
            .all(
                "SELECT '$1' AS lit, json_extract('{\"a\": 5}', '$.a') AS path, $1 AS v",
                args!["x"],
            )
            .await
            .unwrap();
        assert_eq!(rows[0].opt_text("lit").unwrap().as_deref(), Some("$1"));
        assert_eq!(rows[0].opt_int("path").unwrap(), Some(5));
        assert_eq!(rows[0].opt_text("v").unwrap().as_deref(), Some("x"));
    }

    #[tokio::test]
    async fn a_dropped_transaction_rolls_back_and_the_writer_stays_usable() {
        let dir = tempfile::tempdir().unwrap();
        let p = with_table(&dir).await;
        {
            let mut tx = p.begin().await.unwrap();
            let (_, changed) = tx
                .run("INSERT INTO t (id) VALUES ($1)", args!["gone"])
                .unwrap();
            assert_eq!(changed, 1);
        }
        let mut tx = p.begin().await.unwrap();
        tx.run("INSERT INTO t (id) VALUES ($1)", args!["kept"])
            .unwrap();
        tx.commit().unwrap();
        let rows = p.all("SELECT id FROM t ORDER BY id", vec![]).await.unwrap();
        let ids: Vec<_> = rows
            .iter()
            .map(|r| r.opt_text("id").unwrap().unwrap())
            .collect();
        assert_eq!(ids, ["kept"]);
    }

    #[tokio::test]
    async fn a_duplicate_key_is_a_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let p = with_table(&dir).await;
        p.all("INSERT INTO t (id) VALUES ($1)", args!["x"])
            .await
            .unwrap();
        let err = p
            .all("INSERT INTO t (id) VALUES ($1)", args!["x"])
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, StoreError::Conflict(ref m) if m.contains("unique")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn changed_rows_are_counted_for_writes_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = with_table(&dir).await;
        let mut tx = p.begin().await.unwrap();
        tx.run(
            "INSERT INTO t (id, n) VALUES ('a', 1), ('b', 1), ('c', 2)",
            vec![],
        )
        .unwrap();
        assert_eq!(
            tx.run("UPDATE t SET n = 3 WHERE n = $1", args![1_i64])
                .unwrap()
                .1,
            2
        );
        assert_eq!(tx.run("SELECT id FROM t", vec![]).unwrap().1, 0);
        tx.commit().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_of_another_process_is_waited_for_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let first = with_table(&dir).await;
        // A second pool on the same file stands for another process.
        let second = pool(&dir);
        let mut held = first.begin().await.unwrap();
        held.run("INSERT INTO t (id) VALUES ('first')", vec![])
            .unwrap();
        let waiting = tokio::spawn(async move {
            let mut tx = second.begin().await.unwrap();
            tx.run("INSERT INTO t (id) VALUES ('second')", vec![])
                .unwrap();
            tx.commit().unwrap();
            second
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiting.is_finished(),
            "the second writer must wait for the first"
        );
        // The runtime is not blocked: this pool still reads meanwhile.
        assert!(
            first
                .all("SELECT id FROM t", vec![])
                .await
                .unwrap()
                .is_empty()
        );
        held.commit().unwrap();
        let second = waiting.await.unwrap();
        let rows = second
            .all("SELECT id FROM t ORDER BY id", vec![])
            .await
            .unwrap();
        let ids: Vec<_> = rows
            .iter()
            .map(|r| r.opt_text("id").unwrap().unwrap())
            .collect();
        assert_eq!(ids, ["first", "second"]);
    }
}
