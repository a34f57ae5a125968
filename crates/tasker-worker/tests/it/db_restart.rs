//! Fault injection: the PostgreSQL server itself restarts mid-run (an immediate shutdown, the
//! same recovery path as a crash, then a few seconds of outage). The test runs its own
//! PostgreSQL cluster (`initdb` into a temporary directory, a free port) so that restarting it
//! disturbs nothing else. A server and two workers must ride it out: every task completes, every
//! step is completed once, no attempt is handed out twice, and no result is lost. It is a
//! PostgreSQL test (ignored unless the build enables them); when the server binaries are
//! missing it fails under `TASKER_TEST_REQUIRE_DB=1` and says it skipped otherwise.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use tasker_testkit::{HANG_GUARD, eventually};

use crate::multi_process::{Cluster, SERIAL, completions};
use crate::{create_task, get_json, steps, wait_for_task};

/// A PostgreSQL cluster of the test's own, stopped and deleted on drop.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Running as root: the server must run as the `postgres` user.
    as_postgres: bool,
}

impl PrivatePostgres {
    fn start(test: &str) -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            tasker_testkit::skip_or_fail(
                test,
                "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin \
                 or in TASKER_TEST_PG_BIN",
            );
            return None;
        };
        let as_postgres = output("id", &["-u"]).trim() == "0";
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            let path = dir.path().display().to_string();
            output("chown", &["postgres:postgres", &path]);
        }
        // A free port for the cluster to listen on.
        let port = tasker_testkit::closed_port();
        let pg = Self {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        pg.up();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs one of the cluster's programs (as `postgres` when the test runs as root).
    fn run(&self, program: &str, args: &[&str]) -> String {
        let exe = self.bin.join(program).display().to_string();
        if self.as_postgres {
            let mut all = vec!["-u", "postgres", "--", exe.as_str()];
            all.extend_from_slice(args);
            output("runuser", &all)
        } else {
            output(&exe, args)
        }
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// An immediate shutdown: connections are cut and the next start runs crash recovery.
    fn crash(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let exe = self.bin.join("pg_ctl").display().to_string();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--", &exe])
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        };
    }
}

/// `TASKER_TEST_PG_BIN`, else the newest `/usr/lib/postgresql/N/bin` holding `initdb`.
fn postgres_bin() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("TASKER_TEST_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| d.join("initdb").is_file());
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

tasker_testkit::postgres_tests!(
    a_postgres_crash_and_restart_mid_run_loses_no_task_and_runs_no_step_twice
);

async fn a_postgres_crash_and_restart_mid_run_loses_no_task_and_runs_no_step_twice() {
    let Some(pg) = PrivatePostgres::start("a_postgres_crash_and_restart_mid_run") else {
        return;
    };
    let _serial = SERIAL.lock().await;
    const BEFORE: usize = 60;
    const AFTER: usize = 20;
    let cluster = Cluster::new(&pg.url(), 100, 100);
    let server = cluster.server();
    let workers = [cluster.worker(), cluster.worker()];
    let mut tasks = Vec::new();
    for i in 0..BEFORE {
        tasks.push(create_task(&server, "mp_diamond", json!({"i": i})).await);
    }
    // Once the first steps run, cut every connection mid-run.
    eventually("the first steps to run", HANG_GUARD, async || {
        let ran = cluster.executions().len();
        if ran > 0 {
            Ok(())
        } else {
            Err("no step ran yet")
        }
    })
    .await;
    pg.crash();
    let ran_before_crash = cluster.executions().len();
    assert!(
        ran_before_crash > 0 && ran_before_crash < BEFORE * 4,
        "the crash must land mid-run: {ran_before_crash} steps had started"
    );
    // While the database is down the API answers with an error, and nothing dies.
    let down = reqwest::Client::new()
        .post(server.url("/v1/tasks"))
        .json(&json!({"namespace": "mp", "name": "mp_diamond", "context": {}}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert!(
        down.status().is_server_error(),
        "creating a task with the database down: {}",
        down.status()
    );
    let body: serde_json::Value = down.json().await.unwrap();
    assert!(body["error"].is_string(), "the error envelope: {body}");
    // A few seconds of outage (fault injection, not synchronisation).
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.up();

    // The pools reconnect on their own; new tasks are accepted again.
    for i in BEFORE..BEFORE + AFTER {
        let task = eventually(
            "a task to be accepted after the restart",
            HANG_GUARD,
            async || {
                let response = reqwest::Client::new()
                    .post(server.url("/v1/tasks"))
                    .json(&json!({"namespace": "mp", "name": "mp_diamond", "context": {"i": i}}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                if status.is_success() {
                    Ok(body["task_uuid"].as_str().unwrap().to_owned())
                } else {
                    Err(format!("{status} {body}"))
                }
            },
        )
        .await;
        tasks.push(task);
    }

    for task in &tasks {
        wait_for_task(&server, task, &["complete"]).await;
    }
    for task in &tasks {
        for step in steps(&server, task).await {
            let uuid = step["step_uuid"].as_str().unwrap();
            assert_eq!(
                completions(&server, task, uuid).await,
                1,
                "one completion: {step:#}"
            );
        }
        let context = get_json(&server, &format!("/v1/tasks/{task}/context")).await;
        assert_eq!(context["step_results"]["d"]["step"], "d", "{context:#}");
    }
    let runs = cluster.executions();
    assert_eq!(runs.len(), tasks.len() * 4, "every step ran");
    for (step, attempts) in &runs {
        let distinct: BTreeSet<&u32> = attempts.iter().collect();
        assert_eq!(
            distinct.len(),
            attempts.len(),
            "attempt of {step} handed out twice: {attempts:?}"
        );
    }
    let reruns = runs.values().filter(|a| a.len() > 1).count();
    eprintln!(
        "{} tasks across a PostgreSQL crash and restart; {reruns} steps ran again",
        tasks.len()
    );
    for process in [&server, &workers[0], &workers[1]] {
        let live = reqwest::get(process.url("/health/live")).await.unwrap();
        assert_eq!(live.status(), 200, "{}", process.logs());
    }
}
