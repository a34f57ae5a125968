//! The task list (filters, pagination) and a task (facts, context, run DAG and steps, live
//! while the task runs, cancel action until it has ended).

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use tasker_auth::perm;
use tasker_proto::Permission;
use tasker_proto::api::{DagView, StepView, TaskListQuery, TaskStatus, TaskView};
use uuid::Uuid;

use super::{PageResult, UiPath, UiQuery, filled, see_other};
use crate::ConsoleState;
use crate::dag::svg;
use crate::errors::Refusal;
use crate::form::CsrfForm;
use crate::guard::Viewer;
use crate::layout::{badge, json_block, page, query_escape, when};
use crate::run_dag;

/// Tasks per list page.
const PER_PAGE: u64 = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListFilter {
    namespace: Option<String>,
    name: Option<String>,
    status: Option<String>,
    tag: Option<String>,
    /// `datetime-local` input (read as UTC) or RFC 3339.
    created_after: Option<String>,
    created_before: Option<String>,
    page: Option<u64>,
}

/// A time filter: RFC 3339, or the `YYYY-MM-DDTHH:MM[:SS]` of a `datetime-local` input or a
/// bare date, read as UTC.
fn filter_time(field: &str, value: Option<&String>) -> Result<Option<DateTime<Utc>>, Refusal> {
    let Some(text) = filled(value.cloned()) else {
        return Ok(None);
    };
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .map(|naive| Some(naive.and_utc()))
        .ok_or_else(|| {
            Refusal::bad_request(format!(
                "{field}: expected a time such as 2026-12-03T09:30 (UTC) or RFC 3339"
            ))
        })
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
        tag: filled(f.tag.clone()),
        created_after: filter_time("created after", f.created_after.as_ref())?,
        created_before: filter_time("created before", f.created_before.as_ref())?,
        page: Some(f.page.unwrap_or(1).max(1)),
        per_page: Some(PER_PAGE),
        ..TaskListQuery::default()
    };
    let tasks = s.orchestrator.list_tasks(query, &viewer.scope()).await?;
    Ok(page("Tasks", &viewer.nav, list_body(&f, &tasks)))
}

fn list_body(f: &ListFilter, list: &tasker_proto::api::TaskList) -> Markup {
    let p = &list.pagination;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let link = |page: u64| {
        let params = [
            ("namespace", &f.namespace),
            ("name", &f.name),
            ("status", &f.status),
            ("tag", &f.tag),
            ("created_after", &f.created_after),
            ("created_before", &f.created_before),
        ];
        let mut url = String::from("/ui/tasks?");
        for (key, value) in params {
            url.push_str(&format!("{key}={}&", query_escape(&text(value))));
        }
        url.push_str(&format!("page={page}"));
        url
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
            label { "Tag" input name="tag" value=(text(&f.tag)); }
            label { "Created after (UTC)" input type="datetime-local" name="created_after" value=(text(&f.created_after)); }
            label { "Created before (UTC)" input type="datetime-local" name="created_before" value=(text(&f.created_before)); }
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

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RunQuery {
    /// The batch worker whose copies are drawn one by one.
    expand: Option<String>,
}

/// `GET /ui/tasks/{task}`.
pub(crate) async fn show(
    viewer: Viewer<perm::TasksRead>,
    State(s): State<ConsoleState>,
    UiPath(task): UiPath<Uuid>,
    UiQuery(q): UiQuery<RunQuery>,
) -> PageResult {
    let run = load(&viewer, &s, task, q.expand).await?;
    let view = &run.view;
    let live = match &run.expand {
        Some(worker) => format!(
            "/ui/tasks/{}/live?expand={}",
            view.task_uuid,
            query_escape(worker)
        ),
        None => format!("/ui/tasks/{}/live", view.task_uuid),
    };
    let body = html! {
        h1 { "Task " (view.name) }
        dl.facts {
            dt { "Task" } dd { (view.task_uuid) }
            dt { "Template" } dd { a href={ "/ui/templates/" (view.namespace) "/" (view.name) "/" (view.version) } { (view.namespace) "/" (view.name) " " (view.version) } }
            dt { "Created" } dd { (when(&view.created_at)) " by " (view.created_by) }
            @if let Some(reason) = &view.reason { dt { "Reason" } dd { (reason) } }
            @if !view.tags.is_empty() { dt { "Tags" } dd { (view.tags.join(", ")) } }
        }
        div.live id="live" data-live-src=(live) aria-live="polite" {
            (run_part(&run))
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
    UiQuery(q): UiQuery<RunQuery>,
) -> PageResult {
    let run = load(&viewer, &s, task, q.expand).await?;
    Ok(run_part(&run))
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

/// What the changing part of a task page shows.
struct Run {
    view: TaskView,
    /// Its steps and its run DAG, when the operator may read steps.
    steps: Option<(Vec<StepView>, DagView)>,
    /// The batch drawn copy by copy.
    expand: Option<String>,
    /// The CSRF token for the cancel form, when the operator may cancel the task.
    cancel: Option<String>,
}

/// The task, and its steps and run DAG when the operator may read them (`steps:read`, as the
/// API's steps and DAG routes).
async fn load(
    viewer: &Viewer<perm::TasksRead>,
    s: &ConsoleState,
    task: Uuid,
    expand: Option<String>,
) -> Result<Run, Refusal> {
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
        let steps = s.orchestrator.list_steps(task, &scope).await?;
        let dag = s.orchestrator.task_dag(task, &scope).await?;
        Some((steps, dag))
    } else {
        None
    };
    let cancel = viewer
        .can(Permission::TasksCancel, &view.namespace)
        .then(|| viewer.nav.csrf.clone());
    Ok(Run {
        view,
        steps,
        expand: filled(expand),
        cancel,
    })
}

fn is_final(view: &TaskView) -> bool {
    matches!(view.status.as_str(), "complete" | "error" | "cancelled")
}

/// Status, cancel action (until the task has ended), DAG and step table; marked final once
/// the task can no longer change.
fn run_part(run: &Run) -> Markup {
    let view = &run.view;
    html! {
        p { "Status: " span id="task-status" data-status=(view.status) { (badge(&view.status)) }
            " · " (format!("{:.0}%", view.completion_percentage)) " of " (view.step_counts.total) " steps done" }
        @if is_final(view) { span data-final="" hidden {} }
        @if let (Some(csrf), false) = (&run.cancel, is_final(view)) {
            form.inline.cancel method="post" action={ "/ui/tasks/" (view.task_uuid) "/cancel" } {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Cancel task" }
            }
        }
        @match &run.steps {
            Some((steps, dag)) => (steps_part(view, steps, dag, run.expand.as_deref())),
            None => p.muted { "Steps need steps:read in this namespace." }
        }
    }
}

fn steps_part(view: &TaskView, steps: &[StepView], dag: &DagView, expand: Option<&str>) -> Markup {
    let page = format!("/ui/tasks/{}", view.task_uuid);
    let task = view.task_uuid;
    let (drawing, batches) = run_dag::drawing(dag, expand, &page, |step| {
        format!("/ui/tasks/{task}/steps/{step}")
    });
    let collapsed: HashMap<&str, &run_dag::Batch> =
        batches.iter().map(|b| (b.worker.as_str(), b)).collect();
    let mut listed = std::collections::HashSet::new();
    html! {
        section.card {
            h2 { "Run" }
            @if let Some(worker) = expand {
                p { "Batch " strong { (worker) } " drawn copy by copy · " a href=(page) { "collapse" } }
            }
            div.dag id="dag" { (svg(&drawing, &format!("Run DAG of task {}", view.name))) }
            p.muted.legend { "Dashed grey boxes (∅ not taken) are template steps this run did not create; "
                "“by decision” and “copy N” mark steps created while it ran." }
        }
        table id="steps" {
            thead { tr { th { "Step" } th { "Status" } th { "Attempts" } th { "Depends on" } } }
            tbody {
                @for st in steps {
                    @match run_dag::worker_of(&st.name, st.batch_index).and_then(|w| collapsed.get(w)) {
                        Some(batch) => {
                            @if listed.insert(batch.worker.clone()) {
                                tr.batch data-batch=(batch.worker) {
                                    td { a href={ (page) "?expand=" (query_escape(&batch.worker)) "#dag" } { (batch.worker) " ×" (batch.count()) } " " span.muted { "batch copies" } }
                                    td { (badge(batch.state())) br; span.muted { (batch.summary()) } }
                                    td {} td { (st.depends_on.join(", ")) }
                                }
                            }
                        }
                        None => {
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
        }
    }
}
