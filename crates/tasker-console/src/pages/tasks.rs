//! The task list (filters, pagination) and a task (facts, context, run DAG and steps, live
//! while the task runs, cancel action).

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use tasker_auth::perm;
use tasker_proto::Permission;
use tasker_proto::api::{StepView, TaskListQuery, TaskStatus, TaskView};
use uuid::Uuid;

use super::{PageResult, UiPath, UiQuery, filled, see_other};
use crate::ConsoleState;
use crate::dag::{Dag, DagNode, svg};
use crate::errors::Refusal;
use crate::form::CsrfForm;
use crate::guard::Viewer;
use crate::layout::{badge, json_block, page, query_escape, when};

/// Tasks per list page.
const PER_PAGE: u64 = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListFilter {
    namespace: Option<String>,
    name: Option<String>,
    status: Option<String>,
    page: Option<u64>,
}

/// `GET /ui/tasks`.
pub(crate) async fn list(
    viewer: Viewer<perm::TasksList>,
    State(s): State<ConsoleState>,
    UiQuery(f): UiQuery<ListFilter>,
) -> PageResult {
    let status = filled(f.status.clone())
        .map(|v| v.parse::<TaskStatus>())
        .transpose()
        .map_err(|e| Refusal::bad_request(format!("status: {e}")))?;
    let query = TaskListQuery {
        namespace: filled(f.namespace.clone()),
        name: filled(f.name.clone()),
        status,
        parent_task_uuid: None,
        page: Some(f.page.unwrap_or(1).max(1)),
        per_page: Some(PER_PAGE),
    };
    let tasks = s.orchestrator.list_tasks(query, &viewer.scope()).await?;
    Ok(page("Tasks", &viewer.nav, list_body(&f, &tasks)))
}

fn list_body(f: &ListFilter, list: &tasker_proto::api::TaskList) -> Markup {
    let p = &list.pagination;
    let link = |page: u64| {
        format!(
            "/ui/tasks?namespace={}&name={}&status={}&page={page}",
            query_escape(f.namespace.as_deref().unwrap_or("")),
            query_escape(f.name.as_deref().unwrap_or("")),
            query_escape(f.status.as_deref().unwrap_or("")),
        )
    };
    html! {
        h1 { "Tasks" }
        form.filters method="get" action="/ui/tasks" role="search" {
            label { "Namespace" input name="namespace" value=(f.namespace.as_deref().unwrap_or("")); }
            label { "Template" input name="name" value=(f.name.as_deref().unwrap_or("")); }
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for st in TaskStatus::ALL {
                        option value=(st.as_str()) selected[f.status.as_deref() == Some(st.as_str())] { (st.as_str()) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        p.muted { (p.total_count) " tasks" }
        table id="tasks" {
            thead { tr { th { "Task" } th { "Namespace" } th { "Version" } th { "Status" } th { "Done" } th { "Created" } th { "By" } } }
            tbody {
                @for t in &list.tasks {
                    tr {
                        td { a href={ "/ui/tasks/" (t.task_uuid) } { (t.name) } br; span.muted { (t.task_uuid) } }
                        td { (t.namespace) } td { (t.version) } td { (badge(&t.status)) }
                        td { (format!("{:.0}%", t.completion_percentage)) }
                        td { (when(&t.created_at)) } td { (t.created_by) }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if p.page > 1 { a href=(link(p.page - 1)) rel="prev" { "← Previous" } }
            span { "Page " (p.page) " of " (p.total_pages.max(1)) }
            @if p.page < p.total_pages { a href=(link(p.page + 1)) rel="next" { "Next →" } }
        }
    }
}

/// `GET /ui/tasks/{task}`.
pub(crate) async fn show(
    viewer: Viewer<perm::TasksRead>,
    State(s): State<ConsoleState>,
    UiPath(task): UiPath<Uuid>,
) -> PageResult {
    let (view, steps) = load(&viewer, &s, task).await?;
    let can_cancel = viewer.can(Permission::TasksCancel, &view.namespace) && !is_final(&view);
    let body = html! {
        h1 { "Task " (view.name) }
        dl.facts {
            dt { "Task" } dd { (view.task_uuid) }
            dt { "Template" } dd { a href={ "/ui/templates/" (view.namespace) "/" (view.name) "/" (view.version) } { (view.namespace) "/" (view.name) " " (view.version) } }
            dt { "Created" } dd { (when(&view.created_at)) " by " (view.created_by) }
            @if let Some(reason) = &view.reason { dt { "Reason" } dd { (reason) } }
            @if !view.tags.is_empty() { dt { "Tags" } dd { (view.tags.join(", ")) } }
        }
        @if can_cancel {
            form.inline method="post" action={ "/ui/tasks/" (view.task_uuid) "/cancel" } {
                input type="hidden" name="csrf" value=(viewer.nav.csrf);
                button type="submit" { "Cancel task" }
            }
        }
        div.live id="live" data-live-src={ "/ui/tasks/" (view.task_uuid) "/live" } aria-live="polite" {
            (run(&view, steps.as_deref()))
        }
        @if let Some(context) = &view.context {
            section.card { h2 { "Context" } (json_block(context)) }
        }
    };
    Ok(page(&format!("Task {}", view.name), &viewer.nav, body))
}

/// `GET /ui/tasks/{task}/live`: the part of the task page that changes while it runs.
pub(crate) async fn live(
    viewer: Viewer<perm::TasksRead>,
    State(s): State<ConsoleState>,
    UiPath(task): UiPath<Uuid>,
) -> PageResult {
    let (view, steps) = load(&viewer, &s, task).await?;
    Ok(run(&view, steps.as_deref()))
}

/// `POST /ui/tasks/{task}/cancel`.
pub(crate) async fn cancel(
    viewer: Viewer<perm::TasksCancel>,
    State(s): State<ConsoleState>,
    UiPath(task): UiPath<Uuid>,
    CsrfForm(_): CsrfForm<HashMap<String, String>>,
) -> Result<Response, Refusal> {
    s.orchestrator
        .cancel_task(task, viewer.subject(), &viewer.scope())
        .await?;
    Ok(see_other(&format!("/ui/tasks/{task}")))
}

/// The task, and its steps when the operator may read them.
async fn load(
    viewer: &Viewer<perm::TasksRead>,
    s: &ConsoleState,
    task: Uuid,
) -> Result<(TaskView, Option<Vec<StepView>>), Refusal> {
    let view = s
        .orchestrator
        .get_task(
            task,
            &viewer.scope(),
            &viewer.scope_of(Permission::TasksContextRead),
        )
        .await?;
    let steps = if viewer.can(Permission::StepsRead, &view.namespace) {
        let scope = viewer.scope_of(Permission::StepsRead);
        Some(s.orchestrator.list_steps(task, &scope).await?)
    } else {
        None
    };
    Ok((view, steps))
}

fn is_final(view: &TaskView) -> bool {
    matches!(view.status.as_str(), "complete" | "error" | "cancelled")
}

/// Status, DAG and step table; marked final once the task can no longer change.
fn run(view: &TaskView, steps: Option<&[StepView]>) -> Markup {
    html! {
        p { "Status: " span id="task-status" data-status=(view.status) { (badge(&view.status)) }
            " · " (format!("{:.0}%", view.completion_percentage)) " of " (view.step_counts.total) " steps done" }
        @if is_final(view) { span data-final="" hidden {} }
        @match steps {
            Some(steps) => {
                section.card {
                    h2 { "Run" }
                    div.dag id="dag" { (svg(&run_dag(view, steps), &format!("Run DAG of task {}", view.name))) }
                }
                table id="steps" {
                    thead { tr { th { "Step" } th { "Status" } th { "Attempts" } th { "Depends on" } } }
                    tbody {
                        @for st in steps {
                            tr {
                                td { a href={ "/ui/tasks/" (view.task_uuid) "/steps/" (st.step_uuid) } { (st.name) } }
                                td { (badge(&st.status)) }
                                td { (st.attempts) " / " (st.max_attempts) }
                                td { (st.depends_on.join(", ")) }
                            }
                        }
                    }
                }
            }
            None => p.muted { "Steps need steps:read in this namespace." }
        }
    }
}

/// The run's DAG: one node per step of the run, edges from its dependencies.
fn run_dag(view: &TaskView, steps: &[StepView]) -> Dag {
    Dag::from_parents(
        steps
            .iter()
            .map(|st| {
                (
                    DagNode {
                        name: st.name.clone(),
                        state: st.status.clone(),
                        href: Some(format!(
                            "/ui/tasks/{}/steps/{}",
                            view.task_uuid, st.step_uuid
                        )),
                    },
                    st.depends_on.clone(),
                )
            })
            .collect(),
    )
}
