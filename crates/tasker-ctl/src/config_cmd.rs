//! `tasker-ctl config …`: validate, show (redacted) or write the merged configuration of a
//! role, always through the servers' own loader.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use tasker_config::{
    Loaded, OrchestrationConfig, Role, RoleConfig, WorkerConfig, load_merged_table, redacted_view,
};

use crate::files::{refuse_existing, write_file};
use crate::{Context, toml_value};

/// Configuration commands.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Load and validate a role's configuration exactly as its server would.
    Validate(RoleArgs),
    /// Print a role's effective configuration with every secret redacted.
    Show(ShowArgs),
    /// Write a role's merged (not interpolated) configuration to one file, for
    /// TASKER_CONFIG_PATH or --config.
    Generate(GenerateArgs),
}

/// Which role's configuration.
#[derive(Debug, Args)]
pub(crate) struct RoleArgs {
    /// orchestration (tasker-server) or worker (tasker-worker).
    #[arg(long, value_enum, default_value_t = RoleArg::Orchestration)]
    role: RoleArg,
}

/// Arguments of `config show`.
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    role: RoleArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Toml)]
    format: Format,
}

/// Arguments of `config generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    #[command(flatten)]
    role: RoleArgs,
    /// File to write (mode 0600: it may hold secrets written inline).
    #[arg(long, value_name = "FILE")]
    output: PathBuf,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

/// `--role`: which role's configuration.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    Orchestration,
    Worker,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Orchestration => Role::Orchestration,
            RoleArg::Worker => Role::Worker,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Toml,
    Json,
}

/// Runs one `config` subcommand.
pub(crate) fn run(command: ConfigCommand, context: &Context, out: &mut dyn Write) -> Result<()> {
    match command {
        ConfigCommand::Validate(args) => match args.role {
            RoleArg::Orchestration => validate::<OrchestrationConfig>(context, out),
            RoleArg::Worker => validate::<WorkerConfig>(context, out),
        },
        ConfigCommand::Show(args) => match args.role.role {
            RoleArg::Orchestration => show::<OrchestrationConfig>(context, args.format, out),
            RoleArg::Worker => show::<WorkerConfig>(context, args.format, out),
        },
        ConfigCommand::Generate(args) => generate(context, &args, out),
    }
}

fn load<C: RoleConfig>(context: &Context) -> Result<Loaded<C>> {
    // The loader's errors name file, key and reason, and never a configured value.
    Ok(Loaded::<C>::load(&context.options, &context.env)?)
}

fn validate<C: RoleConfig>(context: &Context, out: &mut dyn Write) -> Result<()> {
    let loaded = load::<C>(context)?;
    writeln!(
        out,
        "OK: {} configuration for environment {} ({})",
        C::ROLE,
        loaded.environment,
        file_list(&loaded.files)
    )?;
    for warning in &loaded.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    Ok(())
}

fn show<C: RoleConfig>(context: &Context, format: Format, out: &mut dyn Write) -> Result<()> {
    let loaded = load::<C>(context)?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    let view = redacted_view(&loaded.config).context("cannot serialize the configuration")?;
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&view.config)?)?,
        Format::Toml => {
            let Some(toml::Value::Table(table)) = toml_value::from_json(&view.config) else {
                bail!("the configuration did not serialize to a table");
            };
            writeln!(
                out,
                "# {} configuration for environment {}, secrets redacted",
                C::ROLE,
                loaded.environment
            )?;
            writeln!(out, "# from: {}", file_list(&loaded.files))?;
            write!(out, "{}", toml::to_string_pretty(&table)?)?;
        }
    }
    Ok(())
}

fn generate(context: &Context, args: &GenerateArgs, out: &mut dyn Write) -> Result<()> {
    let role = Role::from(args.role.role);
    refuse_existing(&[&args.output], args.force)?;
    let (table, files) = load_merged_table(&context.options, role)?;
    let body = toml::to_string_pretty(&table).context("cannot serialize the merged table")?;
    let text = format!(
        "# Merged {role} configuration for environment {}, from: {}\n\
         # ${{VAR}} references are kept. Load with TASKER_CONFIG_PATH=<this file> (or --config)\n\
         # and TASKER_ENV={env} so the environment's own rules apply.\n\n{body}",
        context.options.environment,
        file_list(&files),
        env = context.options.environment,
    );
    write_file(&args.output, text.as_bytes(), 0o600, args.force)?;
    writeln!(
        out,
        "wrote {} ({role}, environment {}, {} file(s) merged)",
        args.output.display(),
        context.options.environment,
        files.len()
    )?;
    Ok(())
}

fn file_list(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|path| Path::display(path).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
