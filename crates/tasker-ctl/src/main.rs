//! `tasker-ctl`, the operator CLI: key pairs, tokens and API keys for authentication, checks
//! of the layered configuration with the servers' own loader, and day-to-day operations
//! (tasks, templates, the DLQ, system state) over the orchestration and worker APIs; purging
//! finished tasks works on the configured database.
//!
//! Exit status: 0 on success, 1 on failure (one line on stderr), 2 on usage errors.

mod api_key;
mod auth_cmd;
mod auth_defaults;
mod config_cmd;
mod dag_render;
mod dlq_cmd;
mod files;
mod keys;
mod output;
mod permissions;
mod purge_cmd;
mod remote;
mod schedule_cmd;
mod system_cmd;
mod task_cmd;
mod task_logs;
mod task_rerun;
mod task_view;
mod task_wait;
mod template_cmd;
mod token;
mod toml_value;
mod verify;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tasker_config::{Env, LoadOptions};

/// Tasker operator CLI.
#[derive(Debug, Parser)]
#[command(name = "tasker-ctl", version, about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(flatten)]
    remote: remote::RemoteArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where configuration is read from; each flag overrides its environment variable.
#[derive(Debug, clap::Args)]
struct GlobalArgs {
    /// Configuration root holding base/ and environments/ [env: TASKER_CONFIG_ROOT]
    #[arg(long, global = true, value_name = "PATH")]
    config_root: Option<PathBuf>,
    /// Environment name [env: TASKER_ENV; default: development]
    #[arg(long = "env", global = true, value_name = "NAME")]
    environment: Option<String>,
    /// One already-merged configuration file instead of the layers [env: TASKER_CONFIG_PATH]
    #[arg(long = "config", global = true, value_name = "FILE")]
    config_path: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Key pairs, tokens, API keys and the permission vocabulary.
    #[command(subcommand)]
    Auth(auth_cmd::AuthCommand),
    /// Validate, show or write the merged configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Create, follow and inspect tasks; resolve, complete or retry their steps.
    Task(task_cmd::TaskArgs),
    /// Registered templates, and validation of a template file.
    Template(template_cmd::TemplateArgs),
    /// Dead-letter queue entries: list, inspect, resolve, stats.
    Dlq(dlq_cmd::DlqArgs),
    /// Health, analytics and handlers.
    System(system_cmd::SystemArgs),
    /// Cron-triggered tasks: create, list, change, pause, resume, trigger, runs, next times.
    Schedule(schedule_cmd::ScheduleArgs),
}

/// What every command may need from its surroundings: the configuration sources and the
/// process environment, captured once in `main`.
#[derive(Debug)]
struct Context {
    options: LoadOptions,
    env: Env,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version exit 0, usage errors exit 2.
        Err(err) => err.exit(),
    };
    let env = Env::from_process();
    let options = LoadOptions::from_env(&env).with_flags(
        cli.global.config_root,
        cli.global.environment,
        cli.global.config_path,
    );
    let context = Context { options, env };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Command::Auth(command) => auth_cmd::run(command, &context, &mut out),
        Command::Config(command) => config_cmd::run(command, &context, &mut out),
        Command::Task(args) => match args.into_purge() {
            Ok((purge, format)) => purge_cmd::run(purge, format, &context, &mut out),
            Err(args) => remote::run(&cli.remote, |client| task_cmd::run(*args, client, &mut out)),
        },
        Command::Template(args) => remote::run(&cli.remote, |client| {
            template_cmd::run(args, client, &mut out)
        }),
        Command::Dlq(args) => {
            remote::run(&cli.remote, |client| dlq_cmd::run(args, client, &mut out))
        }
        Command::System(args) => remote::run(&cli.remote, |client| {
            system_cmd::run(args, client, &mut out)
        }),
        Command::Schedule(args) => remote::run(&cli.remote, |client| {
            schedule_cmd::run(args, client, &mut out)
        }),
    }
    .and_then(|()| Ok(out.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing left to say to it.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line. Causes whose text the message already quotes (many
/// errors embed their source) are not repeated.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_hold_each_cause_once() {
        let missing = tasker_config::read_bounded("/nonexistent/a.toml").unwrap_err();
        let err = anyhow::Error::new(tasker_config::ConfigError::from(missing))
            .context("loading\nconfiguration");
        assert_eq!(
            one_line(&err),
            "loading configuration: cannot read /nonexistent/a.toml: No such file or directory (os error 2)"
        );
    }
}
