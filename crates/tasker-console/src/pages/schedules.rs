//! Schedules: the list (filters by namespace and template), a schedule (definition, next
//! fire times, runs with their tasks), and the pause, resume and trigger actions, each with
//! the permission of its API route (`schedules:read`, `schedules:write`).

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use tasker_auth::perm;
use tasker_proto::Permission;
use tasker_proto::api::{
    ScheduleListQuery, ScheduleQuery, ScheduleRunsQuery, ScheduleView, UpdateScheduleRequest,
};
use uuid::Uuid;

use super::{PageResult, UiPath, UiQuery, filled, see_other};
use crate::ConsoleState;
use crate::errors::Refusal;
use crate::form::CsrfForm;
use crate::guard::Viewer;
use crate::layout::{badge, json_block, page, when};

/// Next fire times shown on a schedule's page.
const UPCOMING: u32 = 5;
/// Runs shown on a schedule's page.
const RUNS: u32 = 25;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListFilter {
    namespace: Option<String>,
    name: Option<String>,
}

/// `GET /ui/schedules`.
pub(crate) async fn list(
    viewer: Viewer<perm::SchedulesRead>,
    State(s): State<ConsoleState>,
    UiQuery(f): UiQuery<ListFilter>,
) -> PageResult {
    let query = ScheduleListQuery {
        namespace: filled(f.namespace.clone()),
        name: filled(f.name.clone()),
    };
    let schedules = s
        .orchestrator
        .list_schedules(query, &viewer.scope())
        .await?;
    let body = html! {
        h1 { "Schedules" }
        form.filters method="get" action="/ui/schedules" role="search" {
            label { "Namespace" input name="namespace" value=(f.namespace.as_deref().unwrap_or("")); }
            label { "Template" input name="name" value=(f.name.as_deref().unwrap_or("")); }
            button type="submit" { "Filter" }
        }
        p.muted { (schedules.len()) " schedules" }
        table id="schedules" {
            thead { tr { th { "Schedule" } th { "Template" } th { "Cron" } th { "State" } th { "Next fire" } th { "Last fire" } th { "Actions" } } }
            tbody {
                @for sc in &schedules {
                    tr data-schedule=(sc.schedule_uuid) {
                        td {
                            a href={ "/ui/schedules/" (sc.schedule_uuid) } { (sc.description.as_deref().unwrap_or("(no description)")) }
                            br; span.muted { (sc.schedule_uuid) }
                        }
                        td { (sc.namespace) "/" (sc.name) @if let Some(v) = &sc.version { " " (v) } }
                        td { code { (sc.cron) } " " span.muted { (sc.timezone) } }
                        td { (state(sc)) }
                        td { (sc.next_fire_at.as_ref().map(when).unwrap_or_default()) }
                        td { (last_fire(sc)) }
                        td { (actions(&viewer, sc)) }
                    }
                }
            }
        }
        @if schedules.is_empty() { p { "No schedules." } }
    };
    Ok(page("Schedules", &viewer.nav, body))
}

/// `GET /ui/schedules/{schedule}`.
pub(crate) async fn show(
    viewer: Viewer<perm::SchedulesRead>,
    State(s): State<ConsoleState>,
    UiPath(schedule): UiPath<Uuid>,
) -> PageResult {
    let scope = viewer.scope();
    let query = ScheduleQuery {
        upcoming: Some(UPCOMING),
    };
    let sc = s.orchestrator.get_schedule(schedule, query, &scope).await?;
    let runs = s
        .orchestrator
        .schedule_runs(schedule, ScheduleRunsQuery { limit: Some(RUNS) }, &scope)
        .await?;
    let tasks_readable = viewer.can(Permission::TasksRead, &sc.namespace);
    let body = html! {
        h1 { "Schedule " (sc.description.as_deref().unwrap_or(&sc.name)) }
        dl.facts {
            dt { "Schedule" } dd { (sc.schedule_uuid) }
            dt { "Template" } dd {
                @if let Some(v) = &sc.version {
                    a href={ "/ui/templates/" (sc.namespace) "/" (sc.name) "/" (v) } { (sc.namespace) "/" (sc.name) " " (v) }
                } @else {
                    (sc.namespace) "/" (sc.name) " (its latest version at each fire)"
                }
            }
            dt { "Cron" } dd { code { (sc.cron) } " in " (sc.timezone) }
            dt { "State" } dd id="schedule-state" data-paused=(if sc.paused { "true" } else { "false" }) { (state(&sc)) }
            dt { "Overlap" } dd { (format!("{:?}", sc.overlap).to_lowercase()) }
            dt { "Catch-up" } dd { (format!("{:?}", sc.catchup).to_lowercase()) }
            dt { "Created" } dd { (when(&sc.created_at)) " by " (sc.created_by) " (" (sc.source) ")" }
        }
        (actions(&viewer, &sc))
        section.card {
            h2 { "Next fire times" }
            @if sc.paused { p.muted { "Paused: it fires only when triggered." } }
            @else {
                ol id="upcoming" { @for t in &sc.upcoming { li { (when(t)) " UTC" } } }
            }
        }
        section.card { h2 { "Context of every task" } (json_block(&sc.context)) }
        section.card {
            h2 { "Runs" }
            table id="runs" {
                thead { tr { th { "Fire time" } th { "Result" } th { "Task" } th { "Task status" } } }
                tbody {
                    @for r in &runs {
                        tr {
                            td { (when(&r.scheduled_for)) }
                            td { (r.result) }
                            td {
                                @if let Some(task) = r.task_uuid {
                                    @if tasks_readable { a href={ "/ui/tasks/" (task) } { (task) } } @else { (task) }
                                }
                            }
                            td { @if let Some(st) = &r.task_status { (badge(st)) } }
                        }
                    }
                }
            }
            @if runs.is_empty() { p { "No runs yet." } }
        }
    };
    Ok(page("Schedule", &viewer.nav, body))
}

fn state(sc: &ScheduleView) -> Markup {
    badge(if sc.paused { "paused" } else { "active" })
}

fn last_fire(sc: &ScheduleView) -> Markup {
    html! {
        @if let Some(at) = &sc.last_fired_at {
            (when(at))
            @if let Some(task) = sc.last_task_uuid { br; span.muted { (task) } }
        }
    }
}

/// Pause or resume, and trigger: offered only with `schedules:write` in its namespace.
fn actions(viewer: &Viewer<perm::SchedulesRead>, sc: &ScheduleView) -> Markup {
    if !viewer.can(Permission::SchedulesWrite, &sc.namespace) {
        return html! {};
    }
    let base = format!("/ui/schedules/{}", sc.schedule_uuid);
    html! {
        div.actions {
            @if sc.paused {
                form.inline.resume method="post" action={ (base) "/resume" } {
                    input type="hidden" name="csrf" value=(viewer.nav.csrf);
                    button type="submit" { "Resume" }
                }
            } @else {
                form.inline.pause method="post" action={ (base) "/pause" } {
                    input type="hidden" name="csrf" value=(viewer.nav.csrf);
                    button type="submit" { "Pause" }
                }
            }
            form.inline.trigger method="post" action={ (base) "/trigger" } {
                input type="hidden" name="csrf" value=(viewer.nav.csrf);
                button type="submit" { "Trigger now" }
            }
        }
    }
}

/// `POST /ui/schedules/{schedule}/pause`.
pub(crate) async fn pause(
    viewer: Viewer<perm::SchedulesWrite>,
    State(s): State<ConsoleState>,
    UiPath(schedule): UiPath<Uuid>,
    CsrfForm(_): CsrfForm<HashMap<String, String>>,
) -> Result<Response, Refusal> {
    set_paused(&viewer, &s, schedule, true).await
}

/// `POST /ui/schedules/{schedule}/resume`.
pub(crate) async fn resume(
    viewer: Viewer<perm::SchedulesWrite>,
    State(s): State<ConsoleState>,
    UiPath(schedule): UiPath<Uuid>,
    CsrfForm(_): CsrfForm<HashMap<String, String>>,
) -> Result<Response, Refusal> {
    set_paused(&viewer, &s, schedule, false).await
}

async fn set_paused(
    viewer: &Viewer<perm::SchedulesWrite>,
    s: &ConsoleState,
    schedule: Uuid,
    paused: bool,
) -> Result<Response, Refusal> {
    let request = UpdateScheduleRequest {
        paused: Some(paused),
        ..UpdateScheduleRequest::default()
    };
    s.orchestrator
        .update_schedule(schedule, request, &viewer.scope())
        .await?;
    Ok(see_other(&format!("/ui/schedules/{schedule}")))
}

/// `POST /ui/schedules/{schedule}/trigger`: fires it now; back to the schedule, whose runs
/// list the new task.
pub(crate) async fn trigger(
    viewer: Viewer<perm::SchedulesWrite>,
    State(s): State<ConsoleState>,
    UiPath(schedule): UiPath<Uuid>,
    CsrfForm(_): CsrfForm<HashMap<String, String>>,
) -> Result<Response, Refusal> {
    s.orchestrator
        .trigger_schedule(schedule, &viewer.scope())
        .await?;
    Ok(see_other(&format!("/ui/schedules/{schedule}")))
}
