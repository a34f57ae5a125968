//! `tasker-ctl task …`: create (optionally following the task to its end), list and inspect
//! tasks, their steps and audit trails, and the manual step actions (`task purge` is in
//! `purge_cmd`: it works on the database).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use tasker_client::TaskerClient;
use tasker_proto::api::{CreateTaskRequest, StepActionRequest, TaskListQuery, TaskStatus};
use uuid::Uuid;

use crate::output::{self, Format, FormatArg, Table};
use crate::purge_cmd::PurgeArgs;
use crate::remote::Explained as _;
use crate::task_logs::LogsArgs;
use crate::task_view::{audit_table, show_step, show_task, step_table, task_table};
use crate::task_wait;

/// Task commands; `--format` applies to every one of them.
#[derive(Debug, Args)]
pub(crate) struct TaskArgs {
    #[command(flatten)]
    format: FormatArg,
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(Debug, Subcommand)]
enum TaskCommand {
    /// Create a task from a template, optionally waiting until it ends.
    Create(CreateArgs),
    /// List tasks, newest first.
    List(ListArgs),
    /// Show one task.
    Get { task: Uuid },
    /// Cancel a task and its unfinished steps.
    Cancel { task: Uuid },
    /// List a task's steps.
    Steps { task: Uuid },
    /// Show the run's DAG, with the template steps it did not create
    /// (`--format mermaid|dot|table|json`).
    Dag { task: Uuid },
    /// Show one step.
    Step { task: Uuid, step: Uuid },
    /// Show a step's state transitions.
    Audit { task: Uuid, step: Uuid },
    /// Close a step without a result; its dependents proceed.
    ResolveStep {
        task: Uuid,
        step: Uuid,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Close a step with a result its dependents will see.
    CompleteStep {
        task: Uuid,
        step: Uuid,
        /// The result, a JSON value.
        #[arg(long, value_name = "JSON")]
        result: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Run a step again with a fresh attempt budget.
    ResetStep {
        task: Uuid,
        step: Uuid,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Approve or reject a waiting approval step (needs steps:resolve).
    Signal(crate::task_rerun::SignalArgs),
    /// Run finished tasks again from a step: one task, or every task matching
    /// --namespace/--name/--status (with --dry-run).
    Rerun(crate::task_rerun::RerunArgs),
    /// Show a task's inputs and its steps' results.
    Context { task: Uuid },
    /// Print a step attempt's log (its program's stderr lines), optionally following it live.
    Logs(LogsArgs),
    /// Delete finished tasks older than an age, straight from the configured database.
    Purge(PurgeArgs),
}

impl TaskArgs {
    /// `task purge` works on the database, not through the API: its arguments, or the
    /// command back when it is another one.
    pub(crate) fn into_purge(self) -> Result<(PurgeArgs, Format), Box<TaskArgs>> {
        match self.command {
            TaskCommand::Purge(purge) => Ok((purge, self.format.format)),
            command => Err(Box::new(TaskArgs {
                format: self.format,
                command,
            })),
        }
    }
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Template namespace.
    #[arg(long)]
    namespace: String,
    /// Template name.
    #[arg(long)]
    name: String,
    /// Template version (default: the latest).
    #[arg(long)]
    version: Option<String>,
    /// Task inputs, a JSON object.
    #[arg(long, value_name = "JSON", conflicts_with = "context_file")]
    context: Option<String>,
    /// File holding the task inputs as a JSON object.
    #[arg(long, value_name = "PATH")]
    context_file: Option<PathBuf>,
    /// Who or what asks for the task.
    #[arg(long)]
    initiator: Option<String>,
    /// Originating system.
    #[arg(long)]
    source_system: Option<String>,
    /// Why the task runs.
    #[arg(long)]
    reason: Option<String>,
    /// Labels, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    tags: Vec<String>,
    /// Priority (higher is investigated first in the DLQ).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    priority: i32,
    /// Correlation id for tracing across systems.
    #[arg(long)]
    correlation_id: Option<String>,
    /// A repeated key for the same template is refused (the task is not created twice).
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Follow the task until it ends; exit 0 only when it completes.
    #[arg(long)]
    wait: bool,
    /// Longest wait with --wait.
    #[arg(long, default_value_t = 300, value_name = "N", requires = "wait")]
    timeout_seconds: u64,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Template namespace.
    #[arg(long)]
    namespace: Option<String>,
    /// Template name.
    #[arg(long)]
    name: Option<String>,
    /// Task state (pending, steps_in_process, complete, blocked_by_failures, ...).
    #[arg(long)]
    status: Option<TaskStatus>,
    /// Only the child tasks of this task (created by its subtask steps).
    #[arg(long, value_name = "TASK_UUID")]
    parent: Option<Uuid>,
    /// Only tasks carrying this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Only tasks created at or after this instant (RFC 3339, e.g. 2026-12-03T00:00:00Z).
    #[arg(long, value_name = "TIME")]
    created_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Only tasks created before this instant (RFC 3339).
    #[arg(long, value_name = "TIME")]
    created_before: Option<chrono::DateTime<chrono::Utc>>,
    /// 1-based page.
    #[arg(long)]
    page: Option<u64>,
    /// Tasks per page (1–100).
    #[arg(long)]
    per_page: Option<u64>,
}

/// Runs one `task` subcommand.
pub(crate) async fn run(args: TaskArgs, client: TaskerClient, out: &mut dyn Write) -> Result<()> {
    let format = args.format.format;
    if let TaskCommand::Dag { task } = args.command {
        let dag = client.task_dag(task).await.explained()?;
        return crate::dag_render::render(out, format, &format!("task {task}"), &dag);
    }
    let format = format.plain()?;
    match args.command {
        TaskCommand::Dag { .. } => Ok(()),
        TaskCommand::Create(create) => create_task(create, &client, format, out).await,
        TaskCommand::List(list) => {
            let query = TaskListQuery {
                namespace: list.namespace,
                name: list.name,
                status: list.status,
                parent_task_uuid: list.parent,
                tag: list.tag,
                created_after: list.created_after,
                created_before: list.created_before,
                page: list.page,
                per_page: list.per_page,
            };
            let tasks = client.list_tasks(&query).await.explained()?;
            if format == Format::Json {
                return output::json(out, &tasks);
            }
            task_table(out, &tasks.tasks)?;
            let page = tasks.pagination;
            writeln!(
                out,
                "page {} of {} ({} task{}, {} per page)",
                page.page,
                page.total_pages.max(1),
                page.total_count,
                if page.total_count == 1 { "" } else { "s" },
                page.per_page
            )?;
            Ok(())
        }
        TaskCommand::Get { task } => {
            let task = client.get_task(task).await.explained()?;
            show_task(out, format, &task)
        }
        TaskCommand::Cancel { task } => {
            let task = client.cancel_task(task).await.explained()?;
            show_task(out, format, &task)
        }
        TaskCommand::Steps { task } => {
            let steps = client.list_steps(task).await.explained()?;
            match format {
                Format::Json => output::json(out, &steps),
                _ => step_table(out, &steps),
            }
        }
        TaskCommand::Step { task, step } => {
            let step = client.get_step(task, step).await.explained()?;
            show_step(out, format, &step)
        }
        TaskCommand::Audit { task, step } => {
            let trail = client.step_audit(task, step).await.explained()?;
            match format {
                Format::Json => output::json(out, &trail),
                _ => audit_table(out, &trail),
            }
        }
        TaskCommand::ResolveStep { task, step, reason } => {
            let action = StepActionRequest::ResolveManually { reason };
            let step = client.step_action(task, step, &action).await.explained()?;
            show_step(out, format, &step)
        }
        TaskCommand::CompleteStep {
            task,
            step,
            result,
            reason,
        } => {
            let result: Value = serde_json::from_str(&result)
                .map_err(|e| anyhow::anyhow!("invalid JSON in --result: {e}"))?;
            let action = StepActionRequest::CompleteManually { result, reason };
            let step = client.step_action(task, step, &action).await.explained()?;
            show_step(out, format, &step)
        }
        TaskCommand::ResetStep { task, step, reason } => {
            let action = StepActionRequest::ResetForRetry { reason };
            let step = client.step_action(task, step, &action).await.explained()?;
            show_step(out, format, &step)
        }
        TaskCommand::Logs(logs) => crate::task_logs::run(logs, &client, format, out).await,
        TaskCommand::Signal(signal) => {
            crate::task_rerun::signal(signal, &client, format, out).await
        }
        TaskCommand::Rerun(rerun) => crate::task_rerun::rerun(rerun, &client, format, out).await,
        TaskCommand::Purge(_) => bail!("task purge runs on the database, not through the API"),
        TaskCommand::Context { task } => {
            let context = client.task_context(task).await.explained()?;
            if format == Format::Json {
                return output::json(out, &context);
            }
            writeln!(out, "task:     {}", context.task_uuid)?;
            writeln!(out, "context:  {}", context.context)?;
            let mut table = Table::new(&["STEP", "RESULT"]);
            for (step, result) in &context.step_results {
                table.row(vec![step.clone(), result.to_string()]);
            }
            writeln!(out)?;
            table.write(out, "no step results yet")
        }
    }
}

async fn create_task(
    args: CreateArgs,
    client: &TaskerClient,
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    let context = match (&args.context, &args.context_file) {
        (Some(text), _) => parse_context(text, "--context")?,
        (None, Some(path)) => {
            let text = tasker_config::read_bounded(path)?;
            parse_context(&text, &path.display().to_string())?
        }
        (None, None) => Value::Object(serde_json::Map::new()),
    };
    let request = CreateTaskRequest {
        namespace: args.namespace,
        name: args.name,
        version: args.version,
        context,
        initiator: args.initiator,
        source_system: args.source_system,
        reason: args.reason,
        tags: args.tags,
        priority: args.priority,
        correlation_id: args.correlation_id,
        idempotency_key: args.idempotency_key,
    };
    let task = client.create_task(&request).await.explained()?;
    if !args.wait {
        return show_task(out, format, &task);
    }
    let timeout = Duration::from_secs(args.timeout_seconds);
    let outcome = task_wait::follow(client, task, timeout).await?;
    show_task(out, format, &outcome)?;
    if outcome.status == "complete" {
        Ok(())
    } else {
        bail!(
            "task {} ended {} ({} of {} steps complete)",
            outcome.task_uuid,
            outcome.status,
            outcome.step_counts.complete,
            outcome.step_counts.total
        )
    }
}

fn parse_context(text: &str, source: &str) -> Result<Value> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("invalid JSON in {source}: {e}"))?;
    if !value.is_object() {
        bail!("{source} must be a JSON object");
    }
    Ok(value)
}
