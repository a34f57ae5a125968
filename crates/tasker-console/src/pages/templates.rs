//! Registered templates and one template with its DAG and steps.

use axum::extract::State;
use maud::html;
use tasker_auth::perm;

use super::{PageResult, UiPath};
use crate::ConsoleState;
use crate::dag::{Dag, DagNode, svg};
use crate::guard::Viewer;
use crate::layout::{json_block, page};

/// `GET /ui/templates`.
pub(crate) async fn list(
    viewer: Viewer<perm::TemplatesRead>,
    State(s): State<ConsoleState>,
) -> PageResult {
    let templates = s.orchestrator.list_templates(&viewer.scope()).await?;
    let body = html! {
        h1 { "Templates" }
        table id="templates" {
            thead { tr { th { "Template" } th { "Version" } th { "Steps" } th { "Description" } } }
            tbody {
                @for t in &templates {
                    tr {
                        td { a href={ "/ui/templates/" (t.namespace) "/" (t.name) "/" (t.version) } { (t.namespace) "/" (t.name) } }
                        td { (t.version) } td { (t.steps.len()) }
                        td { (t.description.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    };
    Ok(page("Templates", &viewer.nav, body))
}

/// `GET /ui/templates/{namespace}/{name}/{version}`.
pub(crate) async fn show(
    viewer: Viewer<perm::TemplatesRead>,
    State(s): State<ConsoleState>,
    UiPath((namespace, name, version)): UiPath<(String, String, String)>,
) -> PageResult {
    let t = s
        .orchestrator
        .get_template(&namespace, &name, &version, &viewer.scope())
        .await?;
    let dag = Dag::from_parents(
        t.steps
            .iter()
            .map(|st| {
                let node = DagNode::plain(&st.name, "template", None);
                (node, st.depends_on.clone())
            })
            .collect(),
    );
    let body = html! {
        h1 { (t.namespace) "/" (t.name) " " (t.version) }
        @if let Some(d) = &t.description { p { (d) } }
        section.card { h2 { "DAG" } div.dag id="dag" { (svg(&dag, &format!("DAG of template {}", t.name))) } }
        table id="template-steps" {
            thead { tr { th { "Step" } th { "Handler" } th { "Depends on" } th { "Retry" } } }
            tbody {
                @for st in &t.steps {
                    tr {
                        td { (st.name) } td { (st.handler.callable) } td { (st.depends_on.join(", ")) }
                        td { @if st.retry.retryable { "up to " (st.retry.max_attempts.unwrap_or(1)) " attempts" } @else { "no retry" } }
                    }
                }
            }
        }
        @if let Some(schema) = &t.input_schema { section.card { h2 { "Input schema" } (json_block(schema)) } }
    };
    Ok(page(&format!("Template {}", t.name), &viewer.nav, body))
}
