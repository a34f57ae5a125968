//! `builtin.command`: runs a program so step handlers can be written in any language.
//!
//! The contract, also documented in `docs/workers.md`:
//! - `initialization`: `program` (required), `args` (strings), `timeout_seconds` (optional; the
//!   step's own timeout still applies, whichever is shorter wins).
//! - stdin: one JSON document `{"task_uuid","step_uuid","step_name","attempt","context",
//!   "parent_results","initialization"}`, then EOF; a batch copy's document adds
//!   `"batch": {"index","count","cursor"}`, and a dependent of a `continue` batch with failed
//!   copies adds `"failed_batches": [index, ...]`.
//! - stdout: the step's result as one JSON value (empty stdout is `null`), at most 1 MiB.
//! - exit 0 is success; exit 75 (`EX_TEMPFAIL`) is a retryable failure; any other exit or a
//!   death by signal is a permanent failure. The tail of stderr (at most 4 KiB) goes into the
//!   error message, and a JSON value on stdout into the error's details. Absolute paths in the
//!   message are shortened to their last component (`host_paths.rs`); the log has them whole.
//! - Every stderr line is also written to the attempt's step log as the program prints it
//!   (capped per attempt by `[worker] step_log_max_bytes`; bytes that are not UTF-8 become
//!   U+FFFD), served by `GET /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/logs`.
//! - The environment is cleared except `PATH`, `HOME` and `LANG`, so the worker's credentials
//!   never reach the program; when the step is traced, `TRACEPARENT` carries the W3C trace
//!   context of the handler's span.
//! - The program runs under a supervisor (`supervisor.rs`) that leads its own process group.
//!   The whole group is killed with SIGKILL when the program exits (background leftovers do not
//!   outlive it), times out, or the attempt is abandoned (step timeout, lost lease, worker
//!   shutdown), and by the supervisor itself when the worker dies (even by SIGKILL).
//! - When the step's task is cancelled the group gets SIGTERM, and SIGKILL once
//!   `[worker] cancel_grace_seconds` have passed without it ending.

use std::io::ErrorKind;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::cancel::Cancellation;
use super::host_paths::without_host_paths;
use super::registry::{HandlerError, StepHandler, StepInput};
use super::step_log::{MAX_LINE_BYTES, StepLog};
use super::supervisor;

/// Warns once that programs run without the supervisor.
static UNSUPERVISED: std::sync::Once = std::sync::Once::new();

/// The exit code that asks for another attempt (`EX_TEMPFAIL` from `sysexits.h`).
pub(crate) const RETRYABLE_EXIT_CODE: i32 = 75;
/// Most bytes of stdout accepted as the result.
const STDOUT_LIMIT: usize = 1024 * 1024;
/// Most bytes of stderr (its tail) kept in the error message.
const STDERR_LIMIT: usize = 4 * 1024;
/// Environment variables passed through to the program; everything else is removed.
const KEPT_ENV: [&str; 3] = ["PATH", "HOME", "LANG"];

pub(crate) struct CommandHandler;

#[async_trait]
impl StepHandler for CommandHandler {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        let spec = Spec::parse(&input.initialization)?;
        let mut document = json!({
            "task_uuid": input.task_uuid,
            "step_uuid": input.step_uuid,
            "step_name": input.step_name,
            "attempt": input.attempt,
            "context": input.context,
            "parent_results": input.parent_results,
            "initialization": input.initialization,
        });
        if let Some(batch) = input.batch {
            document["batch"] = batch;
        }
        if !input.failed_batches.is_empty() {
            document["failed_batches"] = json!(input.failed_batches);
        }
        let mut stdin = document.to_string().into_bytes();
        stdin.push(b'\n');
        spec.run(stdin, &input.log, &input.cancel)
            .await
            .map_err(|mut error| {
                // The stored message is shown to API callers; the log keeps the host paths.
                tracing::warn!(
                    task = %input.task_uuid,
                    step = %input.step_uuid,
                    error = %error.message,
                    "builtin.command failed"
                );
                error.message = without_host_paths(&error.message);
                error
            })
    }
}

/// What `initialization` asks for.
struct Spec {
    program: String,
    args: Vec<String>,
    timeout: Option<u64>,
}

impl Spec {
    fn parse(init: &Value) -> Result<Self, HandlerError> {
        let program = match init.get("program") {
            Some(Value::String(p)) if !p.is_empty() => p.clone(),
            _ => {
                return Err(HandlerError::permanent(
                    "builtin.command: initialization.program must be a non-empty string",
                ));
            }
        };
        let args = match init.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|a| a.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    HandlerError::permanent(
                        "builtin.command: initialization.args must be an array of strings",
                    )
                })?,
            Some(_) => {
                return Err(HandlerError::permanent(
                    "builtin.command: initialization.args must be an array of strings",
                ));
            }
        };
        let timeout = match init.get("timeout_seconds") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(secs) if secs > 0 => Some(secs),
                _ => {
                    return Err(HandlerError::permanent(
                        "builtin.command: initialization.timeout_seconds must be a positive integer",
                    ));
                }
            },
        };
        Ok(Self {
            program,
            args,
            timeout,
        })
    }

    async fn run(
        &self,
        stdin_bytes: Vec<u8>,
        log: &StepLog,
        cancel: &Cancellation,
    ) -> Result<Value, HandlerError> {
        let program = &self.program;
        let path = std::env::var_os("PATH");
        let resolved = supervisor::resolve(program, path.as_deref()).map_err(|e| {
            HandlerError::permanent(format!("builtin.command: cannot start `{program}`: {e}"))
        })?;
        let mut command = match supervisor::supervisor() {
            Some(exe) => {
                let mut command = Command::new(exe);
                command
                    .arg(supervisor::SUPERVISOR_ARG)
                    .arg(std::process::id().to_string())
                    .arg(&resolved);
                command
            }
            None => {
                UNSUPERVISED.call_once(|| {
                    tracing::warn!(
                        "builtin.command runs programs without a supervisor: if this process is killed with SIGKILL they keep running; call tasker_worker::enable_command_supervisor() first in main"
                    );
                });
                Command::new(&resolved)
            }
        };
        command
            .args(&self.args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for name in KEPT_ENV {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        // The handler's span, so the program's own spans join the step's trace.
        if let Some(traceparent) = tasker_telemetry::current_traceparent() {
            command.env("TRACEPARENT", traceparent);
        }
        let mut child = command.spawn().map_err(|e| {
            let message = format!("builtin.command: cannot start `{program}`: {e}");
            // The program was found and is executable; the supervisor's own start failing is
            // the host's problem (e.g. out of processes), worth another attempt.
            match e.kind() {
                ErrorKind::NotFound | ErrorKind::PermissionDenied
                    if supervisor::supervisor().is_none() =>
                {
                    HandlerError::permanent(message)
                }
                _ => HandlerError::retryable(message),
            }
        })?;
        // Dropped on every way out of this function, including the future being dropped.
        let group = ProcessGroup::new(child.id());
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(HandlerError::retryable(format!(
                "builtin.command: `{program}` has no stdio pipes"
            )));
        };
        let feed = async move {
            // A program may exit without reading its input; that is its business.
            let _ = stdin.write_all(&stdin_bytes).await;
            drop(stdin);
            Ok::<_, HandlerError>(())
        };
        let exited = async {
            let status = child.wait().await.map_err(|e| {
                HandlerError::retryable(format!("builtin.command: waiting for `{program}`: {e}"))
            })?;
            // Close the pipes held by anything the program left running in the background;
            // after a SIGTERM the group keeps its grace period (SIGKILL comes with the drop).
            if !cancel.is_cancelled() {
                group.kill();
            }
            Ok(status)
        };
        let all = async {
            tokio::try_join!(
                exited,
                feed,
                read_capped(stdout, program),
                read_tail(stderr, log)
            )
        };
        let all = async {
            tokio::pin!(all);
            tokio::select! {
                done = &mut all => done,
                () = cancel.cancelled() => {
                    group.terminate();
                    all.await
                }
            }
        };
        let (status, (), stdout, stderr) = match self.timeout {
            None => all.await?,
            Some(secs) => tokio::time::timeout(Duration::from_secs(secs), all)
                .await
                .map_err(|_| {
                    HandlerError::retryable(format!(
                        "builtin.command: `{program}` timed out after {secs} s; its process group was killed"
                    ))
                })??,
        };
        interpret(program, status, &stdout, &stderr)
    }
}

/// The program's process group (its id is the program's pid), killed with SIGKILL once: right
/// after the program exits, or when this value is dropped. Killing right after the exit keeps
/// the window in which the id could be reused by an unrelated new group as small as possible.
struct ProcessGroup(AtomicU32);

impl ProcessGroup {
    fn new(pid: Option<u32>) -> Self {
        Self(AtomicU32::new(pid.unwrap_or(0)))
    }

    fn kill(&self) {
        let pgid = i32::try_from(self.0.swap(0, Ordering::SeqCst))
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pgid) = pgid {
            // ESRCH (nobody left in the group) is the common, harmless case.
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
    }
}

impl ProcessGroup {
    /// Asks the group to stop (SIGTERM); the SIGKILL still comes on drop.
    fn terminate(&self) {
        let pgid = i32::try_from(self.0.load(Ordering::SeqCst))
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pgid) = pgid {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::TERM);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads all of stdout, failing (and so ending the attempt) past [`STDOUT_LIMIT`].
async fn read_capped(pipe: impl AsyncRead + Unpin, program: &str) -> Result<Vec<u8>, HandlerError> {
    let mut buf = Vec::new();
    let limit = u64::try_from(STDOUT_LIMIT).unwrap_or(u64::MAX);
    pipe.take(limit + 1)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| {
            HandlerError::retryable(format!("builtin.command: reading `{program}` stdout: {e}"))
        })?;
    if buf.len() > STDOUT_LIMIT {
        return Err(HandlerError::permanent(format!(
            "builtin.command: `{program}` printed more than {} KiB on stdout",
            STDOUT_LIMIT / 1024
        )));
    }
    Ok(buf)
}

/// Stderr drained to the end, keeping its last [`STDERR_LIMIT`] bytes.
struct Tail {
    bytes: Vec<u8>,
    truncated: bool,
}

/// Drains stderr, writing each line to `log` as it arrives and keeping the tail.
async fn read_tail(mut pipe: impl AsyncRead + Unpin, log: &StepLog) -> Result<Tail, HandlerError> {
    let mut tail = Tail {
        bytes: Vec::new(),
        truncated: false,
    };
    let mut lines = Lines::default();
    let mut chunk = [0u8; 8192];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                lines.feed(&chunk[..n], log);
                tail.bytes.extend_from_slice(&chunk[..n]);
                if tail.bytes.len() > 2 * STDERR_LIMIT {
                    let excess = tail.bytes.len() - STDERR_LIMIT;
                    tail.bytes.drain(..excess);
                    tail.truncated = true;
                }
            }
        }
    }
    lines.finish(log);
    if tail.bytes.len() > STDERR_LIMIT {
        let excess = tail.bytes.len() - STDERR_LIMIT;
        tail.bytes.drain(..excess);
        tail.truncated = true;
    }
    Ok(tail)
}

/// Splits a byte stream into lines for the step log. A line longer than the step log's
/// longest line is written in pieces, so the pending bytes stay bounded.
#[derive(Default)]
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    fn feed(&mut self, mut bytes: &[u8], log: &StepLog) {
        while let Some(end) = bytes.iter().position(|b| *b == b'\n') {
            self.pending.extend_from_slice(&bytes[..end]);
            log.bytes(&self.pending);
            self.pending.clear();
            bytes = &bytes[end + 1..];
        }
        self.pending.extend_from_slice(bytes);
        while self.pending.len() > MAX_LINE_BYTES {
            // Cut before a UTF-8 continuation byte rather than through a character.
            let mut cut = MAX_LINE_BYTES;
            while cut > MAX_LINE_BYTES - 4 && self.pending[cut] & 0xC0 == 0x80 {
                cut -= 1;
            }
            let piece: Vec<u8> = self.pending.drain(..cut).collect();
            log.bytes(&piece);
        }
    }

    /// The last line, when the output did not end with a line break.
    fn finish(self, log: &StepLog) {
        if !self.pending.is_empty() {
            log.bytes(&self.pending);
        }
    }
}

fn interpret(
    program: &str,
    status: ExitStatus,
    stdout: &[u8],
    stderr: &Tail,
) -> Result<Value, HandlerError> {
    let text = String::from_utf8_lossy(stdout);
    let text = text.trim();
    let parsed = if text.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_str::<Value>(text)
    };
    if status.success() {
        return parsed.map_err(|e| {
            let preview: String = text.chars().take(200).collect();
            HandlerError::permanent(format!(
                "builtin.command: `{program}` exited 0 but its stdout is not JSON ({e}); stdout begins {preview:?}"
            ))
        });
    }
    let (what, retryable) = match status.code() {
        Some(RETRYABLE_EXIT_CODE) => (
            format!("exited with status {RETRYABLE_EXIT_CODE} (EX_TEMPFAIL, retryable)"),
            true,
        ),
        Some(code) => (format!("exited with status {code}"), false),
        None => (exit_signal(status), false),
    };
    let mut message = format!("builtin.command: `{program}` {what}");
    let err_text = String::from_utf8_lossy(&stderr.bytes);
    let err_text = err_text.trim();
    if !err_text.is_empty() {
        let cut = if stderr.truncated {
            "last 4 KiB of "
        } else {
            ""
        };
        message.push_str(&format!("; {cut}stderr: {err_text}"));
    }
    Err(HandlerError {
        message,
        retryable,
        details: parsed.ok().filter(|v| !v.is_null()),
    })
}

fn exit_signal(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(signal) => format!("was killed by signal {signal}"),
        None => "ended without an exit status".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn tail(text: &str) -> Tail {
        Tail {
            bytes: text.as_bytes().to_vec(),
            truncated: false,
        }
    }

    #[test]
    fn initialization_is_checked() {
        let bad = [
            json!({}),
            json!({"program": ""}),
            json!({"program": "x", "args": "a b"}),
            json!({"program": "x", "args": [1]}),
            json!({"program": "x", "timeout_seconds": 0}),
            json!({"program": "x", "timeout_seconds": "5"}),
        ];
        for init in bad {
            let err = Spec::parse(&init).err().unwrap();
            assert!(!err.retryable, "{init}");
        }
        let spec = Spec::parse(&json!({"program": "x", "args": ["-a"], "timeout_seconds": 3}))
            .ok()
            .unwrap();
        assert_eq!(
            (spec.program.as_str(), spec.args, spec.timeout),
            ("x", vec!["-a".to_owned()], Some(3))
        );
    }

    #[test]
    fn exit_codes_map_to_outcomes() {
        let ok = ExitStatus::from_raw(0);
        assert_eq!(
            interpret("p", ok, b" {\"v\": 1}\n", &tail("")),
            Ok(json!({"v": 1}))
        );
        assert_eq!(interpret("p", ok, b"", &tail("")), Ok(Value::Null));
        let garbage = interpret("p", ok, b"hello", &tail("")).unwrap_err();
        assert!(!garbage.retryable);
        assert!(
            garbage.message.contains("stdout is not JSON"),
            "{garbage:?}"
        );
        assert!(garbage.message.contains("\"hello\""), "{garbage:?}");

        let tempfail =
            interpret("p", ExitStatus::from_raw(75 << 8), b"", &tail("busy")).unwrap_err();
        assert!(tempfail.retryable);
        assert_eq!(
            tempfail.message,
            "builtin.command: `p` exited with status 75 (EX_TEMPFAIL, retryable); stderr: busy"
        );
        let failed = interpret(
            "p",
            ExitStatus::from_raw(2 << 8),
            b"{\"why\": 1}",
            &tail(""),
        )
        .unwrap_err();
        assert!(!failed.retryable);
        assert_eq!(failed.details, Some(json!({"why": 1})));
        let killed = interpret("p", ExitStatus::from_raw(9), b"", &tail("")).unwrap_err();
        assert!(
            !killed.retryable && killed.message.contains("signal 9"),
            "{killed:?}"
        );
    }
}
