//! `task logs` against a live server running Python `builtin.command` steps: a failing step's
//! stderr read back through the API and the CLI, capped by `[worker] step_log_max_bytes`
//! with non-UTF-8 bytes replaced, and `--follow` printing lines while the program still runs.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;

use serde_json::Value;
use tasker_testkit::{HANG_GUARD, TestConfig};

use crate::live::{Live, admin_token, assert_no_secret, one_error_line};
use crate::support::Ctl;

/// Writes a line with a byte that is not UTF-8, then 30 numbered lines, then fails.
const NOISY: &str = r#"
import sys
sys.stderr.buffer.write(b"bad \xff byte\n")
for i in range(1, 31):
    print(f"line {i:02} of the noisy step", file=sys.stderr)
sys.exit(2)
"#;

/// Writes a line, waits until the file named by its argument exists, writes another.
const GATED: &str = r#"
import os, sys, time
print("first line", file=sys.stderr, flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.02)
print("second line", file=sys.stderr, flush=True)
print("{}")
"#;

/// The cap the server's worker keeps per attempt.
const CAP: usize = 300;

fn start() -> (Live, std::path::PathBuf) {
    let config = TestConfig::new().backoff(10, 50);
    let noisy = config.write("scripts/noisy.py", NOISY);
    let gated = config.write("scripts/gated.py", GATED);
    let gate = config.root().join("gate-open");
    let config = config.with_template(
        "logs.yaml",
        &format!(
            r#"name: logs
namespace: examples
version: 1.0.0
steps:
  - name: noisy
    handler: {{ callable: builtin.command, initialization: {{ program: python3, args: ["{}"] }} }}
  - name: gated
    handler: {{ callable: builtin.command, initialization: {{ program: python3, args: ["{}", "{}"] }} }}
"#,
            noisy.display(),
            gated.display(),
            gate.display()
        ),
    );
    let live = crate::live::start_on(config, &format!("step_log_max_bytes = {CAP}"));
    (live, gate)
}

/// The lines the worker keeps of `NOISY` under `CAP` (each costs its bytes plus one).
fn kept_noisy_lines() -> Vec<String> {
    let mut lines = vec!["bad \u{fffd} byte".to_owned()];
    lines.extend((1..=30).map(|i| format!("line {i:02} of the noisy step")));
    let mut used = 0;
    lines
        .into_iter()
        .take_while(|l| {
            used += l.len() + 1;
            used <= CAP
        })
        .collect()
}

#[test]
fn a_failing_polyglot_steps_log_is_capped_and_readable_through_the_api_and_the_cli() {
    let (live, gate) = start();
    std::fs::write(&gate, "").unwrap();
    let token = admin_token();
    let task = live.create("examples", "logs", "{}");
    live.wait_for(&task, "blocked_by_failures");
    let step = live.step(&task, "noisy");
    let expected = kept_noisy_lines();
    assert!(expected.len() > 3 && expected.len() < 31, "{expected:?}");

    // The API.
    let path = format!("/v1/tasks/{task}/workflow_steps/{step}/logs?attempt=1");
    let view = block_on(live.server.get_json(&path, Some(&token)));
    assert_eq!(view["attempt"], 1);
    assert_eq!(view["running"], false);
    assert_eq!(view["truncated"], true, "{view:#}");
    let lines: Vec<&str> = view["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert_eq!(lines, expected);

    // The CLI: the lines, then the truncation note.
    let out = live
        .ctl(&token, &["task", "logs", &task, &step])
        .expect_code(0);
    let mut printed: Vec<&str> = out.stdout.lines().collect();
    let note = printed.pop().unwrap();
    assert!(note.starts_with("-- step log truncated"), "{}", out.stdout);
    assert_eq!(printed, expected);
    let out = live
        .ctl(
            &token,
            &[
                "task",
                "logs",
                &task,
                &step,
                "--attempt",
                "1",
                "--format",
                "json",
            ],
        )
        .expect_code(0);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json, view);

    // No second attempt: exit 1 naming it; no permission: 403.
    let error = one_error_line(live.ctl(&token, &["task", "logs", &task, &step, "--attempt", "2"]));
    assert!(error.contains("attempt 2"), "{error}");
    let weak = crate::live::token(&["tasks:read"]);
    let out = live.ctl(&weak, &["task", "logs", &task, &step]);
    assert_no_secret(&out, &weak);
    let error = one_error_line(out);
    assert!(error.contains("steps:read"), "{error}");
}

#[test]
fn follow_prints_lines_as_the_program_writes_them() {
    let (live, gate) = start();
    let token = admin_token();
    let task = live.create("examples", "logs", "{}");
    let step = live.step(&task, "gated");
    let mut child = Ctl::new(live.config.root())
        .env("TASKER_AUTH_TOKEN", &token)
        .args(["--url", &live.server.base_url])
        .args(["task", "logs", &task, &step, "--follow"])
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    assert_eq!(rx.recv_timeout(HANG_GUARD).unwrap(), "first line");
    // The program is held until the gate opens: the line was shown while it runs.
    let steps = block_on(live.server.get_json(
        &format!("/v1/tasks/{task}/workflow_steps/{step}"),
        Some(&token),
    ));
    assert_eq!(steps["status"], "in_progress", "{steps:#}");
    std::fs::write(&gate, "").unwrap();
    assert_eq!(rx.recv_timeout(HANG_GUARD).unwrap(), "second line");
    // The attempt ended: the CLI closes its output and exits 0.
    assert_eq!(
        rx.recv_timeout(HANG_GUARD),
        Err(mpsc::RecvTimeoutError::Disconnected),
        "nothing after the end"
    );
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("the attempt ended; the step is complete"),
        "{stderr}"
    );
    assert!(!stderr.contains(&token));
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(future)
}
