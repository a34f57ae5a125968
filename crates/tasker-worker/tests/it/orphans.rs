//! A worker killed with SIGKILL while a `builtin.command` step runs leaves nothing running:
//! the command supervisor kills the program and everything it started, so the step's next
//! attempt (after the lease expires) never overlaps the first one.

use serde_json::json;
use tasker_testkit::{ServerProcess, TestConfig};

use crate::{alive, create_task, pid_from, server_binary, steps, wait_for_task, wait_gone};

/// First attempt: records its own pid and a background child's pid, then sleeps for a long
/// time. Later attempts: finish at once, reporting whether the first attempt still runs.
const STEP: &str = r#"
dir="$1"
if [ ! -e "$dir/first.pid" ]; then
  sleep 300 &
  echo $! > "$dir/grandchild.pid.tmp" && mv "$dir/grandchild.pid.tmp" "$dir/grandchild.pid"
  echo $$ > "$dir/first.pid.tmp" && mv "$dir/first.pid.tmp" "$dir/first.pid"
  wait
fi
echo '{"finished": true}'
"#;

fn config() -> TestConfig {
    let config = TestConfig::new();
    let root = config.root().display().to_string();
    let script = config.write("step.sh", STEP);
    let config = config.with_template(
        "orphan_guard.yaml",
        &format!(
            "name: orphan_guard\nnamespace: examples\nversion: 1.0.0\nsteps:\n  - name: long\n    handler: {{ callable: builtin.command, initialization: {{ program: sh, args: [\"{}\", \"{root}\"] }} }}\n    retry: {{ retryable: true, max_attempts: 3, backoff_base_ms: 10, max_backoff_ms: 20 }}\n    timeout_seconds: 600\n",
            script.display()
        ),
    );
    config.write(
        "base/orchestration.toml",
        "[orchestration]\npoll_interval_ms = 50\n[worker]\nlease_seconds = 2\npoll_interval_ms = 50\n",
    );
    config
}

#[tokio::test]
async fn a_sigkilled_server_leaves_no_step_program_running_and_the_step_is_retried() {
    let config = config();
    let server = ServerProcess::start(&server_binary(), &config, &[]);
    let task = create_task(&server, "orphan_guard", json!({})).await;
    let program = pid_from(&config.root().join("first.pid")).await;
    let grandchild = pid_from(&config.root().join("grandchild.pid")).await;
    assert!(alive(program) && alive(grandchild), "the step is running");

    drop(server); // SIGKILL: no shutdown code runs in the server.
    wait_gone(program, "the step program of the killed worker").await;
    wait_gone(grandchild, "the step program's child").await;

    // A new server on the same database re-claims the step once its lease expires.
    let server = ServerProcess::start(&server_binary(), &config, &[]);
    wait_for_task(&server, &task, &["complete"]).await;
    let steps = steps(&server, &task).await;
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0]["status"], "complete", "{steps:?}");
    assert_eq!(steps[0]["results"], json!({"finished": true}), "{steps:?}");
    assert_eq!(steps[0]["attempts"], 2, "{steps:?}");
}
