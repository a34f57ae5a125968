//! `builtin.command` called through the public registry with hand-built step inputs: the
//! stdin/stdout contract, exit codes, timeouts that kill the whole process group, garbage on
//! stdout, capped stderr, and the cleared environment.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tasker_testkit::HANG_GUARD;
use tasker_worker::{HandlerError, HandlerRegistry, StepInput, StepLog};
use uuid::Uuid;

use crate::{pid_from, real_python, wait_gone};

fn input(step_name: &str, initialization: Value) -> StepInput {
    StepInput {
        task_uuid: Uuid::new_v4(),
        step_uuid: Uuid::new_v4(),
        step_name: step_name.to_owned(),
        attempt: 1,
        context: json!({}),
        parent_results: BTreeMap::new(),
        initialization,
        log: StepLog::discard(),
        ..StepInput::default()
    }
}

fn sh(script: &str) -> Value {
    json!({"program": "sh", "args": ["-c", script]})
}

fn script(name: &str) -> String {
    tasker_testkit::repo_root()
        .join("examples/polyglot")
        .join(name)
        .display()
        .to_string()
}

/// Runs the handler; panics if it has not returned once the hang guard has passed. The
/// programs that must be cut short sleep far longer than the guard, so a handler that waited
/// for them fails here instead of passing late.
async fn call(input: StepInput) -> Result<Value, HandlerError> {
    // As in the binaries: programs run under the supervisor (here the real worker binary).
    tasker_worker::set_command_supervisor(tasker_testkit::binary("tasker-worker"));
    let handler = HandlerRegistry::with_builtins()
        .get("builtin.command")
        .unwrap();
    tokio::time::timeout(HANG_GUARD, handler.call(input))
        .await
        .unwrap_or_else(|_| {
            panic!("hang guard ({HANG_GUARD:?}) passed: the handler never returned")
        })
}

#[tokio::test]
async fn a_result_printed_on_stdout_flows_to_the_dependent_step() {
    let mut first = input(
        "normalize",
        json!({"program": "python3", "args": [script("normalize.py")]}),
    );
    first.context = json!({"records": [
        {"name": "  grace   hopper ", "score": "93.5"},
        {"name": "alan", "score": 78},
        {"name": "", "score": 50},
    ]});
    let normalized = call(first.clone()).await.unwrap();
    assert_eq!(
        normalized,
        json!({"records": [{"name": "Grace Hopper", "score": 93.5}, {"name": "Alan", "score": 78.0}], "dropped": 1})
    );

    let mut second = input(
        "score",
        json!({"program": "python3", "args": [script("score.py")], "grades": {"A": 90, "B": 75}}),
    );
    second.context = first.context.clone();
    second.parent_results = BTreeMap::from([("normalize".to_owned(), normalized)]);
    let scored = call(second).await.unwrap();
    assert_eq!(scored["graded"][0]["grade"], "A");
    assert_eq!(scored["graded"][1]["grade"], "B");
    assert_eq!(scored["mean"], 85.75);
}

#[tokio::test]
async fn the_program_receives_the_whole_step_document_on_stdin() {
    let mut step = input("echo", sh("cat"));
    step.attempt = 3;
    step.context = json!({"n": 5});
    step.parent_results = BTreeMap::from([("up".to_owned(), json!([1, 2]))]);
    let out = call(step.clone()).await.unwrap();
    assert_eq!(
        out,
        json!({
            "task_uuid": step.task_uuid,
            "step_uuid": step.step_uuid,
            "step_name": "echo",
            "attempt": 3,
            "context": {"n": 5},
            "parent_results": {"up": [1, 2]},
            "initialization": {"program": "sh", "args": ["-c", "cat"]},
        })
    );
}

#[tokio::test]
async fn exit_75_is_retryable_and_other_codes_are_permanent() {
    let busy = call(input("s", sh("echo 'database busy' >&2; exit 75")))
        .await
        .unwrap_err();
    assert!(busy.retryable, "{busy:?}");
    assert_eq!(
        busy.message,
        "builtin.command: `sh` exited with status 75 (EX_TEMPFAIL, retryable); stderr: database busy"
    );

    let bad = call(input(
        "s",
        sh(r#"echo '{"field": "email"}'; echo 'invalid email' >&2; exit 3"#),
    ))
    .await
    .unwrap_err();
    assert!(!bad.retryable, "{bad:?}");
    assert_eq!(
        bad.message,
        "builtin.command: `sh` exited with status 3; stderr: invalid email"
    );
    assert_eq!(bad.details, Some(json!({"field": "email"})));

    let missing = call(input("s", json!({"program": "/nonexistent/handler"})))
        .await
        .unwrap_err();
    assert!(!missing.retryable);
    // The message reaches API callers: the program's directory is not shown.
    assert_eq!(
        missing.message,
        "builtin.command: cannot start `.../handler`: No such file or directory (os error 2)"
    );
}

#[tokio::test]
async fn garbage_on_stdout_is_a_clear_permanent_error() {
    let err = call(input("s", sh("echo 'Traceback: not json at all'")))
        .await
        .unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message
            .starts_with("builtin.command: `sh` exited 0 but its stdout is not JSON ("),
        "{err:?}"
    );
    assert!(
        err.message
            .ends_with("stdout begins \"Traceback: not json at all\""),
        "{err:?}"
    );
    let empty = call(input("s", sh("cat > /dev/null"))).await.unwrap();
    assert_eq!(empty, Value::Null, "empty stdout is a null result");
}

#[tokio::test]
async fn stderr_is_captured_up_to_its_last_4_kib() {
    let script = "head -c 20000 /dev/zero | tr '\\0' x >&2; echo THE-END >&2; exit 1";
    let err = call(input("s", sh(script))).await.unwrap_err();
    assert!(
        err.message.contains("; last 4 KiB of stderr: xxxx"),
        "{}",
        &err.message[..200]
    );
    assert!(err.message.ends_with("THE-END"), "the tail is kept");
    assert!(err.message.len() < 4096 + 200, "{}", err.message.len());
}

#[tokio::test]
async fn stdout_beyond_1_mib_fails_without_waiting_for_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("program.pid");
    let script = format!("echo $$ > {}; yes '[1,2,3]'; sleep 300", pidfile.display());
    let err = call(input("s", sh(&script))).await.unwrap_err();
    assert!(!err.retryable);
    assert!(
        err.message.contains("printed more than 1024 KiB on stdout"),
        "{err:?}"
    );
    let program = pid_from(&pidfile).await;
    wait_gone(program, "the program that printed too much").await;
}

#[tokio::test]
async fn a_timeout_kills_the_program_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let mut init = sh(&format!(
        "sleep 300 & echo $! > {}; sleep 300",
        pidfile.display()
    ));
    init["timeout_seconds"] = json!(2);
    let err = call(input("slow", init)).await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert_eq!(
        err.message,
        "builtin.command: `sh` timed out after 2 s; its process group was killed"
    );
    let grandchild = pid_from(&pidfile).await;
    wait_gone(grandchild, "the background sleep").await;
}

#[tokio::test]
async fn an_abandoned_attempt_kills_the_process_group() {
    // The runtime drops the handler's future on a step timeout, a lost lease or shutdown.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let init = sh(&format!(
        "sleep 300 & echo $! > {}; sleep 300",
        pidfile.display()
    ));
    // Like the runtime, run the handler in its own task and abort it.
    let attempt = tokio::spawn(call(input("slow", init)));
    let grandchild = pid_from(&pidfile).await;
    attempt.abort();
    assert!(attempt.await.unwrap_err().is_cancelled());
    wait_gone(grandchild, "the background sleep").await;
}

#[tokio::test]
async fn background_leftovers_do_not_outlive_a_finished_program() {
    // The leftover holds the program's stdout open; the handler must not wait for it.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("leftover.pid");
    let init = sh(&format!(
        "sleep 300 & echo $! > {}; echo '{{\"done\": true}}'",
        pidfile.display()
    ));
    let out = call(input("quick", init)).await.unwrap();
    assert_eq!(out, json!({"done": true}));
    let leftover = pid_from(&pidfile).await;
    wait_gone(leftover, "the background sleep").await;
}

#[tokio::test]
async fn the_environment_is_cleared_except_path_home_and_lang() {
    // This test process runs with cargo's variables (CARGO_*, RUST_*) set; none may reach the
    // program. The end-to-end test in `polyglot.rs` does the same with a credential.
    assert!(std::env::vars().any(|(k, _)| k.starts_with("CARGO")));
    let init = json!({"program": real_python(), "args": ["-c", "import json, os; print(json.dumps(sorted(os.environ)))"]});
    let names = call(input("env", init)).await.unwrap();
    let names: Vec<String> = serde_json::from_value(names).unwrap();
    for name in &names {
        // Python itself may add LC_CTYPE when coercing a C locale.
        assert!(
            ["PATH", "HOME", "LANG", "LC_CTYPE"].contains(&name.as_str()),
            "{name} leaked into the program's environment: {names:?}"
        );
    }
    assert!(names.contains(&"PATH".to_owned()));
}

#[tokio::test]
async fn a_batch_copy_gets_its_batch_and_a_dependent_its_failed_batches_on_stdin() {
    let mut copy = input("part_1", sh("cat"));
    copy.batch = Some(json!({"index": 1, "count": 3, "cursor": {"from": 11, "to": 20}}));
    let document = call(copy).await.unwrap();
    assert_eq!(
        document["batch"],
        json!({"index": 1, "count": 3, "cursor": {"from": 11, "to": 20}})
    );
    assert!(document.get("failed_batches").is_none());
    let mut dependent = input("total", sh("cat"));
    dependent.parent_results = BTreeMap::from([("part".to_owned(), json!([{"v": 1}, {"v": 3}]))]);
    dependent.failed_batches = vec![1];
    let document = call(dependent).await.unwrap();
    assert_eq!(
        document["parent_results"]["part"],
        json!([{"v": 1}, {"v": 3}])
    );
    assert_eq!(document["failed_batches"], json!([1]));
    assert!(document.get("batch").is_none());
}
