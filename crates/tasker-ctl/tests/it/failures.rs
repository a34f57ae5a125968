//! A permanently failing template: `--wait` reports `blocked_by_failures` with exit 1, the
//! DLQ commands show and resolve the entries, and the manual step actions unblock the tasks.

use serde_json::{Value, json};

use tasker_testkit::{HANG_GUARD, eventually_blocking};

use crate::live::{self, Live, admin_token};

fn create_and_wait(live: &Live, format: &str) -> (i32, String, String) {
    let out = live.ctl(
        &admin_token(),
        &[
            "task",
            "create",
            "--namespace",
            "ops",
            "--name",
            "broken",
            "--wait",
            "--timeout-seconds",
            "60",
            "--format",
            format,
        ],
    );
    (out.code, out.stdout, out.stderr)
}

/// A task of `broken`, blocked, and the id of its failed step.
fn blocked(live: &Live) -> (String, String) {
    let task = live.create("ops", "broken", "{}");
    live.wait_for(&task, "blocked_by_failures");
    let step = live.step(&task, "explode");
    (task, step)
}

#[test]
fn waiting_on_a_failing_task_exits_1_naming_the_state() {
    let live = live::start();

    let (code, stdout, stderr) = create_and_wait(&live, "table");
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("status:") && l.ends_with("blocked_by_failures")),
        "{stdout}"
    );
    let last = stderr.lines().last().unwrap();
    assert!(last.starts_with("error: task "), "{stderr}");
    assert!(
        last.ends_with("ended blocked_by_failures (0 of 2 steps complete)"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));

    let (code, stdout, stderr) = create_and_wait(&live, "json");
    assert_eq!(code, 1, "{stderr}");
    let task: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(task["status"], "blocked_by_failures");
    assert_eq!(task["step_counts"]["error"], 1);
    assert!(stderr.contains("blocked_by_failures"), "{stderr}");
}

#[test]
fn dlq_commands_show_and_resolve_entries() {
    let live = live::start();
    let (first, _) = blocked(&live);
    let (second, _) = blocked(&live);

    let (table, json) = live.both(&["dlq", "list"]);
    assert!(table.starts_with("DLQ_ENTRY_UUID"), "{table}");
    assert!(table.contains(&first) && table.contains(&second), "{table}");
    let entries = json.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for entry in entries {
        assert_eq!(entry["dlq_reason"], "max_retries_exceeded");
        assert_eq!(entry["resolution_status"], "pending");
        assert!(entry["dlq_entry_uuid"].is_string());
    }
    let (_, json) = live.both(&[
        "dlq",
        "list",
        "--status",
        "pending",
        "--reason",
        "max_retries_exceeded",
        "--limit",
        "1",
    ]);
    assert_eq!(json.as_array().unwrap().len(), 1);

    let (table, json) = live.both(&["dlq", "get", &first]);
    assert!(
        table.contains(&first) && !table.contains(&second),
        "{table}"
    );
    let entry = json[0]["dlq_entry_uuid"].as_str().unwrap().to_owned();
    assert_eq!(json[0]["task_uuid"], first.as_str());

    let (table, json) = live.both(&["dlq", "queue"]);
    assert!(table.contains(&entry), "{table}");
    assert_eq!(json.as_array().unwrap().len(), 2);

    let (table, json) = live.both(&["dlq", "stats"]);
    assert!(table.starts_with("REASON"), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("max_retries_exceeded")
            && l.split_whitespace().collect::<Vec<_>>()
                == ["max_retries_exceeded", "2", "2", "0", "0", "0"]),
        "{table}"
    );
    assert_eq!(json[0]["dlq_reason"], "max_retries_exceeded");
    assert_eq!(json[0]["total"], 2);

    // Staleness lists tasks waiting in a state with a threshold: the running one, not the
    // blocked ones.
    let running = live.create("ops", "slow", "{}");
    live.wait_for(&running, "steps_in_process");
    let (table, json) = live.both(&["dlq", "staleness"]);
    assert!(table.contains(&running), "{table}");
    assert!(
        !table.contains(&first) && !table.contains(&second),
        "{table}"
    );
    let listed = json.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{json:#}");
    assert_eq!(listed[0]["task_uuid"], running.as_str());
    assert_eq!(listed[0]["status"], "steps_in_process");
    assert_eq!(listed[0]["threshold_minutes"], 120, "the default threshold");
    assert_eq!(listed[0]["stale"], false);

    let token = admin_token();
    let out = live
        .ctl(
            &token,
            &[
                "dlq",
                "update",
                &entry,
                "--status",
                "permanently_failed",
                "--notes",
                "gave up",
            ],
        )
        .expect_code(0);
    assert!(out.stdout.contains("permanently_failed"), "{}", out.stdout);
    assert!(out.stdout.contains("gave up"), "{}", out.stdout);
    let out = live
        .ctl(
            &token,
            &[
                "dlq", "update", &entry, "--notes", "really", "--format", "json",
            ],
        )
        .expect_code(0);
    let updated: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(updated["resolution_status"], "permanently_failed");
    assert_eq!(updated["notes"], "really");
    assert_eq!(updated["resolver"], "operator");
    // Giving up on the entry ended its task in `error`.
    let (_, task) = live.both(&["task", "get", &first]);
    assert_eq!(task["status"], "error", "{task:#}");
}

/// Waits until the step's audit trail shows the reset (`error` → `pending` by `operator`
/// with `reason`) followed by another attempt that failed again.
fn run_again_after_reset(live: &Live, task: &str, step: &str, reason: &str) {
    eventually_blocking(
        &format!("step {step} to run again after its reset"),
        HANG_GUARD,
        || {
            let out = live
                .ctl(
                    &admin_token(),
                    &["task", "audit", task, step, "--format", "json"],
                )
                .expect_code(0);
            let trail: Value = serde_json::from_str(&out.stdout).unwrap();
            let states: Vec<(&str, &str)> = trail
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    (
                        t["to_state"].as_str().unwrap(),
                        t["actor"].as_str().unwrap(),
                    )
                })
                .collect();
            let reset = trail.as_array().unwrap().iter().position(|t| {
                t["from_state"] == "error"
                    && t["to_state"] == "pending"
                    && t["actor"] == "operator"
                    && t["reason"] == reason
            });
            let failed_again =
                reset.is_some_and(|at| states[at..].iter().any(|(to, _)| *to == "error"));
            if failed_again { Ok(()) } else { Err(trail) }
        },
    );
}

#[test]
fn step_actions_unblock_tasks_in_either_format() {
    let live = live::start();
    let token = admin_token();
    let (a, a_step) = blocked(&live);
    let (b, b_step) = blocked(&live);

    // Reset for retry: the step runs again and fails again.
    let out = live
        .ctl(
            &token,
            &["task", "reset-step", &a, &a_step, "--reason", "try again"],
        )
        .expect_code(0);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("step:") && l.ends_with(a_step.as_str())),
        "{}",
        out.stdout
    );
    run_again_after_reset(&live, &a, &a_step, "try again");
    let out = live
        .ctl(
            &token,
            &[
                "task",
                "reset-step",
                &b,
                &b_step,
                "--reason",
                "again",
                "--format",
                "json",
            ],
        )
        .expect_code(0);
    let step: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(step["step_uuid"], b_step.as_str());
    run_again_after_reset(&live, &b, &b_step, "again");
    live.wait_for(&a, "blocked_by_failures");
    live.wait_for(&b, "blocked_by_failures");

    // Complete manually (JSON) and resolve manually (table): both tasks finish.
    let out = live
        .ctl(
            &token,
            &[
                "task",
                "complete-step",
                &a,
                &a_step,
                "--result",
                r#"{"value": "patched"}"#,
                "--reason",
                "fixed upstream",
                "--format",
                "json",
            ],
        )
        .expect_code(0);
    let step: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(step["status"], "complete");
    assert_eq!(step["results"], json!({"value": "patched"}));
    let out = live
        .ctl(
            &token,
            &[
                "task",
                "resolve-step",
                &b,
                &b_step,
                "--reason",
                "not needed",
            ],
        )
        .expect_code(0);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("status:") && l.ends_with("resolved_manually")),
        "{}",
        out.stdout
    );
    live.wait_for(&a, "complete");
    live.wait_for(&b, "complete");

    // The other two formats of each action, on two more blocked tasks.
    let (c, c_step) = blocked(&live);
    let (d, d_step) = blocked(&live);
    let out = live
        .ctl(
            &token,
            &[
                "task",
                "complete-step",
                &c,
                &c_step,
                "--result",
                "7",
                "--reason",
                "by hand",
            ],
        )
        .expect_code(0);
    assert!(out.stdout.contains("results:"), "{}", out.stdout);
    let out = live
        .ctl(
            &token,
            &[
                "task",
                "resolve-step",
                &d,
                &d_step,
                "--reason",
                "skip",
                "--format",
                "json",
            ],
        )
        .expect_code(0);
    let step: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(step["status"], "resolved_manually");
    live.wait_for(&c, "complete");
    live.wait_for(&d, "complete");

    // The audit trail names the operator and the reason.
    let (table, json) = live.both(&["task", "audit", &a, &a_step]);
    assert!(
        table.contains("operator") && table.contains("fixed upstream"),
        "{table}"
    );
    let manual = json
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["to_state"] == "complete")
        .unwrap();
    assert_eq!(manual["actor"], "operator");

    // Bad JSON in --result is refused before anything is sent.
    let line = live::one_error_line(live.ctl(
        &token,
        &[
            "task",
            "complete-step",
            &c,
            &c_step,
            "--result",
            "{oops",
            "--reason",
            "x",
        ],
    ));
    assert!(
        line.starts_with("error: invalid JSON in --result"),
        "{line}"
    );
}
