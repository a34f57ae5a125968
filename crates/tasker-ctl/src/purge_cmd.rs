//! `tasker-ctl task purge`: deletes finished tasks older than a given age, with their steps,
//! audit trail, results and resolved DLQ entries, exactly as the server's retention loop does.
//! It opens the database named by the role's configuration (the same loader, files and
//! `DATABASE_URL` as the servers) instead of calling an API: erasing history is a database
//! operator's act, no API permission means it, and it works when no server runs.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::json;
use tasker_config::{DatabaseConfig, Loaded, OrchestrationConfig, WorkerConfig};
use tasker_core::Store;
use tasker_core::store::PurgeCount;

use crate::Context;
use crate::config_cmd::RoleArg;
use crate::output::{self, Format, Table};

/// Arguments of `task purge`.
#[derive(Debug, Args)]
pub(crate) struct PurgeArgs {
    /// Delete tasks that ended longer ago than this: a whole number of days (`30d`) or hours
    /// (`12h`).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    older_than: chrono::Duration,
    /// Count what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// The role whose configuration names the database.
    #[arg(long, value_enum, default_value_t = RoleArg::Orchestration)]
    role: RoleArg,
    /// Tasks deleted per transaction.
    #[arg(long, default_value_t = 100, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch_size: u32,
}

/// `30d` or `12h` as a duration; anything else is a usage error.
fn parse_age(text: &str) -> Result<chrono::Duration, String> {
    let bad = || {
        format!("`{text}` is not an age: write a whole number of days or hours, e.g. 30d or 12h")
    };
    let (digits, hours_per_unit) = if let Some(days) = text.strip_suffix('d') {
        (days, 24)
    } else if let Some(hours) = text.strip_suffix('h') {
        (hours, 1)
    } else {
        return Err(bad());
    };
    if digits.is_empty() || digits.len() > 7 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = digits.parse().map_err(|_| bad())?;
    Ok(chrono::Duration::hours(n * hours_per_unit))
}

/// Runs `task purge` against the database of the configured role.
pub(crate) fn run(
    args: PurgeArgs,
    format: Format,
    context: &Context,
    out: &mut dyn Write,
) -> Result<()> {
    let database = match args.role {
        RoleArg::Orchestration => {
            Loaded::<OrchestrationConfig>::load(&context.options, &context.env)?
                .config
                .database
        }
        RoleArg::Worker => {
            Loaded::<WorkerConfig>::load(&context.options, &context.env)?
                .config
                .database
        }
    };
    let cutoff = Utc::now() - args.older_than;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let counted = runtime.block_on(purge(&database, cutoff, args.dry_run, args.batch_size))?;
    report(out, format, &counted, cutoff, args.dry_run)
}

async fn purge(
    database: &DatabaseConfig,
    cutoff: DateTime<Utc>,
    dry_run: bool,
    batch_size: u32,
) -> Result<PurgeCount> {
    let store = tasker_store::open(database)
        .await
        .with_context(|| format!("cannot open the database {}", database.url.redacted()))?;
    let counted = if dry_run {
        store.purgeable_tasks(cutoff).await
    } else {
        tasker_store::purge_finished(&store, cutoff, batch_size, Duration::ZERO).await
    };
    match counted {
        Ok(counted) => Ok(counted),
        Err(e) => bail!("purging tasks failed: {e}"),
    }
}

fn report(
    out: &mut dyn Write,
    format: Format,
    counted: &PurgeCount,
    cutoff: DateTime<Utc>,
    dry_run: bool,
) -> Result<()> {
    let cutoff_text = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if format == Format::Json {
        return output::json(
            out,
            &json!({"dry_run": dry_run, "finished_before": cutoff_text, "purged": counted}),
        );
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    writeln!(
        out,
        "{verb} {} task{} that ended before {cutoff_text}:",
        counted.tasks,
        if counted.tasks == 1 { "" } else { "s" }
    )?;
    let mut table = Table::new(&["WHAT", "ROWS"]);
    for (what, n) in [
        ("tasks", counted.tasks),
        ("steps", counted.steps),
        ("transitions", counted.transitions),
        ("results", counted.results),
        ("dlq_entries", counted.dlq_entries),
    ] {
        table.row(vec![what.to_owned(), n.to_string()]);
    }
    table.write(out, "")?;
    if dry_run {
        writeln!(out, "dry run: nothing was deleted")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_days_or_hours() {
        assert_eq!(parse_age("30d"), Ok(chrono::Duration::days(30)));
        assert_eq!(parse_age("12h"), Ok(chrono::Duration::hours(12)));
        assert_eq!(parse_age("0d"), Ok(chrono::Duration::zero()));
        for bad in [
            "",
            "d",
            "30",
            "30m",
            "-1d",
            "+1d",
            "1.5d",
            "30 d",
            "99999999d",
            "ä",
            "äd",
        ] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
