//! Rendering a DAG (a task's run or a template) as Mermaid, Graphviz DOT or a table, for
//! `tasker-ctl task dag` and `tasker-ctl template dag`.

use std::io::Write;

use anyhow::Result;
use tasker_proto::api::{DagEdge, DagNode, DagView, TemplateView};

use crate::output::{Format, Table};

/// Status given to template nodes (a template has no run).
const TEMPLATE_STATUS: &str = "template";

/// The DAG of a template: every step, with its type; edges from `depends_on`.
pub(crate) fn template_dag(t: &TemplateView) -> DagView {
    let branches: Vec<&str> = t
        .steps
        .iter()
        .flat_map(|s| s.branches.iter().map(String::as_str))
        .collect();
    DagView {
        nodes: t
            .steps
            .iter()
            .map(|s| DagNode {
                name: s.name.clone(),
                step_uuid: None,
                step_type: s.step_type.clone(),
                status: TEMPLATE_STATUS.to_owned(),
                origin: if s.step_type == "batch_worker" {
                    "batch"
                } else if branches.contains(&s.name.as_str()) {
                    "decision"
                } else {
                    "template"
                }
                .to_owned(),
                batch_index: None,
            })
            .collect(),
        edges: t
            .steps
            .iter()
            .flat_map(|s| {
                s.depends_on.iter().map(|p| DagEdge {
                    from: p.clone(),
                    to: s.name.clone(),
                })
            })
            .collect(),
    }
}

/// Writes `dag` in `format` (`json` is the server's body as it is).
pub(crate) fn render(
    out: &mut dyn Write,
    format: Format,
    title: &str,
    dag: &DagView,
) -> Result<()> {
    match format {
        Format::Mermaid => mermaid(out, dag),
        Format::Dot => dot(out, title, dag),
        Format::Json => crate::output::json(out, dag),
        Format::Table => table(out, dag),
    }
}

fn label(n: &DagNode) -> String {
    let mut parts = vec![n.name.clone()];
    if n.step_type != "standard" {
        parts.push(n.step_type.clone());
    }
    if n.status != TEMPLATE_STATUS {
        parts.push(n.status.clone());
    }
    parts.join(" · ")
}

fn node_id(dag: &DagView, name: &str) -> String {
    match dag.nodes.iter().position(|n| n.name == name) {
        Some(i) => format!("n{i}"),
        None => format!(
            "n_{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ),
    }
}

fn mermaid(out: &mut dyn Write, dag: &DagView) -> Result<()> {
    writeln!(out, "flowchart TD")?;
    for (i, n) in dag.nodes.iter().enumerate() {
        let text = label(n).replace('"', "#quot;");
        let shape = match n.step_type.as_str() {
            "decision" => format!("n{i}{{\"{text}\"}}"),
            "deferred_convergence" => format!("n{i}((\"{text}\"))"),
            "batchable" | "batch_worker" => format!("n{i}[[\"{text}\"]]"),
            _ => format!("n{i}[\"{text}\"]"),
        };
        writeln!(out, "    {shape}")?;
    }
    for e in &dag.edges {
        writeln!(
            out,
            "    {} --> {}",
            node_id(dag, &e.from),
            node_id(dag, &e.to)
        )?;
    }
    let skipped: Vec<String> = dag
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.status == "not_created")
        .map(|(i, _)| format!("n{i}"))
        .collect();
    if !skipped.is_empty() {
        writeln!(
            out,
            "    classDef not_created stroke-dasharray: 5 5,color:#888"
        )?;
        writeln!(out, "    class {} not_created", skipped.join(","))?;
    }
    Ok(())
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn dot(out: &mut dyn Write, title: &str, dag: &DagView) -> Result<()> {
    writeln!(out, "digraph {} {{", quoted(title))?;
    writeln!(out, "    rankdir=TB;")?;
    for n in &dag.nodes {
        let shape = match n.step_type.as_str() {
            "decision" => "diamond",
            "deferred_convergence" => "circle",
            "batchable" | "batch_worker" => "box3d",
            _ => "box",
        };
        let style = if n.status == "not_created" {
            ", style=dashed"
        } else {
            ""
        };
        writeln!(
            out,
            "    {} [label={}, shape={shape}{style}];",
            quoted(&n.name),
            quoted(&label(n))
        )?;
    }
    for e in &dag.edges {
        writeln!(out, "    {} -> {};", quoted(&e.from), quoted(&e.to))?;
    }
    writeln!(out, "}}")?;
    Ok(())
}

fn table(out: &mut dyn Write, dag: &DagView) -> Result<()> {
    let mut t = Table::new(&[
        "NAME",
        "TYPE",
        "STATUS",
        "ORIGIN",
        "BATCH",
        "PARENTS",
        "STEP_UUID",
    ]);
    for n in &dag.nodes {
        let parents: Vec<&str> = dag
            .edges
            .iter()
            .filter(|e| e.to == n.name)
            .map(|e| e.from.as_str())
            .collect();
        let parents = if parents.len() > 4 {
            format!("{} (+{} more)", parents[..3].join(","), parents.len() - 3)
        } else {
            parents.join(",")
        };
        t.row(vec![
            n.name.clone(),
            n.step_type.clone(),
            n.status.clone(),
            n.origin.clone(),
            n.batch_index.map(|i| i.to_string()).unwrap_or_default(),
            parents,
            n.step_uuid.map(|u| u.to_string()).unwrap_or_default(),
        ]);
    }
    t.write(out, "no steps")
}
