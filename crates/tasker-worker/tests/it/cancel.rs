//! Cancelling a task reaches the program its step is running on a separate `tasker-worker`
//! process (PostgreSQL, a `tasker-server` without an embedded worker): the worker learns it
//! through the store, the program's process group gets SIGTERM (a program that traps it
//! records that it did), a program that ignores SIGTERM is killed once
//! `worker.cancel_grace_seconds` have passed, and the step's attempt ends `cancelled`, not
//! failed.

use serde_json::Value;
use tasker_testkit::{HANG_GUARD, PgDatabase, ServerProcess, TestConfig, eventually};

use crate::multi_process::SERIAL;
use crate::{create_task, get_json, pid_from, server_binary, steps, wait_for_task, wait_gone};

tasker_testkit::postgres_tests!(
    cancelling_a_task_stops_its_running_program_with_sigterm,
    a_program_ignoring_sigterm_is_killed_after_the_grace_period,
);

/// Writes its pid to `$1`, then sleeps 300 s; on SIGTERM it writes `term` to `$2` and exits.
const TRAPS_TERM: &str = r#"trap 'echo term > "$2"; exit 143' TERM
echo $$ > "$1"
sleep 300 &
wait
"#;

/// Writes its pid to `$1` and sleeps 300 s, ignoring SIGTERM.
const IGNORES_TERM: &str = r#"trap '' TERM
echo $$ > "$1"
sleep 300
"#;

struct Setup {
    config: TestConfig,
    pid_file: std::path::PathBuf,
    marker: std::path::PathBuf,
}

fn setup(db_url: &str, script: &str) -> Setup {
    let config = TestConfig::new().database(db_url).max_connections(5);
    let program = config.write("scripts/long.sh", script);
    let pid_file = config.root().join("program.pid");
    let marker = config.root().join("term.marker");
    let template = format!(
        "name: mp_long\nnamespace: mp\nversion: 1.0.0\nsteps:\n  - name: long\n    handler: {{ callable: builtin.command, initialization: {{ program: sh, args: [\"{}\", \"{}\", \"{}\"] }} }}\n    timeout_seconds: 600\n",
        program.display(),
        pid_file.display(),
        marker.display()
    );
    let config = config.with_template("mp_long.yaml", &template);
    config.write(
        "base/orchestration.toml",
        "[orchestration]\nembedded_worker = false\npoll_interval_ms = 100\n",
    );
    config.write(
        "base/worker.toml",
        "[worker]\nconcurrency = 2\nlease_seconds = 600\npoll_interval_ms = 100\ncancel_grace_seconds = 1\n",
    );
    Setup {
        config,
        pid_file,
        marker,
    }
}

async fn cancel(server: &ServerProcess, task: &str) -> Value {
    let response = reqwest::Client::new()
        .delete(server.url(&format!("/v1/tasks/{task}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Starts the long step on a separate worker, cancels its task, waits for the program to be
/// gone, and checks the step's attempt ended `cancelled`. Returns the worker (still running).
async fn run_and_cancel(s: &Setup) -> (ServerProcess, ServerProcess) {
    let server = ServerProcess::start(&server_binary(), &s.config, &[]);
    let worker = ServerProcess::start(env!("CARGO_BIN_EXE_tasker-worker"), &s.config, &[]);
    let task = create_task(&server, "mp_long", serde_json::json!({})).await;
    let pid = pid_from(&s.pid_file).await;
    assert!(crate::alive(pid), "the program runs");
    let body = cancel(&server, &task).await;
    assert_eq!(body["status"], "cancelled");
    wait_gone(pid, "the cancelled step's program").await;
    let task_view = wait_for_task(&server, &task, &["cancelled"]).await;
    assert_eq!(task_view["step_counts"]["cancelled"], 1);
    let step = steps(&server, &task).await.remove(0);
    assert_eq!(step["status"], "cancelled");
    assert!(step["last_error"].is_null(), "no failure recorded: {step}");
    let audit = get_json(
        &server,
        &format!(
            "/v1/tasks/{task}/workflow_steps/{}/audit",
            step["step_uuid"].as_str().unwrap()
        ),
    )
    .await;
    let to: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to_state"].as_str().unwrap())
        .collect();
    assert_eq!(to, ["pending", "enqueued", "in_progress", "cancelled"]);
    eventually(
        "the worker to log the cancellation",
        HANG_GUARD,
        async || {
            let logs = worker.logs();
            if logs.contains("step cancelled; signalling its handler") {
                Ok(())
            } else {
                Err(logs)
            }
        },
    )
    .await;
    (server, worker)
}

async fn cancelling_a_task_stops_its_running_program_with_sigterm() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    let s = setup(&db.url, TRAPS_TERM);
    let (_server, _worker) = run_and_cancel(&s).await;
    let marker = std::fs::read_to_string(&s.marker).unwrap_or_default();
    assert_eq!(marker.trim(), "term", "the program saw SIGTERM");
}

async fn a_program_ignoring_sigterm_is_killed_after_the_grace_period() {
    let db = PgDatabase::create();
    let _serial = SERIAL.lock().await;
    let s = setup(&db.url, IGNORES_TERM);
    let (_server, worker) = run_and_cancel(&s).await;
    eventually("the worker to stop the handler", HANG_GUARD, async || {
        let logs = worker.logs();
        if logs.contains("handler still running after the cancel grace period") {
            Ok(())
        } else {
            Err(logs)
        }
    })
    .await;
    assert!(!s.marker.exists());
}
