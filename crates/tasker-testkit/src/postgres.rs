//! PostgreSQL for tests: the server's URL, a schema or a whole database of a test's own (dropped
//! with the value, also when the test panics), and the macros that declare tests per backend.
//!
//! Whether PostgreSQL tests run is decided when this crate is built (`build.rs`): with
//! `TASKER_TEST_DATABASE_URL` or `TASKER_TEST_REQUIRE_DB=1` set they are ordinary tests that fail
//! when the server is missing; otherwise they are `#[ignore]`d, so `cargo test` lists each one as
//! `ignored` and its summary line counts them. A skipped PostgreSQL test never prints `ok`.

use sqlx::Connection;

/// The variable naming the test server, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub const URL_VAR: &str = "TASKER_TEST_DATABASE_URL";
/// Set to `1` (`.ci/run` does) to make every PostgreSQL test a failure rather than a skip when
/// the server or its tools are missing.
pub const REQUIRE_VAR: &str = "TASKER_TEST_REQUIRE_DB";

/// Which database a test declared with [`on_each_backend!`](crate::on_each_backend) runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A schema or database of the test's own on the server at [`URL_VAR`].
    Postgres,
}

/// The test server's URL; panics (a failure, never a silent pass) when it is not set.
pub fn url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "this test needs PostgreSQL: set {URL_VAR} (for example \
             postgres://postgres@127.0.0.1:5432/postgres)"
        ),
    }
}

/// Whether [`REQUIRE_VAR`] asks for every PostgreSQL test to run.
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1")
}

/// A test that cannot run for want of a tool, outside the build-time decision: fails under
/// [`REQUIRE_VAR`], otherwise says so on the terminal itself (the test harness captures
/// `eprintln!` of passing tests, not writes to the stderr handle).
pub fn skip_or_fail(test: &str, missing: &str) {
    assert!(
        !required(),
        "{test}: {missing} ({REQUIRE_VAR}=1 turns this skip into a failure)"
    );
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n!!! SKIPPED {test}: {missing} !!!");
}

/// A schema of its own on the test server. [`PgSchema::drop_now`] drops it; a value dropped
/// otherwise (a test that panicked) drops it in the background.
#[derive(Debug)]
pub struct PgSchema {
    base: String,
    name: String,
    /// The server URL with `search_path` set to the schema.
    pub url: String,
}

impl PgSchema {
    /// Creates a fresh schema on the server at [`url()`].
    pub fn create() -> Self {
        let base = url();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        execute(&base, format!("CREATE SCHEMA {name}"));
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Self { base, name, url }
    }

    /// Drops the schema and waits for it, leaving the calling runtime free meanwhile: a pool
    /// of the test may still have to roll back a transaction that holds a lock the drop needs.
    pub async fn drop_now(mut self) {
        let (base, sql) = self.drop_statement();
        let _ = tokio::task::spawn_blocking(move || try_execute(&base, sql)).await;
    }

    /// Empties `name`, so `Drop` knows the schema is gone.
    fn drop_statement(&mut self) -> (String, String) {
        let name = std::mem::take(&mut self.name);
        (
            self.base.clone(),
            format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE"),
        )
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        // Not waited for: this may run on the runtime thread a pool needs to release its locks.
        let (base, sql) = self.drop_statement();
        std::thread::spawn(move || try_execute(&base, sql));
    }
}

/// A database of its own on the test server (for tests whose processes each open their own
/// pools), dropped with this value.
#[derive(Debug)]
pub struct PgDatabase {
    base: String,
    name: String,
    /// The URL of the new database.
    pub url: String,
}

impl PgDatabase {
    /// Creates a fresh database on the server at [`url()`].
    pub fn create() -> Self {
        let base = url();
        let name = format!("tasker_t_{}", uuid::Uuid::new_v4().simple());
        execute(&base, format!("CREATE DATABASE {name}"));
        let (without_query, query) = match base.split_once('?') {
            Some((url, q)) => (url, format!("?{q}")),
            None => (base.as_str(), String::new()),
        };
        let server = without_query
            .rsplit_once('/')
            .filter(|(server, _)| server.contains("://"))
            .map_or(without_query, |(server, _)| server);
        let url = format!("{server}/{name}{query}");
        Self { base, name, url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        try_execute(
            &self.base,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn execute(url: &str, sql: String) {
    if let Err(e) = run_sql(url, sql.clone()) {
        panic!("{sql}: {e}");
    }
}

/// For cleanup in `Drop`, where a second panic would abort the test process.
fn try_execute(url: &str, sql: String) {
    if let Err(e) = run_sql(url, sql.clone()) {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "test cleanup `{sql}` failed: {e}");
    }
}

/// Runs one statement on a connection of its own, on a thread and runtime of its own, so it
/// works from synchronous code, from async tests, and from `Drop`.
fn run_sql(url: &str, sql: String) -> Result<(), String> {
    let url = url.to_owned();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            let result = sqlx::raw_sql(&sql)
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            let _ = conn.close().await;
            result
        })
    });
    match thread.join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Declares one PostgreSQL test: ignored unless the build enabled PostgreSQL tests.
#[cfg(tasker_postgres)]
#[doc(hidden)]
#[macro_export]
macro_rules! __postgres_test {
    (async fn $name:ident() $body:block) => {
        #[tokio::test]
        async fn $name() $body
    };
    (fn $name:ident() $body:block) => {
        #[test]
        fn $name() $body
    };
}

/// Declares one PostgreSQL test: ignored unless the build enabled PostgreSQL tests.
#[cfg(not(tasker_postgres))]
#[doc(hidden)]
#[macro_export]
macro_rules! __postgres_test {
    (async fn $name:ident() $body:block) => {
        #[tokio::test]
        #[ignore = "PostgreSQL: set TASKER_TEST_DATABASE_URL"]
        async fn $name() $body
    };
    (fn $name:ident() $body:block) => {
        #[test]
        #[ignore = "PostgreSQL: set TASKER_TEST_DATABASE_URL"]
        fn $name() $body
    };
}

/// For each `async fn NAME(...)` listed, declares a module `NAME` holding the tests `sqlite` and
/// `postgres`, which call `RUNNER(Backend, NAME)`. `RUNNER` is a path from the crate root (for
/// example `crate::harness::with_store`): it builds the backend's resources, runs the test
/// function with them, and cleans up.
///
/// ```text
/// async fn claims_respect_namespaces(store: Arc<dyn Store>) { … }
/// tasker_testkit::on_each_backend!(crate::harness::with_store => claims_respect_namespaces);
/// ```
#[macro_export]
macro_rules! on_each_backend {
    ($runner:path => $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    $runner($crate::Backend::Sqlite, super::$name).await
                }
                $crate::__postgres_test! {
                    async fn postgres() {
                        $runner($crate::Backend::Postgres, super::$name).await
                    }
                }
            }
        )+
    };
}

/// For each function listed (`async fn NAME()`, or `fn NAME()` after `sync:`), declares a module
/// `NAME` holding the test `postgres`, which calls it. The function gets its database from
/// [`PgDatabase`] or [`PgSchema`].
#[macro_export]
macro_rules! postgres_tests {
    (sync: $($name:ident),+ $(,)?) => {
        $(
            mod $name {
                $crate::__postgres_test! {
                    fn postgres() {
                        super::$name()
                    }
                }
            }
        )+
    };
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                $crate::__postgres_test! {
                    async fn postgres() {
                        super::$name().await
                    }
                }
            }
        )+
    };
}
