//! `tasker-ctl task signal` (approve or reject a waiting approval step) and `task rerun` (run a
//! finished task again from a step, for one task or every task matching a filter, with
//! `--dry-run` and a progress display on stderr).

use std::io::{IsTerminal, Write};

use anyhow::{Result, bail};
use clap::Args;
use serde_json::Value;
use tasker_client::TaskerClient;
use tasker_proto::api::{
    RerunTaskRequest, RerunView, SignalDecision, SignalStepRequest, TaskListQuery, TaskStatus,
};
use uuid::Uuid;

use crate::output::{self, Format, Table};
use crate::remote::Explained as _;
use crate::task_view::show_step;

/// Tasks read per page when collecting a filtered set.
const PAGE: u64 = 100;

#[derive(Debug, Args)]
pub(crate) struct SignalArgs {
    task: Uuid,
    step: Uuid,
    /// Approve: the step completes with `{decision, payload, by}`.
    #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
    approve: bool,
    /// Reject: the step fails permanently, naming you.
    #[arg(long)]
    reject: bool,
    /// Data handed to the dependents (approve) or kept with the error (reject), JSON.
    #[arg(long, value_name = "JSON")]
    payload: Option<String>,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RerunArgs {
    /// The task; or select tasks with --namespace/--name/--status.
    #[arg(required_unless_present_any = ["namespace", "name", "status"],
          conflicts_with_all = ["namespace", "name", "status"])]
    task: Option<Uuid>,
    /// The step to run again, with every step downstream of it.
    #[arg(long)]
    from_step: String,
    /// Every task of this namespace.
    #[arg(long)]
    namespace: Option<String>,
    /// Every task of this template name.
    #[arg(long)]
    name: Option<String>,
    /// Every task in this state (complete, error, blocked_by_failures).
    #[arg(long)]
    status: Option<TaskStatus>,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    reason: Option<String>,
    /// Show what would be reset without changing anything.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) async fn signal(
    args: SignalArgs,
    client: &TaskerClient,
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    let payload = match &args.payload {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("invalid JSON in --payload: {e}"))?,
        None => Value::Object(serde_json::Map::new()),
    };
    let request = SignalStepRequest {
        decision: if args.reject {
            SignalDecision::Reject
        } else {
            SignalDecision::Approve
        },
        payload,
        reason: args.reason,
    };
    let step = client
        .signal_step(args.task, args.step, &request)
        .await
        .explained()?;
    show_step(out, format, &step)
}

pub(crate) async fn rerun(
    args: RerunArgs,
    client: &TaskerClient,
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    let request = RerunTaskRequest {
        from_step: args.from_step.clone(),
        reason: args.reason.clone(),
        dry_run: args.dry_run,
    };
    if let Some(task) = args.task {
        // One task: its refusal is the command's error, explained as the server gave it.
        let view = client.rerun_task(task, &request).await.explained()?;
        return report(out, format, &[view], &[], args.dry_run);
    }
    let tasks = matching(client, &args).await?;
    let mut stderr = std::io::stderr();
    let live = stderr.is_terminal();
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        match client.rerun_task(*task, &request).await.explained() {
            Ok(view) => done.push(view),
            Err(e) => failed.push((*task, e.to_string())),
        }
        progress(&mut stderr, live, i + 1, tasks.len(), failed.len());
    }
    if live && !tasks.is_empty() {
        let _ = writeln!(stderr);
    }
    report(out, format, &done, &failed, args.dry_run)?;
    if !failed.is_empty() {
        bail!("{} of {} reruns failed", failed.len(), tasks.len());
    }
    Ok(())
}

/// Every task matching the filter, all pages.
async fn matching(client: &TaskerClient, args: &RerunArgs) -> Result<Vec<Uuid>> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let query = TaskListQuery {
            namespace: args.namespace.clone(),
            name: args.name.clone(),
            status: args.status,
            page: Some(page),
            per_page: Some(PAGE),
            ..TaskListQuery::default()
        };
        let list = client.list_tasks(&query).await.explained()?;
        out.extend(list.tasks.iter().map(|t| t.task_uuid));
        if page >= list.pagination.total_pages {
            return Ok(out);
        }
        page += 1;
    }
}

/// `rerun 3/10 (1 failed)`: redrawn in place on a terminal, one line each otherwise.
fn progress(err: &mut dyn Write, live: bool, done: usize, total: usize, failed: usize) {
    let mut line = format!("rerun {done}/{total}");
    if failed > 0 {
        line.push_str(&format!(" ({failed} failed)"));
    }
    // Progress is best effort: a closed stderr must not fail the command.
    let _ = if live {
        write!(err, "\r\x1b[2K{line}")
    } else {
        writeln!(err, "{line}")
    };
    let _ = err.flush();
}

fn report(
    out: &mut dyn Write,
    format: Format,
    done: &[RerunView],
    failed: &[(Uuid, String)],
    dry_run: bool,
) -> Result<()> {
    if format == Format::Json {
        let failures: Vec<Value> = failed
            .iter()
            .map(|(t, e)| serde_json::json!({"task_uuid": t, "error": e}))
            .collect();
        return output::json(
            out,
            &serde_json::json!({"reruns": done, "failed": failures, "dry_run": dry_run}),
        );
    }
    let heading = if dry_run { "WOULD_RESET" } else { "RESET" };
    let mut table = Table::new(&["TASK_UUID", "FROM_STEP", heading, "REMOVED", "ERROR"]);
    for view in done {
        table.row(vec![
            view.task_uuid.to_string(),
            view.from_step.clone(),
            output::list(&view.reset_steps),
            output::list(&view.removed_steps),
            String::new(),
        ]);
    }
    for (task, error) in failed {
        table.row(vec![
            task.to_string(),
            String::new(),
            String::new(),
            String::new(),
            error.clone(),
        ]);
    }
    table.write(out, "no matching tasks")
}
