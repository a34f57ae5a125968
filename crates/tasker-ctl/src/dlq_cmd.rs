//! `tasker-ctl dlq …`: dead-letter queue entries, their investigation and resolution.

use std::io::Write;

use anyhow::Result;
use clap::{ArgGroup, Args, Subcommand};
use tasker_client::TaskerClient;
use tasker_proto::api::{
    DlqEntryView, DlqListQuery, DlqReason, DlqUpdateRequest, ResolutionStatus,
};
use uuid::Uuid;

use crate::output::{self, Format, FormatArg, Table};
use crate::remote::Explained as _;

/// DLQ commands; `--format` applies to every one of them.
#[derive(Debug, Args)]
pub(crate) struct DlqArgs {
    #[command(flatten)]
    format: FormatArg,
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// List entries.
    List(ListArgs),
    /// The entries of one task.
    Get { task: Uuid },
    /// Change an entry's resolution status or notes.
    Update(UpdateArgs),
    /// Entry counts per reason and resolution status.
    Stats,
    /// Pending entries in investigation order (highest priority first).
    Queue,
    /// Tasks waiting long in one state, against the staleness thresholds.
    Staleness,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Resolution status (pending, manually_resolved, permanently_failed, cancelled).
    #[arg(long)]
    status: Option<ResolutionStatus>,
    /// Reason (max_retries_exceeded, staleness_timeout, manual).
    #[arg(long)]
    reason: Option<DlqReason>,
    /// Most entries to show (≤ 100).
    #[arg(long)]
    limit: Option<u64>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").required(true).multiple(true).args(["status", "notes"])))]
struct UpdateArgs {
    /// The entry (`dlq_entry_uuid`).
    entry: Uuid,
    /// New resolution status (pending, manually_resolved, permanently_failed, cancelled).
    #[arg(long)]
    status: Option<ResolutionStatus>,
    /// Replaces the notes.
    #[arg(long)]
    notes: Option<String>,
}

/// Runs one `dlq` subcommand.
pub(crate) async fn run(args: DlqArgs, client: TaskerClient, out: &mut dyn Write) -> Result<()> {
    let format = args.format.format.plain()?;
    match args.command {
        DlqCommand::List(list) => {
            let query = DlqListQuery {
                resolution_status: list.status,
                dlq_reason: list.reason,
                limit: list.limit,
                offset: None,
            };
            let entries = client.list_dlq(&query).await.explained()?;
            entries_out(out, format, &entries)
        }
        DlqCommand::Get { task } => {
            let entries = client.dlq_for_task(task).await.explained()?;
            entries_out(out, format, &entries)
        }
        DlqCommand::Queue => {
            let entries = client.dlq_investigation_queue().await.explained()?;
            entries_out(out, format, &entries)
        }
        DlqCommand::Update(update) => {
            let request = DlqUpdateRequest {
                resolution_status: update.status,
                resolution_notes: update.notes,
            };
            let entry = client
                .update_dlq_entry(update.entry, &request)
                .await
                .explained()?;
            if format == Format::Json {
                return output::json(out, &entry);
            }
            show_entry(out, &entry)
        }
        DlqCommand::Stats => {
            let stats = client.dlq_stats().await.explained()?;
            if format == Format::Json {
                return output::json(out, &stats);
            }
            let mut header = vec!["REASON", "TOTAL"];
            let statuses = ResolutionStatus::ALL;
            let upper: Vec<String> = statuses.iter().map(|s| s.as_str().to_uppercase()).collect();
            header.extend(upper.iter().map(String::as_str));
            let mut table = Table::new(&header);
            for stat in &stats {
                let mut row = vec![stat.dlq_reason.clone(), stat.total.to_string()];
                row.extend(statuses.iter().map(|status| {
                    stat.by_status
                        .get(status.as_str())
                        .copied()
                        .unwrap_or_default()
                        .to_string()
                }));
                table.row(row);
            }
            table.write(out, "no DLQ entries")
        }
        DlqCommand::Staleness => {
            let tasks = client.dlq_staleness().await.explained()?;
            if format == Format::Json {
                return output::json(out, &tasks);
            }
            let mut table = Table::new(&[
                "TASK_UUID",
                "NAMESPACE",
                "NAME",
                "STATUS",
                "SINCE",
                "MINUTES",
                "THRESHOLD",
                "STALE",
            ]);
            for task in &tasks {
                table.row(vec![
                    task.task_uuid.to_string(),
                    task.namespace.clone(),
                    task.name.clone(),
                    task.status.clone(),
                    output::time(&task.status_changed_at),
                    task.minutes_in_state.to_string(),
                    task.threshold_minutes.to_string(),
                    if task.stale { "yes" } else { "no" }.to_owned(),
                ]);
            }
            table.write(out, "no waiting tasks")
        }
    }
}

fn entries_out(out: &mut dyn Write, format: Format, entries: &[DlqEntryView]) -> Result<()> {
    if format == Format::Json {
        return output::json(out, entries);
    }
    let mut table = Table::new(&[
        "DLQ_ENTRY_UUID",
        "TASK_UUID",
        "REASON",
        "STATUS",
        "PRIORITY",
        "CREATED_AT",
        "RESOLVER",
        "NOTES",
    ]);
    for entry in entries {
        table.row(vec![
            entry.dlq_entry_uuid.to_string(),
            entry.task_uuid.to_string(),
            entry.dlq_reason.clone(),
            entry.resolution_status.clone(),
            entry.priority.to_string(),
            output::time(&entry.created_at),
            output::text(entry.resolver.as_deref()),
            output::text(entry.notes.as_deref()),
        ]);
    }
    table.write(out, "no DLQ entries")
}

fn show_entry(out: &mut dyn Write, entry: &DlqEntryView) -> Result<()> {
    output::fields(
        out,
        &[
            ("entry", entry.dlq_entry_uuid.to_string()),
            ("task", entry.task_uuid.to_string()),
            (
                "step",
                entry
                    .step_uuid
                    .map_or_else(|| "-".to_owned(), |s| s.to_string()),
            ),
            ("reason", entry.dlq_reason.clone()),
            ("status", entry.resolution_status.clone()),
            ("priority", entry.priority.to_string()),
            ("notes", output::text(entry.notes.as_deref())),
            ("resolver", output::text(entry.resolver.as_deref())),
            ("created_at", output::time(&entry.created_at)),
            ("updated_at", output::time(&entry.updated_at)),
            (
                "resolved_at",
                output::maybe_time(entry.resolved_at.as_ref()),
            ),
        ],
    )
}
