//! Integration tests of the worker library and binaries: `builtin.command` called directly,
//! the polyglot example template run by a real `tasker-server`, the `custom_handler` example
//! binary running a Rust handler, and many server and worker processes sharing one PostgreSQL
//! database (`NAME::postgres`, reported as ignored without `TASKER_TEST_DATABASE_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod cancel;
mod chaos;
mod command;
mod custom_handler;
mod db_restart;
mod fanout_crash;
mod handoff;
mod multi_process;
mod orphans;
mod polyglot;
mod prefetch;
mod shutdown;

use serde_json::{Value, json};
use tasker_testkit::{HANG_GUARD, ServerProcess, eventually};

/// The Python interpreter itself, not a version-manager shim that sets variables of its own.
pub(crate) fn real_python() -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    assert!(out.status.success(), "python3 is needed by these tests");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `tasker-server`, built next to this test binary.
pub(crate) fn server_binary() -> String {
    tasker_testkit::binary("tasker-server")
}

/// Creates a task through `server`'s API (auth disabled) and returns its id.
pub(crate) async fn create_task(server: &ServerProcess, name: &str, context: Value) -> String {
    let response = reqwest::Client::new()
        .post(server.url("/v1/tasks"))
        .json(&json!({"namespace": namespace_of(name), "name": name, "context": context}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "creating {name}: {status} {body}");
    body["task_uuid"].as_str().unwrap().to_owned()
}

fn namespace_of(name: &str) -> &'static str {
    match name {
        "greeting" => "greetings",
        n if n.starts_with("mp_") => "mp",
        _ => "examples",
    }
}

/// `GET path` on `server` (auth disabled) as JSON.
pub(crate) async fn get_json(server: &ServerProcess, path: &str) -> Value {
    server.get_json(path, None).await
}

/// Polls the task (auth disabled) until its status is one of `finals`; returns the task.
pub(crate) async fn wait_for_task(server: &ServerProcess, task: &str, finals: &[&str]) -> Value {
    server.wait_for_task(task, finals, None).await
}

/// The task's steps.
pub(crate) async fn steps(server: &ServerProcess, task: &str) -> Vec<Value> {
    let list = get_json(server, &format!("/v1/tasks/{task}/workflow_steps")).await;
    match list {
        Value::Array(items) => items,
        other => other["steps"].as_array().cloned().unwrap_or_default(),
    }
}

/// Whether `pid` still runs (a zombie waiting for a busy reaper counts as gone).
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X'))
        }
        Err(_) => false,
    }
}

/// Waits until `pid` (described as `what`) is gone; panics once the hang guard has passed.
pub(crate) async fn wait_gone(pid: u32, what: &str) {
    eventually(&format!("{what} ({pid}) to end"), HANG_GUARD, async || {
        if alive(pid) {
            Err("still running")
        } else {
            Ok(())
        }
    })
    .await;
}

/// Waits until `path` holds a pid and returns it.
pub(crate) async fn pid_from(path: &std::path::Path) -> u32 {
    eventually(
        &format!("a pid in {}", path.display()),
        HANG_GUARD,
        async || {
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            text.trim().parse::<u32>().map_err(|e| e.to_string())
        },
    )
    .await
}
