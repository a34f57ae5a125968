//! `task create --wait`: polls a task until it ends, reporting progress on stderr — a live bar
//! redrawn in place when stderr is a terminal, one plain line per change otherwise — so stdout
//! keeps only the result.

use std::io::{IsTerminal as _, Write};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use tasker_client::{ClientError, TaskerClient};
use tasker_proto::api::TaskView;

use crate::remote::explain;
use crate::task_view::progress;

/// States after which the task does not move without an operator.
const END_STATES: &[&str] = &[
    "complete",
    "error",
    "cancelled",
    "resolved_manually",
    "blocked_by_failures",
];

const POLL_INTERVAL: Duration = Duration::from_millis(150);

/// Consecutive polls that may fail to reach the server before the wait gives up.
const MAX_MISSED_POLLS: u32 = 20;

const BAR_WIDTH: usize = 24;

/// Follows `task` until it reaches an end state or `timeout` passes; returns the last view.
pub(crate) async fn follow(
    client: &TaskerClient,
    mut task: TaskView,
    timeout: Duration,
) -> Result<TaskView> {
    let stderr = std::io::stderr();
    let mut reporter = Reporter::new(stderr.is_terminal());
    let started = Instant::now();
    let mut missed = 0;
    loop {
        reporter.show(&mut stderr.lock(), &task);
        if END_STATES.contains(&task.status.as_str()) {
            reporter.finish(&mut stderr.lock());
            return Ok(task);
        }
        if started.elapsed() >= timeout {
            reporter.finish(&mut stderr.lock());
            bail!(
                "task {} still {} after {} s ({} steps complete); it keeps running",
                task.task_uuid,
                task.status,
                timeout.as_secs(),
                progress(&task)
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
        match client.get_task(task.task_uuid).await {
            Ok(view) => {
                task = view;
                missed = 0;
            }
            // A dropped connection or a restarting server does not end the wait at once.
            Err(ClientError::Transport { .. }) if missed < MAX_MISSED_POLLS => missed += 1,
            Err(err) => {
                reporter.finish(&mut stderr.lock());
                return Err(explain(err).context(format!(
                    "task {} was created, but following it failed",
                    task.task_uuid
                )));
            }
        }
    }
}

/// Draws progress: in place on a terminal, or one line per change of status or step count.
struct Reporter {
    live: bool,
    last: Option<String>,
    drawn: bool,
}

impl Reporter {
    fn new(live: bool) -> Self {
        Self {
            live,
            last: None,
            drawn: false,
        }
    }

    fn show(&mut self, err: &mut dyn Write, task: &TaskView) {
        let line = if self.live {
            bar_line(task)
        } else {
            format!(
                "task {}: {} ({} steps complete)",
                task.task_uuid,
                task.status,
                progress(task)
            )
        };
        if self.last.as_deref() == Some(line.as_str()) {
            return;
        }
        // Progress is best effort: a closed stderr must not fail the command.
        let _ = if self.live {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
        self.drawn = true;
        self.last = Some(line);
    }

    fn finish(&mut self, err: &mut dyn Write) {
        if self.live && self.drawn {
            let _ = writeln!(err);
            self.drawn = false;
        }
    }
}

/// `[########----------------] 2/4 steps  steps_in_process`
fn bar_line(task: &TaskView) -> String {
    let counts = &task.step_counts;
    let done = counts.complete + counts.resolved_manually;
    let filled = done
        .saturating_mul(BAR_WIDTH as u64)
        .checked_div(counts.total)
        .map_or(0, |n| usize::try_from(n).unwrap_or(BAR_WIDTH))
        .min(BAR_WIDTH);
    let mut line = format!(
        "[{}{}] {}/{} steps  {}",
        "#".repeat(filled),
        "-".repeat(BAR_WIDTH - filled),
        done,
        counts.total,
        task.status
    );
    if counts.error > 0 {
        line.push_str(&format!("  ({} failed)", counts.error));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(status: &str, complete: u64, error: u64, total: u64) -> TaskView {
        serde_json::from_value(json!({
            "task_uuid": "6f1d2c3e-0000-4000-8000-000000000001",
            "namespace": "examples", "name": "diamond_math", "version": "1.0.0",
            "status": status, "context": {}, "created_by": "ops",
            "initiator": null, "source_system": null, "reason": null, "tags": [],
            "priority": 0, "correlation_id": null, "idempotency_key": null,
            "step_counts": {"total": total, "pending": 0, "enqueued": 0, "in_progress": 0,
                "waiting_for_retry": 0, "complete": complete, "error": error,
                "cancelled": 0, "resolved_manually": 0},
            "completion_percentage": 0.0,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "completed_at": null
        }))
        .unwrap()
    }

    #[test]
    fn the_bar_fills_with_finished_steps() {
        assert_eq!(
            bar_line(&task("steps_in_process", 2, 0, 4)),
            "[############------------] 2/4 steps  steps_in_process"
        );
        assert_eq!(
            bar_line(&task("blocked_by_failures", 0, 1, 2)),
            "[------------------------] 0/2 steps  blocked_by_failures  (1 failed)"
        );
    }

    #[test]
    fn plain_lines_only_on_change() {
        let mut reporter = Reporter::new(false);
        let mut err = Vec::new();
        reporter.show(&mut err, &task("pending", 0, 0, 4));
        reporter.show(&mut err, &task("pending", 0, 0, 4));
        reporter.show(&mut err, &task("complete", 4, 0, 4));
        reporter.finish(&mut err);
        let text = String::from_utf8(err).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.ends_with("complete (4/4 steps complete)\n"), "{text}");
    }
}
