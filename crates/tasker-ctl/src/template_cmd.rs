//! `tasker-ctl template …`: the templates the orchestration server has registered, and
//! validation of a template file by the server (which registers nothing).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use tasker_client::TaskerClient;

use crate::output::{self, Format, FormatArg, Table};
use crate::remote::Explained as _;

/// Template commands; `--format` applies to every one of them.
#[derive(Debug, Args)]
pub(crate) struct TemplateArgs {
    #[command(flatten)]
    format: FormatArg,
    #[command(subcommand)]
    command: TemplateCommand,
}

#[derive(Debug, Subcommand)]
enum TemplateCommand {
    /// List registered templates.
    List,
    /// Show one template in full.
    Get {
        namespace: String,
        name: String,
        version: String,
    },
    /// Validate a template file (YAML or JSON) with the server; exit 1 when it is invalid.
    Validate { file: PathBuf },
    /// Show a template's DAG with its step types (`--format mermaid|dot|table|json`); the
    /// highest registered version when VERSION is omitted.
    Dag {
        namespace: String,
        name: String,
        version: Option<String>,
    },
}

/// Runs one `template` subcommand.
pub(crate) async fn run(
    args: TemplateArgs,
    client: TaskerClient,
    out: &mut dyn Write,
) -> Result<()> {
    let format = args.format.format;
    if let TemplateCommand::Dag {
        namespace,
        name,
        version,
    } = args.command
    {
        let version = match version {
            Some(v) => v,
            None => latest_version(&client, &namespace, &name).await?,
        };
        let template = client
            .get_template(&namespace, &name, &version)
            .await
            .explained()?;
        let dag = crate::dag_render::template_dag(&template);
        let title = format!("{namespace}/{name} {version}");
        return crate::dag_render::render(out, format, &title, &dag);
    }
    let format = format.plain()?;
    match args.command {
        TemplateCommand::Dag { .. } => Ok(()),
        TemplateCommand::List => {
            let templates = client.list_templates().await.explained()?;
            if format == Format::Json {
                return output::json(out, &templates);
            }
            let mut table = Table::new(&[
                "NAMESPACE",
                "NAME",
                "VERSION",
                "STEPS",
                "INPUT_SCHEMA",
                "DESCRIPTION",
            ]);
            for template in &templates {
                table.row(vec![
                    template.namespace.clone(),
                    template.name.clone(),
                    template.version.clone(),
                    template.steps.len().to_string(),
                    if template.has_input_schema {
                        "yes"
                    } else {
                        "no"
                    }
                    .to_owned(),
                    output::text(template.description.as_deref()),
                ]);
            }
            table.write(out, "no templates")
        }
        TemplateCommand::Get {
            namespace,
            name,
            version,
        } => {
            let template = client
                .get_template(&namespace, &name, &version)
                .await
                .explained()?;
            if format == Format::Json {
                return output::json(out, &template);
            }
            output::fields(
                out,
                &[
                    (
                        "template",
                        format!(
                            "{}/{} {}",
                            template.namespace, template.name, template.version
                        ),
                    ),
                    ("description", output::text(template.description.as_deref())),
                    (
                        "input_schema",
                        output::compact(template.input_schema.as_ref()),
                    ),
                ],
            )?;
            writeln!(out)?;
            let mut table = Table::new(&["STEP", "HANDLER", "DEPENDS_ON", "RETRY"]);
            for step in &template.steps {
                table.row(vec![
                    step.name.clone(),
                    step.handler.callable.clone(),
                    output::list(&step.depends_on),
                    settings(&serde_json::to_value(&step.retry).unwrap_or_default()),
                ]);
            }
            table.write(out, "no steps")
        }
        TemplateCommand::Validate { file } => {
            let document = tasker_config::read_bounded(&file)?;
            let report = client.validate_template(&document).await.explained()?;
            if format == Format::Json {
                output::json(out, &report)?;
            } else if report.valid {
                writeln!(out, "{}: valid", file.display())?;
            } else {
                writeln!(out, "{}: invalid", file.display())?;
                for error in &report.errors {
                    writeln!(out, "  - {}", output::clean(error))?;
                }
            }
            if !report.valid {
                bail!(
                    "{} is not a valid template ({} problem{})",
                    file.display(),
                    report.errors.len(),
                    if report.errors.len() == 1 { "" } else { "s" }
                );
            }
            Ok(())
        }
    }
}

/// `key=value` pairs of an object's set fields (`-` when none), e.g. the retry policy.
fn settings(value: &serde_json::Value) -> String {
    let Some(map) = value.as_object() else {
        return output::compact(Some(value));
    };
    let pairs: Vec<String> = map
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if pairs.is_empty() {
        "-".to_owned()
    } else {
        pairs.join(" ")
    }
}

/// The highest registered version of `namespace/name`.
async fn latest_version(client: &TaskerClient, namespace: &str, name: &str) -> Result<String> {
    let key = |v: &str| -> Vec<u64> {
        v.split(['.', '-', '+'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    client
        .list_templates()
        .await
        .explained()?
        .into_iter()
        .filter(|t| t.namespace == namespace && t.name == name)
        .map(|t| t.version)
        .max_by_key(|v| key(v))
        .ok_or_else(|| anyhow::anyhow!("template {namespace}/{name} not found"))
}
