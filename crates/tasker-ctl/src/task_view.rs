//! How tasks, steps and audit trails are printed in the table format (JSON is the server's
//! body as is).

use std::io::Write;

use anyhow::Result;
use tasker_proto::api::{StepView, TaskView, TransitionView};

use crate::output::{self, Format, Table};

/// Complete and total steps, e.g. `3/4`.
pub(crate) fn progress(task: &TaskView) -> String {
    let counts = &task.step_counts;
    format!(
        "{}/{}",
        counts.complete + counts.resolved_manually,
        counts.total
    )
}

pub(crate) fn task_table(out: &mut dyn Write, tasks: &[TaskView]) -> Result<()> {
    let mut table = Table::new(&[
        "TASK_UUID",
        "NAMESPACE",
        "NAME",
        "VERSION",
        "STATUS",
        "STEPS",
        "CREATED_BY",
        "CREATED_AT",
        "COMPLETED_AT",
    ]);
    for task in tasks {
        table.row(vec![
            task.task_uuid.to_string(),
            task.namespace.clone(),
            task.name.clone(),
            task.version.clone(),
            task.status.clone(),
            progress(task),
            task.created_by.clone(),
            output::time(&task.created_at),
            output::maybe_time(task.completed_at.as_ref()),
        ]);
    }
    table.write(out, "no tasks")
}

pub(crate) fn show_task(out: &mut dyn Write, format: Format, task: &TaskView) -> Result<()> {
    if format == Format::Json {
        return output::json(out, task);
    }
    output::fields(
        out,
        &[
            ("task", task.task_uuid.to_string()),
            (
                "template",
                format!("{}/{} {}", task.namespace, task.name, task.version),
            ),
            ("status", task.status.clone()),
            ("steps", step_summary(task)),
            ("created_by", task.created_by.clone()),
            ("initiator", output::text(task.initiator.as_deref())),
            ("reason", output::text(task.reason.as_deref())),
            ("tags", output::list(&task.tags)),
            ("priority", task.priority.to_string()),
            ("context", output::compact(task.context.as_ref())),
            ("created_at", output::time(&task.created_at)),
            ("updated_at", output::time(&task.updated_at)),
            (
                "completed_at",
                output::maybe_time(task.completed_at.as_ref()),
            ),
        ],
    )
}

/// `3/4 complete (75%), 1 error`: finished steps, then every other non-empty state.
fn step_summary(task: &TaskView) -> String {
    let counts = &task.step_counts;
    let mut summary = format!(
        "{} complete ({:.0}%)",
        progress(task),
        task.completion_percentage
    );
    for (count, state) in [
        (counts.pending, "pending"),
        (counts.enqueued, "enqueued"),
        (counts.in_progress, "in progress"),
        (counts.waiting, "waiting"),
        (counts.waiting_for_retry, "waiting for retry"),
        (counts.error, "error"),
        (counts.cancelled, "cancelled"),
        (counts.resolved_manually, "resolved manually"),
    ] {
        if count > 0 {
            summary.push_str(&format!(", {count} {state}"));
        }
    }
    summary
}

pub(crate) fn step_table(out: &mut dyn Write, steps: &[StepView]) -> Result<()> {
    let mut table = Table::new(&[
        "STEP_UUID",
        "NAME",
        "HANDLER",
        "STATUS",
        "ATTEMPTS",
        "DEPENDS_ON",
        "COMPLETED_AT",
    ]);
    for step in steps {
        table.row(vec![
            step.step_uuid.to_string(),
            step.name.clone(),
            handler_or_type(step),
            step.status.clone(),
            format!("{}/{}", step.attempts, step.max_attempts),
            output::list(&step.depends_on),
            output::maybe_time(step.completed_at.as_ref()),
        ]);
    }
    table.write(out, "no steps")
}

pub(crate) fn show_step(out: &mut dyn Write, format: Format, step: &StepView) -> Result<()> {
    if format == Format::Json {
        return output::json(out, step);
    }
    output::fields(
        out,
        &[
            ("step", step.step_uuid.to_string()),
            ("task", step.task_uuid.to_string()),
            ("name", step.name.clone()),
            ("handler", handler_or_type(step)),
            ("status", step.status.clone()),
            (
                "attempts",
                format!("{}/{}", step.attempts, step.max_attempts),
            ),
            ("retryable", step.retryable.to_string()),
            ("depends_on", output::list(&step.depends_on)),
            ("results", output::compact(step.results.as_ref())),
            ("last_error", output::compact(step.last_error.as_ref())),
            ("retry_at", output::maybe_time(step.retry_at.as_ref())),
            ("created_at", output::time(&step.created_at)),
            ("updated_at", output::time(&step.updated_at)),
            (
                "completed_at",
                output::maybe_time(step.completed_at.as_ref()),
            ),
        ],
    )
}

/// The handler, or `(approval)` / `(subtask)` for a waiting step, which has none.
fn handler_or_type(step: &StepView) -> String {
    if step.handler.is_empty() {
        format!("({})", step.step_type)
    } else {
        step.handler.clone()
    }
}

pub(crate) fn audit_table(out: &mut dyn Write, trail: &[TransitionView]) -> Result<()> {
    let mut table = Table::new(&["AT", "FROM", "TO", "ACTOR", "REASON"]);
    for transition in trail {
        table.row(vec![
            output::precise_time(&transition.at),
            output::text(transition.from_state.as_deref()),
            transition.to_state.clone(),
            transition.actor.clone(),
            output::text(transition.reason.as_deref()),
        ]);
    }
    table.write(out, "no transitions")
}
