//! A worker killed with SIGKILL while it records a batchable step's result leaves no copies
//! (the result and its copies are one transaction), and the step, re-claimed once its lease
//! expires, creates every copy exactly once. The kill lands inside that transaction for sure:
//! the test holds `step_edges` locked, so the worker's copy insert waits on the lock (seen in
//! `pg_locks`) until the worker is dead. PostgreSQL only.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::json;
use tasker_testkit::{HANG_GUARD, PgDatabase, ServerProcess, TestConfig, eventually};

use crate::multi_process::SERIAL;
use crate::{create_task, get_json, server_binary, wait_for_task};

/// The `application_name` of the worker that is killed, to find its sessions.
const VICTIM: &str = "tasker_fanout_victim";
const COPIES: u64 = 400;

/// One value from `sql` run by `psql` against `url`.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-Atc", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A `psql` session holding `LOCK TABLE step_edges IN EXCLUSIVE MODE` (reads still pass,
/// writes wait) until [`TableLock::release`].
struct TableLock {
    child: Child,
    stdin: ChildStdin,
    /// Kept open until the session ends, so psql can write its answers.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl TableLock {
    fn take(url: &str) -> Self {
        let mut child = Command::new("psql")
            .args([url, "-v", "ON_ERROR_STOP=1", "-At"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("psql runs");
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"BEGIN;\nLOCK TABLE step_edges IN EXCLUSIVE MODE;\nSELECT 'locked';\n")
            .unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        while line.trim() != "locked" {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "psql ended early");
        }
        Self {
            child,
            stdin,
            _stdout: out,
        }
    }

    fn release(self) {
        let Self {
            mut child,
            mut stdin,
            _stdout,
        } = self;
        stdin.write_all(b"ROLLBACK;\n\\q\n").unwrap();
        drop(stdin);
        assert!(child.wait().unwrap().success());
    }
}

tasker_testkit::postgres_tests!(
    a_worker_killed_while_recording_a_fan_out_leaves_no_copies_and_the_rerun_creates_all,
);

async fn a_worker_killed_while_recording_a_fan_out_leaves_no_copies_and_the_rerun_creates_all() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    let config = TestConfig::new().database(&db.url).with_examples();
    config.write(
        "base/orchestration.toml",
        "[orchestration]\nembedded_worker = false\npoll_interval_ms = 100\n",
    );
    config.write(
        "base/worker.toml",
        "[worker]\nlease_seconds = 2\npoll_interval_ms = 100\nshutdown_timeout_seconds = 1\n",
    );
    let server = ServerProcess::start(&server_binary(), &config, &[]);
    let task = create_task(
        &server,
        "batch_sum",
        json!({"from": 1, "to": 4000, "parts": COPIES}),
    )
    .await;
    let copies_sql = format!(
        "SELECT count(*) FROM steps WHERE task_uuid = '{task}' AND name LIKE 'sum\\_part\\_%'"
    );
    let sessions_sql =
        format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{VICTIM}'");

    let lock = TableLock::take(&db.url);
    let separator = if db.url.contains('?') { '&' } else { '?' };
    let victim_url = format!("{}{separator}application_name={VICTIM}", db.url);
    let victim = ServerProcess::start(
        env!("CARGO_BIN_EXE_tasker-worker"),
        &config,
        &[("DATABASE_URL", victim_url.as_str())],
    );
    // The worker ran `split` and now waits on the lock inside the transaction that records
    // its result and inserts the copies.
    eventually(
        "the copy insert to wait on the lock",
        HANG_GUARD,
        async || {
            let waiting = psql(
                &db.url,
                &format!(
                    // The lock the worker waits for, not its query text: the copies' inserts
                    // go as one statement, longer than pg_stat_activity keeps.
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE a.application_name = '{VICTIM}' AND NOT l.granted \
                 AND l.relation = 'step_edges'::regclass"
                ),
            );
            if waiting == "1" {
                Ok(())
            } else {
                Err(victim.logs())
            }
        },
    )
    .await;
    drop(victim); // SIGKILL
    lock.release();
    eventually(
        "the dead worker's sessions to end",
        HANG_GUARD,
        async || match psql(&db.url, &sessions_sql).as_str() {
            "0" => Ok(()),
            n => Err(n.to_owned()),
        },
    )
    .await;
    assert_eq!(
        psql(&db.url, &copies_sql),
        "0",
        "no copy survived the crash"
    );
    assert_eq!(
        psql(
            &db.url,
            &format!("SELECT status FROM steps WHERE task_uuid = '{task}' AND name = 'split'")
        ),
        "in_progress",
        "the result was not recorded: the step still holds the dead worker's lease"
    );

    // Another worker re-claims `split` after the lease and records it with every copy.
    let _worker = ServerProcess::start(env!("CARGO_BIN_EXE_tasker-worker"), &config, &[]);
    let done = wait_for_task(&server, &task, &["complete"]).await;
    assert_eq!(done["step_counts"]["complete"], COPIES + 2, "{done:#}");
    assert_eq!(psql(&db.url, &copies_sql), COPIES.to_string());
    let distinct = psql(
        &db.url,
        &format!(
            "SELECT count(DISTINCT batch_index) FROM steps WHERE task_uuid = '{task}' \
             AND name LIKE 'sum\\_part\\_%'"
        ),
    );
    assert_eq!(distinct, COPIES.to_string());
    let context = get_json(&server, &format!("/v1/tasks/{task}/context")).await;
    assert_eq!(
        context["step_results"]["total"],
        json!({"value": 8_002_000})
    );
    let split = psql(
        &db.url,
        &format!("SELECT attempts FROM steps WHERE task_uuid = '{task}' AND name = 'split'"),
    );
    assert_eq!(split, "2", "the killed attempt and the re-claim");
}
