//! `tasker-ctl system …`: health of either API, execution analytics, and the handlers the
//! registered templates use.

use std::io::Write;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::Value;
use tasker_client::{Api, ClientError, TaskerClient};
use tasker_proto::api::{HandlerNamespace, StepBottleneck};

use crate::output::{self, Format, FormatArg, Table};
use crate::remote::{Explained as _, explain};

/// System commands; `--format` applies to every one of them.
#[derive(Debug, Args)]
pub(crate) struct SystemArgs {
    #[command(flatten)]
    format: FormatArg,
    #[command(subcommand)]
    command: SystemCommand,
}

#[derive(Debug, Subcommand)]
enum SystemCommand {
    /// Health of the orchestration API (or the worker API with --worker); exit 1 unless healthy.
    Health {
        /// Ask the worker API instead.
        #[arg(long)]
        worker: bool,
        /// Include the role's details (worker id, namespaces, handlers, running steps); needs
        /// system:config_read (orchestration) or worker:config_read (worker).
        #[arg(long)]
        detailed: bool,
    },
    /// Task and step performance over the analytics window.
    Analytics {
        /// Show the slowest and the most error-prone steps instead.
        #[arg(long)]
        bottlenecks: bool,
    },
    /// Handlers used by the registered templates, per namespace.
    Handlers { namespace: Option<String> },
}

/// Runs one `system` subcommand.
pub(crate) async fn run(args: SystemArgs, client: TaskerClient, out: &mut dyn Write) -> Result<()> {
    let format = args.format.format.plain()?;
    match args.command {
        SystemCommand::Health { worker, detailed } => {
            let api = if worker {
                Api::Worker
            } else {
                Api::Orchestration
            };
            let answer = if detailed {
                client.health_detailed(api).await
            } else {
                client.health(api).await
            };
            let health = match answer {
                Ok(health) => health,
                // A degraded server answers 503 with its checks, not an error envelope.
                Err(ClientError::Api {
                    status: 503,
                    message,
                    ..
                }) => bail!("not healthy (503): {message}"),
                Err(err) => return Err(explain(err)),
            };
            if format == Format::Json {
                return output::json(out, &health);
            }
            let mut pairs = Vec::new();
            flatten("", &health, &mut pairs);
            // The verdict first, details after.
            pairs.sort_by_key(|(name, _)| name != "status");
            let pairs: Vec<(&str, String)> =
                pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            output::fields(out, &pairs)
        }
        SystemCommand::Analytics { bottlenecks: false } => {
            let view = client.performance().await.explained()?;
            if format == Format::Json {
                return output::json(out, &view);
            }
            let by_status = view
                .tasks_by_status
                .iter()
                .map(|(status, count)| format!("{status}={count}"))
                .collect::<Vec<_>>();
            let millis =
                |ms: Option<f64>| ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1} ms"));
            output::fields(
                out,
                &[
                    ("window", format!("{} h", view.window_hours)),
                    ("tasks_created", view.tasks_created.to_string()),
                    ("tasks_by_status", output::list(&by_status)),
                    ("tasks_completed", view.tasks_completed.to_string()),
                    ("completion_rate", output::percent(view.completion_rate)),
                    ("error_rate", output::percent(view.error_rate)),
                    ("avg_task_duration", millis(view.avg_task_duration_ms)),
                    ("step_attempts", view.step_attempts.to_string()),
                    ("step_failures", view.step_failures.to_string()),
                    ("step_error_rate", output::percent(view.step_error_rate)),
                    ("avg_step_duration", millis(view.avg_step_duration_ms)),
                    (
                        "throughput",
                        format!("{:.2} tasks/h", view.throughput_tasks_per_hour),
                    ),
                ],
            )
        }
        SystemCommand::Analytics { bottlenecks: true } => {
            let view = client.bottlenecks().await.explained()?;
            if format == Format::Json {
                return output::json(out, &view);
            }
            writeln!(out, "slowest steps")?;
            bottleneck_table(out, &view.slowest_steps)?;
            writeln!(out, "\nerror-prone steps")?;
            bottleneck_table(out, &view.error_prone_steps)
        }
        SystemCommand::Handlers { namespace: None } => {
            let namespaces = client.list_handlers().await.explained()?;
            handlers_out(out, format, &namespaces, &namespaces)
        }
        SystemCommand::Handlers {
            namespace: Some(namespace),
        } => {
            let handlers = client.handlers_for(&namespace).await.explained()?;
            handlers_out(out, format, &handlers, std::slice::from_ref(&handlers))
        }
    }
}

/// Prints `raw` as JSON, or `rows` as a table.
fn handlers_out<T: serde::Serialize + ?Sized>(
    out: &mut dyn Write,
    format: Format,
    raw: &T,
    rows: &[HandlerNamespace],
) -> Result<()> {
    if format == Format::Json {
        return output::json(out, raw);
    }
    let mut table = Table::new(&["NAMESPACE", "HANDLERS", "TEMPLATES"]);
    for namespace in rows {
        table.row(vec![
            namespace.namespace.clone(),
            output::list(&namespace.handlers),
            output::list(&namespace.templates),
        ]);
    }
    table.write(out, "no handlers")
}

fn bottleneck_table(out: &mut dyn Write, steps: &[StepBottleneck]) -> Result<()> {
    let mut table = Table::new(&[
        "NAMESPACE",
        "TASK",
        "STEP",
        "EXECUTIONS",
        "FAILURES",
        "ERROR_RATE",
        "AVG_MS",
        "MAX_MS",
    ]);
    for step in steps {
        table.row(vec![
            step.namespace.clone(),
            step.task_name.clone(),
            step.step_name.clone(),
            step.executions.to_string(),
            step.failures.to_string(),
            output::percent(step.error_rate),
            format!("{:.1}", step.avg_duration_ms),
            step.max_duration_ms.to_string(),
        ]);
    }
    table.write(out, "  none")
}

/// Nested objects as dotted `field: value` pairs, in the server's order.
fn flatten(prefix: &str, value: &Value, pairs: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, inner, pairs);
            }
        }
        Value::String(text) => pairs.push((prefix.to_owned(), text.clone())),
        Value::Array(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|item| match item {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .collect();
            pairs.push((prefix.to_owned(), output::list(&items)));
        }
        other => pairs.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn health_flattens_to_dotted_fields() {
        let mut pairs = Vec::new();
        flatten(
            "",
            &json!({"status": "healthy", "checks": {"store": "ok", "jwks": {"loaded": true}}}),
            &mut pairs,
        );
        let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert!(names.contains(&"status"));
        assert!(names.contains(&"checks.store"));
        assert!(names.contains(&"checks.jwks.loaded"));
        let mut pairs = Vec::new();
        flatten(
            "",
            &json!({"handlers": ["a", "b"], "running": []}),
            &mut pairs,
        );
        assert_eq!(
            pairs,
            [
                ("handlers".to_owned(), "a,b".to_owned()),
                ("running".to_owned(), "-".to_owned())
            ]
        );
    }
}
