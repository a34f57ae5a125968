//! `tasker-bench`: reproducible benchmarks of Tasker against real `tasker-server` and
//! `tasker-worker` processes on loopback. Each subcommand prints a table and, with `--json`,
//! writes the same figures as one JSON document. Build everything in release first:
//! `cargo build --release -p tasker-server -p tasker-worker -p tasker-bench`.

mod all;
mod auth_overhead;
mod configs;
mod console_list;
mod dispatch;
mod fanout;
mod floors;
mod http;
mod load;
mod procs;
mod scrape;
mod stats;
mod stores;
mod tasks;
mod throughput;
mod tokens;
mod workflow;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::stores::{DEFAULT_POSTGRES_URL, StoreKind};
use crate::tasks::Shape;

/// Tasker benchmarks.
#[derive(Debug, Parser)]
#[command(name = "tasker-bench", version, about)]
struct Args {
    /// Also write the figures as JSON to this file.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// Smaller sizes and shorter phases (under 15 s per subcommand).
    #[arg(long, global = true)]
    quick: bool,
    /// `worker.prefetch` of the workers started (default: the product's default).
    #[arg(long, global = true)]
    prefetch: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Throughput and latency of one protected route with auth disabled, API key, cached JWT
    /// and cold JWT (a distinct token per request), plus the RSA verification floor.
    AuthOverhead {
        /// Concurrent connections (default 32; 8 with --quick).
        #[arg(long)]
        connections: Option<usize>,
        /// Measured seconds per mode (default 6; 1 with --quick).
        #[arg(long)]
        seconds: Option<f64>,
        /// Rounds the seconds are split over, alternating the modes (default 12; 1 with --quick).
        #[arg(long)]
        rounds: Option<u32>,
    },
    /// Create → complete latency, task-creation round trip and tasks/s of one template.
    Workflow {
        /// Template shape.
        #[arg(long, value_enum, default_value = "linear")]
        shape: Shape,
        /// Backend.
        #[arg(long, value_enum, default_value = "sqlite")]
        store: StoreKind,
        /// Tasks per phase (default 200; 20 with --quick).
        #[arg(long)]
        tasks: Option<usize>,
        /// PostgreSQL server on which a database is created for the run.
        #[arg(long, env = "TASKER_BENCH_DATABASE_URL", default_value = DEFAULT_POSTGRES_URL)]
        database_url: String,
        /// PostgreSQL setting for the created database, `name=value` (repeatable), e.g.
        /// `synchronous_commit=off` to see what commit flushes cost.
        #[arg(long = "pg-set", value_name = "NAME=VALUE")]
        pg_settings: Vec<String>,
    },
    /// Server time of the console's task list page with many tasks stored.
    ConsoleList {
        /// Backend.
        #[arg(long, value_enum, default_value = "sqlite")]
        store: StoreKind,
        /// Tasks stored (default 100000; 5000 with --quick).
        #[arg(long)]
        tasks: Option<usize>,
        /// Requests per page (default 200; 20 with --quick).
        #[arg(long)]
        requests: Option<usize>,
        /// PostgreSQL server on which a database is created for the run.
        #[arg(long, env = "TASKER_BENCH_DATABASE_URL", default_value = DEFAULT_POSTGRES_URL)]
        database_url: String,
    },
    /// Creation-to-completion time of one task fanning out to N batch copies and joining
    /// them (`examples/batch_sum`), with the server's peak RSS.
    Fanout {
        /// Backend.
        #[arg(long, value_enum, default_value = "sqlite")]
        store: StoreKind,
        /// Batch copies (default 10,000; 500 with --quick).
        #[arg(long)]
        copies: Option<usize>,
        /// Steps the embedded worker runs at once (`worker.concurrency`; its default is 8).
        #[arg(long, default_value_t = configs::WORKER_CONCURRENCY)]
        concurrency: usize,
        /// PostgreSQL server on which a database is created for the run.
        #[arg(long, env = "TASKER_BENCH_DATABASE_URL", default_value = DEFAULT_POSTGRES_URL)]
        database_url: String,
        /// PostgreSQL setting for the created database, `name=value` (repeatable).
        #[arg(long = "pg-set", value_name = "NAME=VALUE")]
        pg_settings: Vec<String>,
    },
    /// Steps per second drained by 1, 2, 4… `tasker-worker` processes on PostgreSQL, or by the
    /// embedded worker on SQLite, beside the store's floor.
    Throughput {
        /// Backend (SQLite: the embedded worker; PostgreSQL: `--workers` processes).
        #[arg(long, value_enum, default_value = "postgres")]
        store: StoreKind,
        /// Worker counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        workers: Vec<usize>,
        /// Tasks in each backlog (default 2000; 30 with --quick).
        #[arg(long)]
        tasks: Option<usize>,
        /// PostgreSQL server on which a database is created per worker count.
        #[arg(long, env = "TASKER_BENCH_DATABASE_URL", default_value = DEFAULT_POSTGRES_URL)]
        database_url: String,
        /// PostgreSQL setting for the created database, `name=value` (repeatable), e.g.
        /// `synchronous_commit=off` to see what commit flushes cost.
        #[arg(long = "pg-set", value_name = "NAME=VALUE")]
        pg_settings: Vec<String>,
    },
    /// Dispatch latency (a step ready -> its handler starts), p50/p99, at a steady rate of
    /// linear tasks; without `--rate`, at half of the peak a throughput drain measures first.
    Dispatch {
        /// Backend (SQLite: the embedded worker; PostgreSQL: one `tasker-worker`).
        #[arg(long, value_enum, default_value = "postgres")]
        store: StoreKind,
        /// Steps made ready per second (default: half of the measured peak).
        #[arg(long)]
        rate: Option<f64>,
        /// Seconds of paced load (default 5; 1 with --quick).
        #[arg(long)]
        seconds: Option<f64>,
        /// PostgreSQL server on which a database is created for the run.
        #[arg(long, env = "TASKER_BENCH_DATABASE_URL", default_value = DEFAULT_POSTGRES_URL)]
        database_url: String,
        /// PostgreSQL setting for the created database, `name=value` (repeatable).
        #[arg(long = "pg-set", value_name = "NAME=VALUE")]
        pg_settings: Vec<String>,
    },
    /// The store's floors alone: bare claim+complete rows/s and the single-row commit.
    Floors {
        /// Backend.
        #[arg(long, value_enum, default_value = "sqlite")]
        store: StoreKind,
        /// PostgreSQL server on which a database is created for the run.
        #[arg(long, env = "TASKER_BENCH_DATABASE_URL", default_value = DEFAULT_POSTGRES_URL)]
        database_url: String,
    },
    /// Every benchmark in one run (auth overhead, floors, workflow latency of both shapes and
    /// throughput on both stores), one JSON document with every figure beside its target.
    All {
        /// PostgreSQL server on which databases are created for the run.
        #[arg(long, env = "TASKER_BENCH_DATABASE_URL", default_value = DEFAULT_POSTGRES_URL)]
        database_url: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tasker-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tasker-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    if let Some(prefetch) = args.prefetch {
        configs::set_prefetch(prefetch);
    }
    let doc = match args.command {
        Command::AuthOverhead {
            connections,
            seconds,
            rounds,
        } => {
            let params = auth_overhead::Params::new(connections, seconds, rounds, args.quick);
            auth_overhead::run(&params).await?
        }
        Command::Workflow {
            shape,
            store,
            tasks,
            database_url,
            pg_settings,
        } => {
            let params =
                workflow::Params::new(shape, store, tasks, args.quick, database_url, pg_settings);
            workflow::run(&params).await?
        }
        Command::Fanout {
            store,
            copies,
            concurrency,
            database_url,
            pg_settings,
        } => {
            let params = fanout::Params {
                store,
                copies: copies
                    .unwrap_or(if args.quick { 500 } else { 10_000 })
                    .max(1),
                concurrency: concurrency.max(1),
                database_url,
                pg_settings,
            };
            fanout::run(&params).await?
        }
        Command::ConsoleList {
            store,
            tasks,
            requests,
            database_url,
        } => {
            let params =
                console_list::Params::new(store, tasks, requests, args.quick, database_url);
            console_list::run(&params).await?
        }
        Command::Throughput {
            store,
            workers,
            tasks,
            database_url,
            pg_settings,
        } => {
            let params = throughput::Params::new(
                store,
                workers,
                tasks,
                args.quick,
                database_url,
                pg_settings,
            );
            throughput::run(&params).await?
        }
        Command::Dispatch {
            store,
            rate,
            seconds,
            database_url,
            pg_settings,
        } => {
            let rate = match rate {
                Some(rate) => rate,
                None => {
                    let params = throughput::Params::new(
                        store,
                        vec![1],
                        None,
                        args.quick,
                        database_url.clone(),
                        pg_settings.clone(),
                    );
                    let peak = throughput::peak_steps_per_s(&throughput::run(&params).await?)?;
                    peak / 2.0
                }
            };
            let params = dispatch::Params {
                store,
                rate,
                seconds: seconds.unwrap_or(if args.quick { 1.0 } else { 5.0 }),
                database_url,
                pg_settings,
            };
            dispatch::run(&params).await?
        }
        Command::Floors {
            store,
            database_url,
        } => {
            let params =
                throughput::Params::new(store, vec![1], None, args.quick, database_url, Vec::new());
            let floor = throughput::measure_floor(&params).await?;
            println!("{}", floor.describe(store));
            serde_json::json!({
                "benchmark": "floors",
                "store": store.name(),
                "floor": floor.to_json(),
            })
        }
        Command::All { database_url } => all::run(args.quick, &database_url).await?,
    };
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&doc)?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
