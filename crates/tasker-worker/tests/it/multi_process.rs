//! Two `tasker-server` processes (no embedded worker) and two `tasker-worker` processes on one
//! PostgreSQL database: every step runs exactly once, a worker killed with SIGKILL mid-step
//! loses its lease to the other worker, and a server killed with SIGKILL loses no task. Every
//! step is a `builtin.command` that appends `step_uuid attempt` to one file with O_APPEND.
//! Each test creates and drops its own database; without `TASKER_TEST_DATABASE_URL` they are
//! reported as ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use tasker_testkit::{HANG_GUARD, PgDatabase, ServerProcess, TestConfig, eventually};
use tokio::sync::Mutex;

use crate::{create_task, get_json, server_binary, steps, wait_for_task};

/// The workers' lease: short, so a dead worker's step is re-claimed soon.
const LEASE_SECONDS: i64 = 2;

/// One multi-process test at a time: they share two cores with everything else.
pub(crate) static SERIAL: Mutex<()> = Mutex::const_new(());

/// Appends `step_uuid attempt` to the file named by `$1` (`>>` opens it with O_APPEND, and
/// each line is one write), sleeps `$2` seconds, and prints the step's name and attempt. Plain
/// `sh` with parameter expansion only: a step costs a shell start, not an interpreter start.
/// The step document's keys are sorted, so the first `"attempt":` is the top-level one; the
/// contexts and results of these tests contain no other `step_uuid` or `step_name`.
const RECORD: &str = r#"IFS= read -r doc
step=${doc#*\"step_uuid\":\"}; step=${step%%\"*}
name=${doc#*\"step_name\":\"}; name=${name%%\"*}
attempt=${doc#*\"attempt\":}; attempt=${attempt%%,*}
echo "$step $attempt" >> "$1"
[ "$2" = 0 ] || sleep "$2"
printf '{"step": "%s", "attempt": %s}\n' "$name" "$attempt"
"#;

fn diamond(record: &Path, log: &Path, sleep_ms: u64, slow_b_ms: u64) -> String {
    let step = |name: &str, deps: &str, ms: u64| {
        let secs = format!("{}.{:03}", ms / 1000, ms % 1000);
        let secs = if ms == 0 { "0".to_owned() } else { secs };
        format!(
            "  - name: {name}\n    handler: {{ callable: builtin.command, initialization: {{ program: sh, args: [\"{}\", \"{}\", \"{secs}\"] }} }}\n    depends_on: [{deps}]\n    retry: {{ retryable: true, max_attempts: 3, backoff_base_ms: 10, max_backoff_ms: 20 }}\n    timeout_seconds: 60\n",
            record.display(),
            log.display()
        )
    };
    format!(
        "name: mp_diamond\nnamespace: mp\nversion: 1.0.0\nsteps:\n{}{}{}{}",
        step("a", "", sleep_ms),
        step("b", "a", slow_b_ms),
        step("c", "a", sleep_ms),
        step("d", "b, c", sleep_ms)
    )
}

/// A config root shared by every process of one test.
pub(crate) struct Cluster {
    config: TestConfig,
    log: PathBuf,
}

impl Cluster {
    pub(crate) fn new(db_url: &str, sleep_ms: u64, slow_b_ms: u64) -> Self {
        let config = TestConfig::new()
            .database(db_url)
            .max_connections(5)
            .backoff(10, 20);
        let record = config.write("scripts/record.sh", RECORD);
        let log = config.root().join("executions.log");
        let config = config.with_template(
            "mp_diamond.yaml",
            &diamond(&record, &log, sleep_ms, slow_b_ms),
        );
        config.write(
            "base/orchestration.toml",
            "[orchestration]\nembedded_worker = false\npoll_interval_ms = 100\n",
        );
        config.write(
            "base/worker.toml",
            &format!("[worker]\nconcurrency = 8\nlease_seconds = {LEASE_SECONDS}\npoll_interval_ms = 100\nshutdown_timeout_seconds = 1\n"),
        );
        Self { config, log }
    }

    /// Replaces a file of the config root (e.g. `base/worker.toml`).
    pub(crate) fn write(&self, relative: &str, text: &str) {
        self.config.write(relative, text);
    }

    pub(crate) fn server(&self) -> ServerProcess {
        ServerProcess::start(&server_binary(), &self.config, &[])
    }

    pub(crate) fn worker(&self) -> ServerProcess {
        ServerProcess::start(env!("CARGO_BIN_EXE_tasker-worker"), &self.config, &[])
    }

    /// `step_uuid` → attempts recorded in the executions file, in order.
    pub(crate) fn executions(&self) -> BTreeMap<String, Vec<u32>> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut runs: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for line in text.lines() {
            let (step, attempt) = line.split_once(' ').unwrap();
            runs.entry(step.to_owned())
                .or_default()
                .push(attempt.parse().unwrap());
        }
        runs
    }
}

/// Steps `worker` claimed, from its `/metrics`.
pub(crate) async fn claimed(worker: &ServerProcess) -> u64 {
    let text = reqwest::get(worker.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("tasker_worker_steps_total{") && l.contains(r#"result="claimed""#)
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// SIGKILL, exactly what dropping a [`ServerProcess`] does.
fn kill_9(process: ServerProcess) {
    drop(process);
}

/// Transitions of `step` into `complete`, from its audit trail.
pub(crate) async fn completions(server: &ServerProcess, task: &str, step: &str) -> usize {
    let audit = get_json(
        server,
        &format!("/v1/tasks/{task}/workflow_steps/{step}/audit"),
    )
    .await;
    audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["to_state"] == "complete")
        .count()
}

tasker_testkit::postgres_tests!(
    two_servers_and_two_workers_run_200_diamonds_with_every_step_once,
    a_worker_killed_mid_step_loses_the_step_to_the_other_worker_after_its_lease,
    a_server_killed_mid_run_loses_no_task,
);

async fn two_servers_and_two_workers_run_200_diamonds_with_every_step_once() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    const TASKS: usize = 200;
    let cluster = Cluster::new(&db.url, 0, 0);
    let servers = [cluster.server(), cluster.server()];
    let workers = [cluster.worker(), cluster.worker()];
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        tasks.push(create_task(&servers[i % 2], "mp_diamond", json!({"i": i})).await);
    }
    for (i, task) in tasks.iter().enumerate() {
        wait_for_task(&servers[i % 2], task, &["complete"]).await;
    }
    let shares = [claimed(&workers[0]).await, claimed(&workers[1]).await];
    eprintln!("steps claimed per worker: {shares:?}");
    assert!(
        shares.iter().all(|&n| n > 0),
        "both workers ran steps: {shares:?}"
    );
    assert_eq!(
        shares[0] + shares[1],
        (TASKS * 4) as u64,
        "no step claimed twice"
    );
    let runs = cluster.executions();
    assert_eq!(runs.len(), TASKS * 4, "every step ran");
    let repeated: Vec<_> = runs.iter().filter(|(_, a)| a.as_slice() != [1]).collect();
    assert!(
        repeated.is_empty(),
        "steps that ran more than once: {repeated:?}"
    );

    for (i, task) in tasks.iter().enumerate().step_by(20) {
        let context = get_json(&servers[(i + 1) % 2], &format!("/v1/tasks/{task}/context")).await;
        assert_eq!(
            context["step_results"]["d"],
            json!({"step": "d", "attempt": 1})
        );
        for step in steps(&servers[i % 2], task).await {
            assert_eq!(step["attempts"], 1, "{step:#}");
        }
    }
}

async fn a_worker_killed_mid_step_loses_the_step_to_the_other_worker_after_its_lease() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    // Step `b` sleeps 4 s, longer than the 2 s lease, so the kill lands while it runs.
    let cluster = Cluster::new(&db.url, 0, 4000);
    let server = cluster.server();
    let _other_server = cluster.server();
    let first = cluster.worker();
    let task = create_task(&server, "mp_diamond", json!({})).await;
    let b = steps(&server, &task)
        .await
        .into_iter()
        .find(|s| s["name"] == "b")
        .unwrap()["step_uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("b to start", HANG_GUARD, async || {
        let started = cluster.executions().contains_key(&b);
        if started { Ok(()) } else { Err(first.logs()) }
    })
    .await;
    let second = cluster.worker();
    kill_9(first);

    let view = wait_for_task(&server, &task, &["complete"]).await;
    assert_eq!(view["status"], "complete");
    let runs = cluster.executions();
    assert_eq!(
        runs[&b],
        [1, 2],
        "b ran twice: the killed attempt and the re-claim"
    );
    assert!(
        runs.iter()
            .filter(|(s, _)| **s != b)
            .all(|(_, a)| a == &[1]),
        "{runs:?}"
    );
    assert_eq!(
        completions(&server, &task, &b).await,
        1,
        "one result recorded"
    );
    let b_view = steps(&server, &task)
        .await
        .into_iter()
        .find(|s| s["name"] == "b")
        .unwrap();
    assert_eq!(b_view["attempts"], 2);
    assert_eq!(b_view["results"], json!({"step": "b", "attempt": 2}));

    // The step changed hands only through the expiry of the dead worker's lease, which the
    // store performs no sooner than a lease after the claim (renewals only extend it).
    let audit = get_json(
        &server,
        &format!("/v1/tasks/{task}/workflow_steps/{b}/audit"),
    )
    .await;
    let audit = audit.as_array().unwrap();
    let claims: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|t| t["to_state"] == "in_progress")
        .collect();
    assert_eq!(claims.len(), 2, "{audit:#?}");
    let (dead, survivor) = (
        claims[0]["actor"].as_str().unwrap(),
        claims[1]["actor"].as_str().unwrap(),
    );
    assert_ne!(dead, survivor, "{audit:#?}");
    let states: Vec<&str> = audit
        .iter()
        .skip_while(|t| t["to_state"] != "in_progress")
        .map(|t| t["to_state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["in_progress", "enqueued", "in_progress", "complete"],
        "{audit:#?}"
    );
    let expiry = audit
        .iter()
        .find(|t| t["to_state"] == "enqueued" && t["from_state"] == "in_progress")
        .unwrap();
    assert_eq!(
        expiry["reason"],
        format!("lease of worker {dead} expired during attempt 1"),
        "{audit:#?}"
    );
    let at = |t: &serde_json::Value| {
        t["at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert!(
        at(expiry) - at(claims[0]) >= chrono::Duration::seconds(LEASE_SECONDS),
        "the lease expired before a lease had passed since the claim: {audit:#?}"
    );
    assert!(at(claims[1]) >= at(expiry), "{audit:#?}");
    drop(second);
}

async fn a_server_killed_mid_run_loses_no_task() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    const TASKS: usize = 40;
    let cluster = Cluster::new(&db.url, 200, 200);
    let doomed = cluster.server();
    let survivor = cluster.server();
    let _workers = [cluster.worker(), cluster.worker()];
    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let server = if i % 2 == 0 { &doomed } else { &survivor };
        tasks.push(create_task(server, "mp_diamond", json!({"i": i})).await);
    }
    eventually("the first steps to run", HANG_GUARD, async || {
        let ran = cluster.executions().len();
        if ran > 0 {
            Ok(())
        } else {
            Err("no step ran yet")
        }
    })
    .await;
    let unfinished = cluster.executions().len() < TASKS * 4;
    kill_9(doomed);
    assert!(unfinished, "the kill must land mid-run");
    for task in &tasks {
        wait_for_task(&survivor, task, &["complete"]).await;
    }
    let runs = cluster.executions();
    assert_eq!(runs.len(), TASKS * 4);
    assert!(runs.values().all(|a| a == &[1]), "{runs:?}");
}
