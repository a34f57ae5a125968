//! `task signal` (approve or reject a waiting approval step) and `task rerun` (one task, or a
//! filtered set with `--dry-run` and progress lines) against a live server.

use serde_json::{Value, json};
use tasker_testkit::{HANG_GUARD, eventually_blocking};

use crate::live::{self, Live, admin_token, one_error_line};

/// Waits until the task's step `name` is `waiting` and returns its id.
fn waiting_step(live: &Live, task: &str, name: &str) -> String {
    let step = live.step(task, name);
    eventually_blocking(&format!("step {name} to wait"), HANG_GUARD, || {
        let out = live
            .ctl(
                &admin_token(),
                &["task", "step", task, &step, "--format", "json"],
            )
            .expect_code(0);
        let view: Value = serde_json::from_str(&out.stdout).unwrap();
        if view["status"] == "waiting" {
            Ok(())
        } else {
            Err(view)
        }
    });
    step
}

/// The step's audit trail as `(from_state, to_state, actor, reason)`.
fn trail(live: &Live, task: &str, step: &str) -> Vec<(String, String, String, String)> {
    let out = live
        .ctl(
            &admin_token(),
            &["task", "audit", task, step, "--format", "json"],
        )
        .expect_code(0);
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let text = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
            (
                text("from_state"),
                text("to_state"),
                text("actor"),
                text("reason"),
            )
        })
        .collect()
}

#[test]
fn approval_steps_are_approved_and_rejected_from_the_cli() {
    let live = live::start();
    let token = admin_token();

    // Approve, table output: the step completes with the decision, the payload and who.
    let task = live.create("examples", "approval_payout", r#"{"value": 3}"#);
    let review = waiting_step(&live, &task, "review");
    let error = one_error_line(live.ctl(
        &token,
        &[
            "task",
            "signal",
            &task,
            &review,
            "--approve",
            "--payload",
            "{not json",
        ],
    ));
    assert!(error.contains("invalid JSON in --payload"), "{error}");
    let out = live
        .ctl(
            &token,
            &[
                "task",
                "signal",
                &task,
                &review,
                "--approve",
                "--payload",
                r#"{"limit": 500}"#,
                "--reason",
                "checked",
            ],
        )
        .expect_code(0);
    let status = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("status:"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(status.trim(), "complete", "{}", out.stdout);
    assert!(out.stdout.contains("(approval)"), "{}", out.stdout);
    let done = live.wait_for(&task, "complete");
    assert_eq!(done["step_counts"]["complete"], 3, "{done:#}");
    let (_, step) = live.both(&["task", "step", &task, &review]);
    assert_eq!(
        step["results"],
        json!({"decision": "approve", "payload": {"limit": 500}, "by": "operator"})
    );
    assert!(
        trail(&live, &task, &review)
            .iter()
            .any(|(from, to, actor, reason)| from == "waiting"
                && to == "complete"
                && actor == "operator"
                && reason.contains("approved by operator: checked")),
        "{:?}",
        trail(&live, &task, &review)
    );
    // A step that no longer waits cannot be signalled again (409, explained).
    let error = one_error_line(live.ctl(&token, &["task", "signal", &task, &review, "--reject"]));
    assert!(error.contains("not waiting for a signal"), "{error}");
    // Neither flag, or both, is a usage error.
    live.ctl(&token, &["task", "signal", &task, &review])
        .expect_code(2);
    live.ctl(
        &token,
        &["task", "signal", &task, &review, "--approve", "--reject"],
    )
    .expect_code(2);

    // Reject, JSON output: the step fails permanently naming who, and the task blocks.
    let task = live.create("examples", "approval_payout", r#"{"value": 4}"#);
    let review = waiting_step(&live, &task, "review");
    let out = live
        .ctl(
            &token,
            &[
                "task", "signal", &task, &review, "--reject", "--reason", "too much", "--format",
                "json",
            ],
        )
        .expect_code(0);
    let step: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(step["status"], "error", "{step:#}");
    assert_eq!(
        step["last_error"]["message"],
        "rejected by operator: too much"
    );
    assert_eq!(step["last_error"]["by"], "operator");
    let blocked = live.wait_for(&task, "blocked_by_failures");
    assert_eq!(blocked["step_counts"]["complete"], 1, "{blocked:#}");
}

/// The `rerun N/M` progress lines written to a non-terminal stderr.
fn progress_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("rerun ")).collect()
}

#[test]
fn reruns_from_the_cli_reset_one_task_or_a_filtered_set() {
    let live = live::start();
    let token = admin_token();
    let tasks: Vec<String> = (0..3)
        .map(|i| live.create("examples", "linear_math", &format!(r#"{{"value": {i}}}"#)))
        .collect();
    for task in &tasks {
        live.wait_for(task, "complete");
    }
    let first = &tasks[0];
    let middle = live.step(first, "multiply_by_three");
    let runs_before = trail(&live, first, &middle).len();

    // A dry run names what would be reset and changes nothing.
    let out = live
        .ctl(
            &token,
            &[
                "task",
                "rerun",
                first,
                "--from-step",
                "multiply_by_three",
                "--dry-run",
                "--format",
                "json",
            ],
        )
        .expect_code(0);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["failed"], json!([]));
    assert_eq!(report["reruns"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(
        report["reruns"][0]["reset_steps"],
        json!(["multiply_by_three", "subtract_one", "double"])
    );
    assert!(progress_lines(&out.stderr).is_empty(), "{}", out.stderr);
    assert_eq!(live.task(first)["status"], "complete");
    assert_eq!(trail(&live, first, &middle).len(), runs_before);

    // The rerun itself: the middle step and its descendants run again, the first does not.
    let out = live
        .ctl(
            &token,
            &[
                "task",
                "rerun",
                first,
                "--from-step",
                "multiply_by_three",
                "--reason",
                "fixed the input",
            ],
        )
        .expect_code(0);
    assert!(out.stdout.contains("RESET"), "{}", out.stdout);
    assert!(out.stdout.contains("subtract_one"), "{}", out.stdout);
    let again = live.wait_for(first, "complete");
    assert_eq!(again["step_counts"]["complete"], 4, "{again:#}");
    let rows = trail(&live, first, &middle);
    assert!(
        rows.iter()
            .any(|(from, to, actor, reason)| from == "complete"
                && to == "pending"
                && actor == "operator"
                && reason == "rerun from `multiply_by_three`: fixed the input"),
        "{rows:?}"
    );
    let completions = |rows: &[(String, String, String, String)]| {
        rows.iter().filter(|(_, to, _, _)| to == "complete").count()
    };
    assert_eq!(completions(&rows), 2, "{rows:?}");
    let head = live.step(first, "add_two");
    assert_eq!(completions(&trail(&live, first, &head)), 1);

    // A filtered set, dry run: every matching task, one progress line per task on stderr.
    let out = live
        .ctl(
            &token,
            &[
                "task",
                "rerun",
                "--namespace",
                "examples",
                "--name",
                "linear_math",
                "--status",
                "complete",
                "--from-step",
                "double",
                "--dry-run",
                "--format",
                "json",
            ],
        )
        .expect_code(0);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let mut named: Vec<String> = report["reruns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["task_uuid"].as_str().unwrap().to_owned())
        .collect();
    named.sort();
    let mut expected = tasks.clone();
    expected.sort();
    assert_eq!(named, expected);
    assert_eq!(
        progress_lines(&out.stderr),
        ["rerun 1/3", "rerun 2/3", "rerun 3/3"]
    );

    // A set where some tasks cannot be rerun: the others are, the failures are listed, and
    // the command exits 1 naming how many failed.
    let diamond = live.create("examples", "diamond_math", r#"{"value": 1}"#);
    live.wait_for(&diamond, "complete");
    let out = live
        .ctl(
            &token,
            &[
                "task",
                "rerun",
                "--namespace",
                "examples",
                "--from-step",
                "subtract_one",
                "--dry-run",
            ],
        )
        .expect_code(1);
    assert!(
        out.stderr.contains("1 of 4 reruns failed"),
        "{}",
        out.stderr
    );
    assert_eq!(
        progress_lines(&out.stderr).last(),
        Some(&"rerun 4/4 (1 failed)")
    );
    assert!(out.stdout.contains("WOULD_RESET"), "{}", out.stdout);
    let failure = out
        .stdout
        .lines()
        .find(|l| l.starts_with(&diamond))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(failure.contains("subtract_one"), "{failure}");

    // One task: an unknown step is explained, and so is a task that is still running.
    let error = one_error_line(live.ctl(
        &token,
        &["task", "rerun", first, "--from-step", "no_such_step"],
    ));
    assert!(error.contains("no_such_step"), "{error}");
    let slow = live.create("ops", "slow", "{}");
    let error = one_error_line(live.ctl(&token, &["task", "rerun", &slow, "--from-step", "nap"]));
    assert!(error.contains("can be rerun"), "{error}");
}
