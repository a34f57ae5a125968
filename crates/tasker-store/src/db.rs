//! A thin runtime switch over the two backends: sqlx for PostgreSQL, SQLite in process
//! (`lite`). The engine's SQL is written once (`$N` placeholders, TEXT ids, BIGINT millisecond
//! times) and runs through these types on either. SQLite write transactions are serialised
//! in-process and start with `BEGIN IMMEDIATE`, so there is a single writer; PostgreSQL relies
//! on row locks.

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Postgres, Row as _, Transaction};
use tasker_core::StoreError;
use uuid::Uuid;

mod deferred;
pub(crate) mod lite;

/// A bound parameter.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Float(f64),
    /// A list of texts (ids) bound as one parameter: a `TEXT[]` on PostgreSQL, a JSON array
    /// on SQLite; used through [`in_list`] and [`list_rows`].
    List(Vec<String>),
}

impl Arg {
    /// The ids as one list parameter.
    pub(crate) fn ids(ids: impl IntoIterator<Item = Uuid>) -> Arg {
        Arg::List(ids.into_iter().map(|id| id.to_string()).collect())
    }
}

/// Membership in the list parameter `$n` (after a column): `= ANY($n)` on PostgreSQL,
/// `IN (SELECT value FROM json_each($n))` on SQLite. One parameter whatever the list's
/// length, so the statement is prepared once and kept; and PostgreSQL's planner, which
/// assumes a few elements for an array parameter, keeps to the indexes even on statistics
/// taken before the tables filled (an `IN` of a hundred placeholders looked like most of the
/// table to it, and it chose scans).
pub(crate) fn in_list(pg: bool, n: usize) -> String {
    if pg {
        format!("= ANY(CAST(${n} AS TEXT[]))")
    } else {
        format!("IN (SELECT value FROM json_each(${n}))")
    }
}

/// Membership in the rows of `subquery` (after a column): `= ANY(ARRAY(subquery))` on
/// PostgreSQL, which runs the subquery first and then looks the column up in its index (joined
/// instead, the planner may hash a scan of the whole table), `IN (subquery)` on SQLite.
pub(crate) fn in_subquery(pg: bool, subquery: &str) -> String {
    if pg {
        format!("= ANY(ARRAY({subquery}))")
    } else {
        format!("IN ({subquery})")
    }
}

/// The elements of the list parameter `$n` as rows of a table `alias` with one column,
/// `value`.
pub(crate) fn list_rows(pg: bool, n: usize, alias: &str) -> String {
    if pg {
        format!("unnest(CAST(${n} AS TEXT[])) AS {alias}(value)")
    } else {
        format!("json_each(${n}) AS {alias}")
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::Text(v.map(str::to_owned))
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Arg::Float(v)
    }
}
impl From<Uuid> for Arg {
    fn from(v: Uuid) -> Self {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<Option<Uuid>> for Arg {
    fn from(v: Option<Uuid>) -> Self {
        Arg::Text(v.map(|u| u.to_string()))
    }
}
impl From<DateTime<Utc>> for Arg {
    fn from(v: DateTime<Utc>) -> Self {
        Arg::Int(Some(v.timestamp_millis()))
    }
}
impl From<Option<DateTime<Utc>>> for Arg {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Arg::Int(v.map(|t| t.timestamp_millis()))
    }
}

/// Builds a `Vec<Arg>` from heterogeneous values.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$($crate::db::Arg::from($v)),*] };
}
pub(crate) use args;

/// Statements with more bind parameters than this (the chunks of bulk writes, whose sizes
/// vary) are not kept prepared: each would hold its own plan on the connection and the server.
/// Below it fall a task's creation (one statement per template shape: about 130 parameters
/// for four steps; parsed and planned at every creation under the old limit of 64, a third
/// of PostgreSQL's creation time) and the combined writes of small result batches.
const MAX_CACHED_ARGS: usize = 256;

/// Binds `args` to `sql`; `$list` turns a list argument into the backend's bindable form.
macro_rules! bind_args {
    ($sql:expr, $args:expr, $list:expr) => {{
        let sql: &str = $sql;
        let args: Vec<Arg> = $args;
        let mut q = sqlx::query(sql).persistent(args.len() <= MAX_CACHED_ARGS);
        for a in args {
            q = match a {
                Arg::Text(v) => q.bind(v),
                Arg::Int(v) => q.bind(v),
                Arg::Float(v) => q.bind(v),
                Arg::List(v) => q.bind($list(v)),
            };
        }
        q
    }};
}

/// A list argument on PostgreSQL: a `TEXT[]`.
fn pg_list(items: Vec<String>) -> Vec<String> {
    items
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        return StoreError::Conflict(format!("unique constraint violated: {}", d.message()));
    }
    StoreError::Backend(Box::new(e))
}

/// A connection pool of either backend.
#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(lite::LitePool),
    Pg(PgPool),
}

/// A write transaction, with the writes deferred by [`Tx::defer`] not yet sent.
pub(crate) struct Tx {
    conn: TxConn,
    pending: Vec<deferred::Deferred>,
    /// Whether the work notification is already queued or sent in this transaction.
    announced: bool,
}

enum TxConn {
    Sqlite(lite::LiteTx),
    Pg(Transaction<'static, Postgres>),
    /// A PostgreSQL transaction not begun yet ([`Pool::begin_lazy`]).
    PgLazy(PgPool),
}

/// A result row.
pub(crate) enum Row {
    Sqlite(lite::LiteRow),
    Pg(PgRow),
}

/// Counts one statement sent to the database (`tasker_store_statements_total`): with
/// `tasker_store_transactions_total`, what a benchmark divides by the steps it ran.
fn count_statement() {
    metrics::counter!("tasker_store_statements_total").increment(1);
}

impl Pool {
    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        metrics::counter!("tasker_store_transactions_total").increment(1);
        match self {
            Pool::Sqlite(pool) => Ok(Tx::new(TxConn::Sqlite(pool.begin().await?))),
            Pool::Pg(pool) => Ok(Tx::new(TxConn::Pg(pool.begin().await.map_err(db_err)?))),
        }
    }

    /// One statement outside a transaction (its own transaction).
    /// [`Pool::begin`], except that on PostgreSQL nothing is sent until the transaction reads
    /// or writes: one that only queues writes (`Tx::defer`) without a row count to check is
    /// committed as their one statement alone, without `BEGIN` and `COMMIT` round trips (a
    /// single statement is atomic by itself).
    pub(crate) async fn begin_lazy(&self) -> Result<Tx, StoreError> {
        match self {
            Pool::Pg(pool) => {
                metrics::counter!("tasker_store_transactions_total").increment(1);
                Ok(Tx::new(TxConn::PgLazy(pool.clone())))
            }
            Pool::Sqlite(..) => self.begin().await,
        }
    }

    pub(crate) async fn all(&self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        count_statement();
        metrics::counter!("tasker_store_transactions_total").increment(1);
        match self {
            Pool::Sqlite(pool) => Ok(pool
                .all(sql, args)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect()),
            Pool::Pg(pool) => Ok(bind_args!(sql, args, pg_list)
                .fetch_all(pool)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(Row::Pg)
                .collect()),
        }
    }

    /// Whether this is a PostgreSQL pool (for the few statements whose SQL differs).
    pub(crate) fn is_pg(&self) -> bool {
        matches!(self, Pool::Pg(_))
    }

    pub(crate) async fn one(&self, sql: &str, args: Vec<Arg>) -> Result<Option<Row>, StoreError> {
        Ok(self.all(sql, args).await?.into_iter().next())
    }
}

impl Tx {
    fn new(conn: TxConn) -> Self {
        Self {
            conn,
            pending: Vec::new(),
            announced: false,
        }
    }

    /// Whether this is the transaction's first work notification (and records it).
    pub(crate) fn first_announcement(&mut self) -> bool {
        !std::mem::replace(&mut self.announced, true)
    }

    /// ` FOR UPDATE` on PostgreSQL; SQLite already holds the single write lock.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.conn {
            TxConn::Sqlite(..) => "",
            TxConn::Pg(_) | TxConn::PgLazy(_) => " FOR UPDATE",
        }
    }

    /// ` FOR UPDATE SKIP LOCKED` on PostgreSQL.
    pub(crate) fn skip_locked(&self) -> &'static str {
        match self.conn {
            TxConn::Sqlite(..) => "",
            TxConn::Pg(_) | TxConn::PgLazy(_) => " FOR UPDATE SKIP LOCKED",
        }
    }

    pub(crate) fn is_pg(&self) -> bool {
        matches!(self.conn, TxConn::Pg(_) | TxConn::PgLazy(_))
    }

    /// Queues a write to be sent with the next statement or at commit (see `deferred`):
    /// `expect` is the number of rows it must touch and the conflict reported otherwise.
    /// Only for a write that no other write queued with it reads or touches the rows of.
    pub(crate) fn defer(&mut self, sql: String, args: Vec<Arg>, expect: Option<(u64, String)>) {
        self.pending.push(deferred::Deferred { sql, args, expect });
    }

    /// Sends the queued writes: on PostgreSQL as one statement, on SQLite one by one.
    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        if self.is_pg()
            && let Some((sql, args, expected)) = deferred::combine(&pending)
        {
            let row = self.run_all(&sql, args).await?.into_iter().next();
            let row =
                row.ok_or_else(|| StoreError::Corrupt("a combined write returned no row".into()))?;
            for (i, expect) in expected.iter().enumerate() {
                let n = u64::try_from(row.int(&format!("n{i}"))?).unwrap_or(0);
                deferred::check(expect, n)?;
            }
            return Ok(());
        }
        for d in pending {
            let n = self.run_exec(&d.sql, d.args).await?;
            deferred::check(&d.expect, n)?;
        }
        Ok(())
    }

    pub(crate) async fn exec(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        self.flush().await?;
        self.run_exec(sql, args).await
    }

    /// Sends `BEGIN` for a lazy transaction about to send its first statement.
    async fn started(&mut self) -> Result<(), StoreError> {
        if let TxConn::PgLazy(pool) = &self.conn {
            self.conn = TxConn::Pg(pool.begin().await.map_err(db_err)?);
        }
        Ok(())
    }

    async fn run_exec(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        self.started().await?;
        count_statement();
        match &mut self.conn {
            TxConn::Sqlite(tx) => Ok(tx.run(sql, args)?.1),
            TxConn::Pg(tx) => Ok(bind_args!(sql, args, pg_list)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?
                .rows_affected()),
            TxConn::PgLazy(_) => Err(not_begun()),
        }
    }

    pub(crate) async fn all(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        self.flush().await?;
        self.run_all(sql, args).await
    }

    async fn run_all(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        self.started().await?;
        count_statement();
        match &mut self.conn {
            TxConn::Sqlite(tx) => Ok(tx.run(sql, args)?.0.into_iter().map(Row::Sqlite).collect()),
            TxConn::Pg(tx) => Ok(bind_args!(sql, args, pg_list)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(Row::Pg)
                .collect()),
            TxConn::PgLazy(_) => Err(not_begun()),
        }
    }

    pub(crate) async fn one(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.all(sql, args).await?.into_iter().next())
    }

    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        if let TxConn::PgLazy(pool) = &self.conn
            && self.pending.iter().all(|d| d.expect.is_none())
        {
            // Nothing was sent, and no queued write has a count whose mismatch would have to
            // roll the others back: the writes go as one statement, atomic on its own.
            let pool = Pool::Pg(pool.clone());
            let pending = std::mem::take(&mut self.pending);
            match (deferred::combine(&pending), pending.as_slice()) {
                (Some((sql, args, _)), _) => {
                    pool.all(&sql, args).await?;
                    return Ok(());
                }
                (None, []) => return Ok(()),
                (None, [one]) => {
                    pool.all(&one.sql, one.args.clone()).await?;
                    return Ok(());
                }
                // Too many arguments for one statement: a transaction as usual.
                (None, _) => self.pending = pending,
            }
        }
        self.flush().await?;
        match self.conn {
            TxConn::Sqlite(tx) => tx.commit(),
            TxConn::Pg(tx) => tx.commit().await.map_err(db_err),
            TxConn::PgLazy(_) => Ok(()),
        }
    }
}

/// A lazy transaction reached a statement without beginning (a bug, never a database state).
fn not_begun() -> StoreError {
    StoreError::Conflict("a PostgreSQL transaction was used before it began".to_owned())
}

fn corrupt(col: &str, e: sqlx::Error) -> StoreError {
    StoreError::Corrupt(format!("column `{col}`: {e}"))
}

macro_rules! get {
    ($row:expr, $col:expr, $t:ty, $lite:ident) => {
        match $row {
            Row::Sqlite(r) => r.$lite($col),
            Row::Pg(r) => r.try_get::<$t, _>($col).map_err(|e| corrupt($col, e)),
        }
    };
}

fn required<T>(col: &str, v: Option<T>) -> Result<T, StoreError> {
    v.ok_or_else(|| StoreError::Corrupt(format!("column `{col}`: unexpected null")))
}

impl Row {
    pub(crate) fn text(&self, col: &str) -> Result<String, StoreError> {
        match self {
            Row::Sqlite(r) => required(col, r.opt_text(col)?),
            Row::Pg(r) => r.try_get::<String, _>(col).map_err(|e| corrupt(col, e)),
        }
    }
    pub(crate) fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        get!(self, col, Option<String>, opt_text)
    }
    pub(crate) fn int(&self, col: &str) -> Result<i64, StoreError> {
        match self {
            Row::Sqlite(r) => required(col, r.opt_int(col)?),
            Row::Pg(r) => r.try_get::<i64, _>(col).map_err(|e| corrupt(col, e)),
        }
    }
    pub(crate) fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        get!(self, col, Option<i64>, opt_int)
    }
    pub(crate) fn opt_float(&self, col: &str) -> Result<Option<f64>, StoreError> {
        get!(self, col, Option<f64>, opt_float)
    }
    pub(crate) fn uuid(&self, col: &str) -> Result<Uuid, StoreError> {
        parse_uuid(&self.text(col)?)
    }
    pub(crate) fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, StoreError> {
        self.opt_text(col)?.as_deref().map(parse_uuid).transpose()
    }
    pub(crate) fn time(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        millis(self.int(col)?)
    }
    pub(crate) fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_int(col)?.map(millis).transpose()
    }
    pub(crate) fn json(&self, col: &str) -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&self.text(col)?)
            .map_err(|e| StoreError::Corrupt(format!("column `{col}`: {e}")))
    }
    pub(crate) fn opt_json(&self, col: &str) -> Result<Option<serde_json::Value>, StoreError> {
        match self.opt_text(col)? {
            Some(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("column `{col}`: {e}"))),
            None => Ok(None),
        }
    }
    pub(crate) fn parsed<T: std::str::FromStr>(&self, col: &str) -> Result<T, StoreError> {
        let text = self.text(col)?;
        text.parse()
            .map_err(|_| StoreError::Corrupt(format!("column `{col}`: unexpected value `{text}`")))
    }
}

pub(crate) fn parse_uuid(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(format!("uuid `{s}`: {e}")))
}

pub(crate) fn millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("time {ms}")))
}

pub(crate) fn json_text(v: &serde_json::Value) -> String {
    v.to_string()
}

/// `$first, $first+1, …` placeholders for an `IN (...)` list of `n` values.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 6);
    push_placeholders(&mut out, first, n);
    out
}

/// Appends [`placeholders`] to `out` (one buffer for a whole statement: a bulk insert has
/// thousands of them).
pub(crate) fn push_placeholders(out: &mut String, first: usize, n: usize) {
    use std::fmt::Write as _;
    for i in first..first + n {
        if i > first {
            out.push_str(", ");
        }
        let _ = write!(out, "${i}");
    }
}
