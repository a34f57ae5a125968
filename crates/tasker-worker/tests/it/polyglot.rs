//! `config/tasks/polyglot_pipeline.yaml` run by a real `tasker-server` with its embedded
//! worker: Python scripts as step handlers, results flowing through `parent_results`,
//! exit codes deciding retries, and no credential leaking into the scripts' environment.

use serde_json::{Value, json};
use tasker_testkit::{HANG_GUARD, ServerProcess, TestConfig, eventually, repo_root};

use crate::{create_task, get_json, real_python, server_binary, steps as steps_of, wait_for_task};

/// Exits 75 on its first attempt, then prints the attempt and its environment's names. It runs
/// under the real interpreter: a `python3` shim (pyenv) adds variables of its own.
const FLAKY: &str = r#"
import json, os, sys
step = json.load(sys.stdin)
if step["attempt"] == 1:
    print("temporarily unavailable", file=sys.stderr)
    sys.exit(75)
print(json.dumps({"attempt": step["attempt"], "env": sorted(os.environ)}))
"#;

/// Fails with exit 2 every time.
const BROKEN: &str = r#"
import sys
print("bad configuration: no such table", file=sys.stderr)
sys.exit(2)
"#;

fn exit_codes_template(python: &str, flaky: &str, broken: &str) -> String {
    format!(
        r#"name: exit_codes
namespace: examples
version: 1.0.0
steps:
  - name: flaky
    handler: {{ callable: builtin.command, initialization: {{ program: "{python}", args: ["{flaky}"] }} }}
    retry: {{ retryable: true, max_attempts: 3, backoff_base_ms: 10, max_backoff_ms: 20 }}
  - name: broken
    handler: {{ callable: builtin.command, initialization: {{ program: python3, args: ["{broken}"] }} }}
    depends_on: [flaky]
    retry: {{ retryable: true, max_attempts: 3, backoff_base_ms: 10, max_backoff_ms: 20 }}
  - name: garbage
    handler: {{ callable: builtin.command, initialization: {{ program: sh, args: ["-c", "echo 'ok, done'"] }} }}
    depends_on: [flaky]
    retry: {{ retryable: true, max_attempts: 3, backoff_base_ms: 10, max_backoff_ms: 20 }}
"#
    )
}

fn server(secret_env: &[(&str, &str)]) -> (ServerProcess, TestConfig) {
    let config = TestConfig::new().backoff(10, 20);
    let scripts = repo_root().join("examples/polyglot");
    let pipeline = std::fs::read_to_string(repo_root().join("config/tasks/polyglot_pipeline.yaml"))
        .unwrap()
        .replace("examples/polyglot/", &format!("{}/", scripts.display()));
    let config = config.with_template("polyglot_pipeline.yaml", &pipeline);
    let flaky = config.write("scripts/flaky.py", FLAKY);
    let broken = config.write("scripts/broken.py", BROKEN);
    let config = config.with_template(
        "exit_codes.yaml",
        &exit_codes_template(
            &real_python(),
            &flaky.display().to_string(),
            &broken.display().to_string(),
        ),
    );
    config.write(
        "base/orchestration.toml",
        "[orchestration]\npoll_interval_ms = 50\n[worker]\npoll_interval_ms = 50\n",
    );
    let server = ServerProcess::start(&server_binary(), &config, secret_env);
    (server, config)
}

#[tokio::test]
async fn the_polyglot_pipeline_runs_python_steps_end_to_end() {
    let (server, _config) = server(&[]);
    let records = json!({"records": [
        {"name": "ada lovelace", "score": "97"},
        {"name": "  alan turing ", "score": 88},
        {"name": "grace", "score": 71.5},
        {"name": "nobody", "score": "n/a"},
    ]});
    let task = create_task(&server, "polyglot_pipeline", records).await;
    wait_for_task(&server, &task, &["complete"]).await;
    let context = get_json(&server, &format!("/v1/tasks/{task}/context")).await;
    let results = &context["step_results"];
    assert_eq!(results["normalize"]["dropped"], 1);
    assert_eq!(
        results["normalize"]["records"][1],
        json!({"name": "Alan Turing", "score": 88.0})
    );
    assert_eq!(
        results["score"]["graded"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["grade"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["A", "B", "C"]
    );
    assert_eq!(
        results["report"],
        json!({
            "students": 3,
            "dropped": 1,
            "mean": (97.0 + 88.0 + 71.5) / 3.0,
            "grades": {"A": 1, "B": 1, "C": 1},
            "best": "Ada Lovelace",
        })
    );
}

#[tokio::test]
async fn exit_75_is_retried_other_exits_fail_and_credentials_stay_out() {
    let (server, _config) = server(&[
        ("TASKER_AUTH_TOKEN", "secret-token-value"),
        ("AWS_SECRET_ACCESS_KEY", "also-secret"),
    ]);
    let task = create_task(&server, "exit_codes", json!({})).await;
    let view = wait_for_task(
        &server,
        &task,
        &["blocked_by_failures", "error", "complete"],
    )
    .await;
    assert_eq!(view["status"], "blocked_by_failures", "{view:#}");
    // `broken` and `garbage` run side by side; the first failure blocks the task.
    let steps = eventually("every step to finish", HANG_GUARD, async || {
        let steps = steps_of(&server, &task).await;
        let finished = steps
            .iter()
            .all(|s| ["complete", "error"].contains(&s["status"].as_str().unwrap()));
        if finished {
            Ok(steps)
        } else {
            Err(Value::from(steps))
        }
    })
    .await;
    let by_name = |name: &str| -> &Value { steps.iter().find(|s| s["name"] == name).unwrap() };

    let flaky = by_name("flaky");
    assert_eq!(flaky["status"], "complete", "{flaky:#}");
    assert_eq!(flaky["attempts"], 2);
    assert_eq!(flaky["results"]["attempt"], 2);
    let env: Vec<&str> = flaky["results"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.iter()
            .all(|n| ["PATH", "HOME", "LANG", "LC_CTYPE"].contains(n)),
        "the server's environment leaked into the script: {env:?}"
    );

    let broken = by_name("broken");
    assert_eq!(broken["status"], "error", "{broken:#}");
    assert_eq!(broken["attempts"], 1, "exit 2 is permanent: no retry");
    let message = broken["last_error"]["message"].as_str().unwrap();
    assert!(
        message.contains("exited with status 2; stderr: bad configuration: no such table"),
        "{message}"
    );

    let garbage = by_name("garbage");
    assert_eq!(garbage["status"], "error", "{garbage:#}");
    assert_eq!(garbage["attempts"], 1, "garbage on stdout is permanent");
    assert_eq!(
        garbage["last_error"]["message"],
        "builtin.command: `sh` exited 0 but its stdout is not JSON (expected value at line 1 column 1); stdout begins \"ok, done\""
    );
}

/// Raises an exception: Python prints a traceback naming the script by its absolute path.
const RAISES: &str = r#"
import json
json.loads("{")
"#;

#[tokio::test]
async fn failure_messages_shown_by_the_api_carry_no_host_path() {
    let config = TestConfig::new();
    let python = real_python();
    let raises = config.write("scripts/raises.py", RAISES);
    let missing = config.root().join("scripts/missing.py");
    config.write(
        "tasks/paths.yaml",
        &format!(
            r#"name: paths
namespace: examples
version: 1.0.0
steps:
  - name: missing_script
    handler: {{ callable: builtin.command, initialization: {{ program: "{python}", args: ["{}"] }} }}
  - name: traceback
    handler: {{ callable: builtin.command, initialization: {{ program: "{python}", args: ["{}"] }} }}
"#,
            missing.display(),
            raises.display()
        ),
    );
    config.write(
        "base/common.toml",
        &format!(
            "[database]\nurl = \"sqlite://{root}/tasker.db\"\n[templates]\nsearch_paths = [\"{root}/tasks\"]\n",
            root = config.root().display()
        ),
    );
    config.write(
        "base/orchestration.toml",
        "[orchestration]\npoll_interval_ms = 50\n[worker]\npoll_interval_ms = 50\n",
    );
    let server = ServerProcess::start(&server_binary(), &config, &[]);
    let task = create_task(&server, "paths", json!({})).await;
    wait_for_task(&server, &task, &["blocked_by_failures", "error"]).await;
    // Both steps run side by side; the first failure blocks the task.
    let steps = eventually("both command steps to fail", HANG_GUARD, async || {
        let steps = steps_of(&server, &task).await;
        if steps.iter().all(|s| s["status"] == "error") {
            Ok(steps)
        } else {
            Err(Value::from(steps))
        }
    })
    .await;
    let message = |name: &str| -> String {
        let step = steps.iter().find(|s| s["name"] == name).unwrap();
        step["last_error"]["message"].as_str().unwrap().to_owned()
    };
    let missing_message = message("missing_script");
    assert!(
        missing_message.starts_with("builtin.command: `.../python3")
            && missing_message.contains(" exited with status 2; stderr: ")
            && missing_message.contains("can't open file '.../missing.py': [Errno 2]"),
        "{missing_message}"
    );
    let traceback = message("traceback");
    assert!(
        traceback.contains("File \".../raises.py\", line 3"),
        "{traceback}"
    );
    let dlq = get_json(&server, &format!("/v1/dlq/task/{task}")).await;
    let shown = [missing_message.clone(), traceback.clone(), dlq.to_string()];
    let root = config.root().display().to_string();
    for text in &shown {
        assert!(
            !text.contains(&root),
            "the working directory leaked: {text}"
        );
        assert!(
            !text.contains(&python),
            "the interpreter path leaked: {text}"
        );
        assert!(
            absolute_paths(text).is_empty(),
            "{:?} in {text}",
            absolute_paths(text)
        );
    }
    // The log keeps the whole message for operators.
    assert!(server.logs().contains(&missing.display().to_string()));
}

/// Absolute paths in `text`: a `/` after a quote, a space or the start, followed by a
/// character that continues a path.
fn absolute_paths(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut found = Vec::new();
    for (i, c) in chars.iter().enumerate() {
        let after_boundary = i == 0 || matches!(chars[i - 1], ' ' | '\'' | '"' | '`' | '(' | '=');
        let continues = chars
            .get(i + 1)
            .is_some_and(|n| n.is_alphanumeric() || matches!(n, '.' | '_' | '-'));
        if *c == '/' && after_boundary && continues {
            found.push(
                chars[i..]
                    .iter()
                    .take_while(|c| !c.is_whitespace())
                    .collect(),
            );
        }
    }
    found
}
