//! `tasker-ctl schedule …`: cron-triggered tasks — create, list, inspect, change, pause,
//! resume, delete, trigger, their runs and their next fire times.

use std::io::Write;

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;
use tasker_client::TaskerClient;
use tasker_proto::api::{
    CreateScheduleRequest, ScheduleCatchup, ScheduleListQuery, ScheduleOverlap, ScheduleQuery,
    ScheduleRunsQuery, ScheduleView, UpdateScheduleRequest,
};
use uuid::Uuid;

use crate::output::{self, Format, FormatArg, Table};
use crate::remote::Explained as _;

/// Schedule commands; `--format` applies to every one of them.
#[derive(Debug, Args)]
pub(crate) struct ScheduleArgs {
    #[command(flatten)]
    format: FormatArg,
    #[command(subcommand)]
    command: ScheduleCommand,
}

#[derive(Debug, Subcommand)]
enum ScheduleCommand {
    /// Create a schedule firing tasks of a template.
    Create(CreateArgs),
    /// List schedules.
    List {
        /// Template namespace.
        #[arg(long)]
        namespace: Option<String>,
        /// Template name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Show one schedule.
    Get { schedule: Uuid },
    /// Change a schedule.
    Update(UpdateArgs),
    /// Stop a schedule from firing.
    Pause { schedule: Uuid },
    /// Let a paused schedule fire again, from its next fire time on.
    Resume { schedule: Uuid },
    /// Delete a schedule and its runs (the tasks it fired stay).
    Delete { schedule: Uuid },
    /// Fire a schedule now.
    Trigger { schedule: Uuid },
    /// Runs of a schedule, newest first.
    Runs {
        schedule: Uuid,
        /// Most runs to show (≤ 100).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// The next fire times of a schedule.
    Next {
        schedule: Uuid,
        /// How many (≤ 100).
        #[arg(long, default_value_t = 5)]
        count: u32,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OverlapArg {
    Allow,
    Skip,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CatchupArg {
    None,
    Latest,
    All,
}

impl From<OverlapArg> for ScheduleOverlap {
    fn from(o: OverlapArg) -> Self {
        match o {
            OverlapArg::Allow => ScheduleOverlap::Allow,
            OverlapArg::Skip => ScheduleOverlap::Skip,
        }
    }
}

impl From<CatchupArg> for ScheduleCatchup {
    fn from(c: CatchupArg) -> Self {
        match c {
            CatchupArg::None => ScheduleCatchup::None,
            CatchupArg::Latest => ScheduleCatchup::Latest,
            CatchupArg::All => ScheduleCatchup::All,
        }
    }
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Template namespace.
    namespace: String,
    /// Template name.
    name: String,
    /// Cron expression (5 fields, 6 with seconds, or @hourly, @daily, …).
    #[arg(long)]
    cron: String,
    /// IANA timezone (default UTC).
    #[arg(long, default_value = "UTC")]
    timezone: String,
    /// Template version (default: the latest at each fire).
    #[arg(long)]
    version: Option<String>,
    /// Context of every fired task, as a JSON object.
    #[arg(long, default_value = "{}")]
    context: String,
    /// While the previous task is unfinished: allow or skip.
    #[arg(long, value_enum, default_value = "allow")]
    overlap: OverlapArg,
    /// Missed fire times: latest, all or none.
    #[arg(long, value_enum, default_value = "latest")]
    catchup: CatchupArg,
    /// Create it paused.
    #[arg(long)]
    paused: bool,
    /// Free text.
    #[arg(long)]
    description: Option<String>,
}

#[derive(Debug, Args)]
struct UpdateArgs {
    schedule: Uuid,
    /// Cron expression.
    #[arg(long)]
    cron: Option<String>,
    /// IANA timezone.
    #[arg(long)]
    timezone: Option<String>,
    /// Template version.
    #[arg(long)]
    version: Option<String>,
    /// Context, as a JSON object.
    #[arg(long)]
    context: Option<String>,
    /// allow or skip.
    #[arg(long, value_enum)]
    overlap: Option<OverlapArg>,
    /// latest, all or none.
    #[arg(long, value_enum)]
    catchup: Option<CatchupArg>,
    /// Free text.
    #[arg(long)]
    description: Option<String>,
}

fn context(text: &str) -> Result<Value> {
    serde_json::from_str(text).context("--context is not valid JSON")
}

/// Runs one `schedule` subcommand.
pub(crate) async fn run(
    args: ScheduleArgs,
    client: TaskerClient,
    out: &mut dyn Write,
) -> Result<()> {
    let format = args.format.format;
    let paused = |paused| UpdateScheduleRequest {
        paused: Some(paused),
        ..Default::default()
    };
    let schedule = match args.command {
        ScheduleCommand::Create(c) => {
            let request = CreateScheduleRequest {
                namespace: c.namespace,
                name: c.name,
                version: c.version,
                cron: c.cron,
                timezone: c.timezone,
                context: context(&c.context)?,
                overlap: c.overlap.into(),
                catchup: c.catchup.into(),
                paused: c.paused,
                description: c.description,
            };
            client.create_schedule(&request).await.explained()?
        }
        ScheduleCommand::List { namespace, name } => {
            let query = ScheduleListQuery { namespace, name };
            let schedules = client.list_schedules(&query).await.explained()?;
            return list_out(out, format, &schedules);
        }
        ScheduleCommand::Get { schedule } => client
            .get_schedule(schedule, &ScheduleQuery::default())
            .await
            .explained()?,
        ScheduleCommand::Update(u) => {
            let request = UpdateScheduleRequest {
                version: u.version,
                cron: u.cron,
                timezone: u.timezone,
                context: u.context.as_deref().map(context).transpose()?,
                overlap: u.overlap.map(Into::into),
                catchup: u.catchup.map(Into::into),
                paused: None,
                description: u.description,
            };
            client
                .update_schedule(u.schedule, &request)
                .await
                .explained()?
        }
        ScheduleCommand::Pause { schedule } => client
            .update_schedule(schedule, &paused(true))
            .await
            .explained()?,
        ScheduleCommand::Resume { schedule } => client
            .update_schedule(schedule, &paused(false))
            .await
            .explained()?,
        ScheduleCommand::Delete { schedule } => {
            client.delete_schedule(schedule).await.explained()?
        }
        ScheduleCommand::Trigger { schedule } => {
            let task = client.trigger_schedule(schedule).await.explained()?;
            if format == Format::Json {
                return output::json(out, &task);
            }
            return output::fields(
                out,
                &[
                    ("task", task.task_uuid.to_string()),
                    ("status", task.status.clone()),
                    (
                        "scheduled_for",
                        output::maybe_time(task.scheduled_for.as_ref()),
                    ),
                ],
            );
        }
        ScheduleCommand::Runs { schedule, limit } => {
            let runs = client
                .schedule_runs(schedule, &ScheduleRunsQuery { limit })
                .await
                .explained()?;
            if format == Format::Json {
                return output::json(out, &runs);
            }
            let mut table = Table::new(&["SCHEDULED_FOR", "RESULT", "TASK_UUID", "TASK_STATUS"]);
            for run in &runs {
                table.row(vec![
                    output::time(&run.scheduled_for),
                    run.result.clone(),
                    run.task_uuid
                        .map_or_else(|| "-".to_owned(), |t| t.to_string()),
                    output::text(run.task_status.as_deref()),
                ]);
            }
            return table.write(out, "no runs");
        }
        ScheduleCommand::Next { schedule, count } => {
            let query = ScheduleQuery {
                upcoming: Some(count),
            };
            let view = client.get_schedule(schedule, &query).await.explained()?;
            if format == Format::Json {
                return output::json(out, &view.upcoming);
            }
            for at in &view.upcoming {
                writeln!(out, "{}", output::time(at))?;
            }
            return Ok(());
        }
    };
    if format == Format::Json {
        return output::json(out, &schedule);
    }
    show(out, &schedule)
}

fn list_out(out: &mut dyn Write, format: Format, schedules: &[ScheduleView]) -> Result<()> {
    if format == Format::Json {
        return output::json(out, schedules);
    }
    let mut table = Table::new(&[
        "SCHEDULE_UUID",
        "NAMESPACE",
        "NAME",
        "CRON",
        "TIMEZONE",
        "PAUSED",
        "NEXT_FIRE_AT",
        "SOURCE",
    ]);
    for s in schedules {
        table.row(vec![
            s.schedule_uuid.to_string(),
            s.namespace.clone(),
            s.name.clone(),
            s.cron.clone(),
            s.timezone.clone(),
            if s.paused { "yes" } else { "no" }.to_owned(),
            output::maybe_time(s.next_fire_at.as_ref()),
            s.source.clone(),
        ]);
    }
    table.write(out, "no schedules")
}

fn show(out: &mut dyn Write, s: &ScheduleView) -> Result<()> {
    output::fields(
        out,
        &[
            ("schedule", s.schedule_uuid.to_string()),
            ("template", format!("{}/{}", s.namespace, s.name)),
            ("version", output::text(s.version.as_deref())),
            ("cron", s.cron.clone()),
            ("timezone", s.timezone.clone()),
            ("context", output::compact(Some(&s.context))),
            ("overlap", snake(&s.overlap)),
            ("catchup", snake(&s.catchup)),
            ("paused", if s.paused { "yes" } else { "no" }.to_owned()),
            ("description", output::text(s.description.as_deref())),
            ("source", s.source.clone()),
            ("created_by", s.created_by.clone()),
            ("next_fire_at", output::maybe_time(s.next_fire_at.as_ref())),
            (
                "last_fired_at",
                output::maybe_time(s.last_fired_at.as_ref()),
            ),
            (
                "last_task",
                s.last_task_uuid
                    .map_or_else(|| "-".to_owned(), |t| t.to_string()),
            ),
        ],
    )
}

/// The snake_case wire name of a policy.
fn snake<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => "-".to_owned(),
    }
}
