//! `task …` against a live server: a diamond followed to completion with `--wait`, then every
//! read of it in both formats; listing filters and pages; cancellation.

use serde_json::{Value, json};

use crate::live::{self, admin_token};

fn create_args<'a>(namespace: &'a str, name: &'a str, context: &'a str) -> Vec<&'a str> {
    vec![
        "task",
        "create",
        "--namespace",
        namespace,
        "--name",
        name,
        "--context",
        context,
    ]
}

#[test]
fn a_diamond_runs_to_completion_and_every_read_shows_it() {
    let live = live::start();
    let token = admin_token();

    // --wait, table: the result on stdout, one progress line per change on stderr.
    let mut args = create_args("examples", "diamond_math", r#"{"value": 5}"#);
    args.extend(["--wait", "--tags", "cli,test", "--reason", "smoke"]);
    let out = live.ctl(&token, &args).expect_code(0);
    assert!(out.stdout.contains("status:"), "{}", out.stdout);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("status:") && l.ends_with("complete")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("4/4 complete"), "{}", out.stdout);
    assert!(
        out.stderr
            .trim_end()
            .ends_with("complete (4/4 steps complete)"),
        "{}",
        out.stderr
    );
    let first = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("task:"))
        .unwrap()
        .trim()
        .to_owned();
    let done = live.task(&first);
    assert_eq!(done["status"], "complete");
    assert_eq!(done["created_by"], "operator");
    assert_eq!(done["tags"], json!(["cli", "test"]));
    assert_eq!(done["reason"], "smoke");

    // --wait, JSON: stdout is exactly the final task.
    let mut args = create_args("examples", "diamond_math", r#"{"value": 5}"#);
    args.extend(["--wait", "--timeout-seconds", "60", "--format", "json"]);
    let out = live.ctl(&token, &args).expect_code(0);
    let second: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(second["status"], "complete");
    assert_eq!(second["step_counts"]["complete"], 4);
    assert_eq!(second["context"], json!({"value": 5}));
    assert!(second["completed_at"].is_string());
    let second = second["task_uuid"].as_str().unwrap().to_owned();

    let (table, json) = live.both(&["task", "get", &first]);
    assert!(table.contains(&first) && table.contains("examples/diamond_math 1.0.0"));
    assert_eq!(json["task_uuid"], first.as_str());
    for field in [
        "namespace",
        "name",
        "version",
        "status",
        "context",
        "created_by",
    ] {
        assert!(!json[field].is_null(), "{field} missing: {json}");
    }

    let (table, json) = live.both(&["task", "list", "--namespace", "examples"]);
    assert!(table.starts_with("TASK_UUID"), "{table}");
    assert!(table.contains(&first) && table.contains(&second), "{table}");
    assert!(table.contains("page 1 of 1 (2 tasks"), "{table}");
    assert_eq!(json["pagination"]["total_count"], 2);
    assert_eq!(json["tasks"].as_array().unwrap().len(), 2);

    let (table, json) = live.both(&[
        "task",
        "list",
        "--status",
        "complete",
        "--name",
        "diamond_math",
        "--per-page",
        "1",
        "--page",
        "2",
    ]);
    assert!(
        table.contains("page 2 of 2 (2 tasks, 1 per page)"),
        "{table}"
    );
    assert_eq!(json["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(json["pagination"]["total_pages"], 2);
    let (table, json) = live.both(&["task", "list", "--status", "cancelled"]);
    assert_eq!(table.trim(), "no tasks\npage 1 of 1 (0 tasks, 25 per page)");
    assert_eq!(json["tasks"], json!([]));

    // Tag and creation-time filters: only the first task was created with tags.
    let (table, json) = live.both(&["task", "list", "--tag", "cli"]);
    assert!(
        table.contains(&first) && !table.contains(&second),
        "{table}"
    );
    assert_eq!(json["pagination"]["total_count"], 1);
    let (_, json) = live.both(&[
        "task",
        "list",
        "--tag",
        "test",
        "--created-after",
        "2000-01-01T00:00:00Z",
        "--created-before",
        "2999-01-01T00:00:00+02:00",
    ]);
    assert_eq!(json["tasks"][0]["task_uuid"], first.as_str(), "{json}");
    assert_eq!(json["pagination"]["total_count"], 1);
    let (_, json) = live.both(&["task", "list", "--created-after", "2999-01-01T00:00:00Z"]);
    assert_eq!(json["tasks"], json!([]));
    let (_, json) = live.both(&["task", "list", "--tag", "cli,test"]);
    assert_eq!(json["tasks"], json!([]));
    let out = live
        .ctl(&token, &["task", "list", "--created-after", "yesterday"])
        .expect_code(2);
    assert!(out.stderr.contains("--created-after"), "{}", out.stderr);
    let error = crate::live::one_error_line(live.ctl(
        &token,
        &[
            "task",
            "list",
            "--created-after",
            "2026-01-02T00:00:00Z",
            "--created-before",
            "2026-01-01T00:00:00Z",
        ],
    ));
    assert!(
        error.contains("created_after must be earlier than created_before"),
        "{error}"
    );

    let (table, json) = live.both(&["task", "steps", &first]);
    for name in ["start", "double", "triple", "join"] {
        assert!(table.contains(name), "{table}");
    }
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["start", "double", "triple", "join"]);
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "complete")
    );
    let join = live.step(&first, "join");

    let (table, json) = live.both(&["task", "step", &first, &join]);
    assert!(table.contains(r#"{"value":25}"#), "{table}");
    assert_eq!(json["results"], json!({"value": 25}));
    assert_eq!(json["attempts"], 1);
    assert_eq!(json["max_attempts"], 3);

    let (table, json) = live.both(&["task", "audit", &first, &join]);
    assert!(table.starts_with("AT"), "{table}");
    let trail = json.as_array().unwrap();
    assert_eq!(trail.first().unwrap()["to_state"], "pending");
    assert_eq!(trail.last().unwrap()["to_state"], "complete");

    let (table, json) = live.both(&["task", "context", &first]);
    assert!(table.contains(r#"context:  {"value":5}"#), "{table}");
    assert!(
        table.contains("double") && table.contains(r#"{"value":10}"#),
        "{table}"
    );
    assert_eq!(json["context"], json!({"value": 5}));
    assert_eq!(json["step_results"]["double"], json!({"value": 10}));
    assert_eq!(json["step_results"]["join"], json!({"value": 25}));
}

#[test]
fn tasks_are_cancelled_in_either_format() {
    let live = live::start();
    let token = admin_token();
    let first = live.create("ops", "slow", "{}");
    let second = live.create("ops", "slow", "{}");

    let out = live.ctl(&token, &["task", "cancel", &first]).expect_code(0);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("status:") && l.ends_with("cancelled")),
        "{}",
        out.stdout
    );
    let out = live
        .ctl(&token, &["task", "cancel", &second, "--format", "json"])
        .expect_code(0);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["status"], "cancelled");
    assert_eq!(live.task(&first)["status"], "cancelled");

    // A wait that runs out says so and leaves the task running.
    let third = live.ctl(
        &token,
        &[
            "task",
            "create",
            "--namespace",
            "ops",
            "--name",
            "slow",
            "--wait",
            "--timeout-seconds",
            "1",
        ],
    );
    let third = third.expect_code(1);
    let line = third.stderr.lines().last().unwrap();
    assert!(line.starts_with("error: task "), "{}", third.stderr);
    assert!(line.contains(" after 1 s ("), "{line}");
    assert!(line.ends_with("; it keeps running"), "{line}");

    // A second cancel is refused by the server: one line naming the conflict.
    let line = live::one_error_line(live.ctl(&token, &["task", "cancel", &first]));
    assert!(line.contains("409 conflict"), "{line}");
}

#[test]
fn context_comes_from_a_file_and_idempotency_keys_are_sent() {
    let live = live::start();
    let token = admin_token();
    let path = live.config.write("ctx.json", r#"{"value": 2}"#);
    let path = path.to_str().unwrap();
    let args = [
        "task",
        "create",
        "--namespace",
        "examples",
        "--name",
        "linear_math",
        "--version",
        "1.0.0",
        "--context-file",
        path,
        "--idempotency-key",
        "order-7",
        "--priority",
        "3",
        "--initiator",
        "cli-test",
        "--format",
        "json",
    ];
    let out = live.ctl(&token, &args).expect_code(0);
    let task: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(task["context"], json!({"value": 2}));
    assert_eq!(task["idempotency_key"], "order-7");
    assert_eq!(task["priority"], 3);
    assert_eq!(task["initiator"], "cli-test");
    let line = live::one_error_line(live.ctl(&token, &args));
    assert!(line.contains("409"), "{line}");
    assert!(line.contains(task["task_uuid"].as_str().unwrap()), "{line}");
}

/// On a terminal `--wait` redraws one progress bar in place. The terminal is a pseudo-tty
/// from util-linux `script`; without it there is nothing to observe.
#[test]
fn on_a_terminal_wait_draws_a_live_bar() {
    let Some(script) = script_binary() else {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    };
    let live = live::start();
    let command = format!(
        "{} --url {} task create --namespace examples --name diamond_math --context '{{\"value\": 5}}' --wait",
        env!("CARGO_BIN_EXE_tasker-ctl"),
        live.server.base_url
    );
    let token = admin_token();
    let out = std::process::Command::new(script)
        .args(["-qec", &command, "/dev/null"])
        .env("TASKER_AUTH_TOKEN", &token)
        .env("TERM", "dumb")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("\r\x1b[2K["), "{text:?}");
    assert!(
        text.contains("[########################] 4/4 steps  complete"),
        "{text:?}"
    );
    assert!(!text.contains(&token));
}

fn script_binary() -> Option<&'static str> {
    ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}
