//! `tasker-ctl task logs TASK STEP [--attempt N] [--follow]`: a step attempt's log, printed
//! line by line; with `--follow`, each new line as the worker stores it, until the attempt
//! ends. `--format json` prints the whole view, or with `--follow` one JSON object per event.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use serde_json::json;
use tasker_client::{StepLogEvent, TaskerClient};
use uuid::Uuid;

use crate::output::{self, Format};
use crate::remote::Explained as _;

/// The line printed where an attempt's log was cut.
const TRUNCATED: &str =
    "-- step log truncated: the attempt wrote more than the worker keeps (step_log_max_bytes)";

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    task: Uuid,
    step: Uuid,
    /// Attempt number (default: the latest).
    #[arg(long, value_name = "N")]
    attempt: Option<u32>,
    /// Keep printing lines as they are written until the attempt ends.
    #[arg(long)]
    follow: bool,
}

pub(crate) async fn run(
    args: LogsArgs,
    client: &TaskerClient,
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    if !args.follow {
        let view = client
            .step_logs(args.task, args.step, args.attempt)
            .await
            .explained()?;
        if format == Format::Json {
            return output::json(out, &view);
        }
        for line in &view.lines {
            writeln!(out, "{}", line.line)?;
        }
        if view.truncated {
            writeln!(out, "{TRUNCATED}")?;
        }
        return Ok(());
    }
    let mut failed = None;
    let end = client
        .follow_step_logs(args.task, args.step, args.attempt, |event| {
            if failed.is_none()
                && let Err(e) = print_event(out, format, event)
            {
                failed = Some(e);
            }
        })
        .await
        .explained()?;
    if let Some(e) = failed {
        return Err(e);
    }
    if let (Some(end), Format::Table) = (end, format) {
        eprintln!("the attempt ended; the step is {}", end.status);
    }
    Ok(())
}

fn print_event(out: &mut dyn Write, format: Format, event: &StepLogEvent) -> Result<()> {
    // The graph formats are refused before any request; everything but JSON prints lines.
    match (format == Format::Json, event) {
        (false, StepLogEvent::Line(line)) => writeln!(out, "{}", line.line)?,
        (false, StepLogEvent::Truncated) => writeln!(out, "{TRUNCATED}")?,
        (false, StepLogEvent::End(_)) => {}
        (true, StepLogEvent::Line(line)) => {
            writeln!(out, "{}", json!({"event": "line", "line": line}))?;
        }
        (true, StepLogEvent::Truncated) => {
            writeln!(out, "{}", json!({"event": "truncated"}))?;
        }
        (true, StepLogEvent::End(end)) => {
            writeln!(out, "{}", json!({"event": "end", "end": end}))?;
        }
    }
    // Shown as written, also when stdout is a pipe.
    out.flush()?;
    Ok(())
}
