//! `builtin.command`: runs a program so handlers can be written in any language. The program
//! gets one JSON document on stdin (`task_uuid`, `step_uuid`, `step_name`, `attempt`,
//! `context`, `parent_results`, `initialization`) and prints its result as JSON on stdout.
//! A non-zero exit is a failure, retryable unless stdout is a JSON object with
//! `"retryable": false`; its `message` (or the tail of stderr) becomes the error message.

use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::registry::{HandlerError, StepHandler, StepInput};

const STDERR_TAIL: usize = 2000;

pub(crate) struct CommandHandler;

#[async_trait]
impl StepHandler for CommandHandler {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        let init = &input.initialization;
        let program = init
            .get("program")
            .and_then(Value::as_str)
            .ok_or_else(|| HandlerError::permanent("initialization.program must be a string"))?;
        let args: Vec<String> = match init.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|a| a.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| HandlerError::permanent("initialization.args must be strings"))?,
            Some(_) => {
                return Err(HandlerError::permanent(
                    "initialization.args must be an array",
                ));
            }
        };
        let document = json!({
            "task_uuid": input.task_uuid,
            "step_uuid": input.step_uuid,
            "step_name": input.step_name,
            "attempt": input.attempt,
            "context": input.context,
            "parent_results": input.parent_results,
            "initialization": input.initialization,
        });
        let run = run_program(program, &args, document.to_string());
        let output = match init.get("timeout_seconds").and_then(Value::as_u64) {
            Some(secs) => tokio::time::timeout(Duration::from_secs(secs), run)
                .await
                .map_err(|_| {
                    HandlerError::retryable(format!("`{program}` timed out after {secs} s"))
                })??,
            None => run.await?,
        };
        interpret(program, &output)
    }
}

async fn run_program(
    program: &str,
    args: &[String],
    stdin: String,
) -> Result<std::process::Output, HandlerError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| HandlerError::permanent(format!("cannot start `{program}`: {e}")))?;
    if let Some(mut pipe) = child.stdin.take() {
        // A program that ignores its input may close stdin early; that is not a failure.
        let _ = pipe.write_all(stdin.as_bytes()).await;
        drop(pipe);
    }
    child
        .wait_with_output()
        .await
        .map_err(|e| HandlerError::retryable(format!("waiting for `{program}` failed: {e}")))
}

fn interpret(program: &str, output: &std::process::Output) -> Result<Value, HandlerError> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed: Option<Value> = if stdout.trim().is_empty() {
        Some(Value::Null)
    } else {
        serde_json::from_str(stdout.trim()).ok()
    };
    if output.status.success() {
        return parsed.ok_or_else(|| {
            HandlerError::permanent(format!("`{program}` printed something that is not JSON"))
        });
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = {
        let t = stderr.trim();
        let start = t
            .char_indices()
            .rev()
            .nth(STDERR_TAIL)
            .map_or(0, |(i, _)| i);
        t[start..].to_owned()
    };
    let code = output
        .status
        .code()
        .map_or("a signal".to_owned(), |c| format!("status {c}"));
    let reported = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str);
    let message = match reported {
        Some(m) => format!("`{program}` exited with {code}: {m}"),
        None if tail.is_empty() => format!("`{program}` exited with {code}"),
        None => format!("`{program}` exited with {code}: {tail}"),
    };
    let retryable = parsed
        .as_ref()
        .and_then(|v| v.get("retryable"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    Err(HandlerError {
        message,
        retryable,
        details: parsed.filter(|v| !v.is_null()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use uuid::Uuid;

    fn input(init: Value) -> StepInput {
        StepInput {
            task_uuid: Uuid::from_u128(1),
            step_uuid: Uuid::from_u128(2),
            step_name: "cmd".into(),
            attempt: 2,
            context: json!({"n": 5}),
            parent_results: BTreeMap::from([("up".to_owned(), json!({"value": 1}))]),
            initialization: init,
        }
    }

    fn sh(script: &str) -> Value {
        json!({"program": "sh", "args": ["-c", script]})
    }

    #[tokio::test]
    async fn the_program_reads_the_step_document_and_its_stdout_is_the_result() {
        let out = CommandHandler.call(input(sh("cat"))).await.unwrap();
        assert_eq!(out["step_name"], "cmd");
        assert_eq!(out["attempt"], 2);
        assert_eq!(out["context"]["n"], 5);
        assert_eq!(out["parent_results"]["up"]["value"], 1);
        assert_eq!(out["task_uuid"], Uuid::from_u128(1).to_string());
        assert_eq!(out["initialization"]["program"], "sh");
    }

    #[tokio::test]
    async fn non_zero_exit_is_a_retryable_failure_with_stderr() {
        let err = CommandHandler
            .call(input(sh("echo oops >&2; exit 3")))
            .await
            .unwrap_err();
        assert!(err.retryable);
        assert_eq!(err.message, "`sh` exited with status 3: oops");
    }

    #[tokio::test]
    async fn the_program_can_declare_a_permanent_failure() {
        let script = r#"echo '{"retryable": false, "message": "bad input"}'; exit 1"#;
        let err = CommandHandler.call(input(sh(script))).await.unwrap_err();
        assert!(!err.retryable);
        assert_eq!(err.message, "`sh` exited with status 1: bad input");
    }

    #[tokio::test]
    async fn bad_output_missing_program_and_timeouts_fail() {
        let err = CommandHandler
            .call(input(sh("echo hello")))
            .await
            .unwrap_err();
        assert!(
            !err.retryable && err.message.contains("not JSON"),
            "{err:?}"
        );
        let err = CommandHandler
            .call(input(json!({"program": "/nonexistent/tool"})))
            .await
            .unwrap_err();
        assert!(
            !err.retryable && err.message.contains("cannot start"),
            "{err:?}"
        );
        let err = CommandHandler.call(input(json!({}))).await.unwrap_err();
        assert!(err.message.contains("initialization.program"));
        let mut slow = sh("sleep 5");
        slow["timeout_seconds"] = json!(1);
        let err = CommandHandler.call(input(slow)).await.unwrap_err();
        assert!(
            err.retryable && err.message.contains("timed out after 1 s"),
            "{err:?}"
        );
        let out = CommandHandler
            .call(input(sh("cat >/dev/null")))
            .await
            .unwrap();
        assert_eq!(out, Value::Null);
    }
}
