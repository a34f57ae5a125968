//! The dead-letter queue: the investigation queue, a task's entries, the update action
//! (`dlq:update`) and resolving an entry's step (`dlq:update` and `steps:resolve`, the
//! permissions of the two API routes it stands for).

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use tasker_auth::perm;
use tasker_proto::api::{DlqEntryView, DlqUpdateRequest, ResolutionStatus, StepActionRequest};
use tasker_proto::{Permission, Scope};
use uuid::Uuid;

use super::{PageResult, UiPath, filled, see_other};
use crate::ConsoleState;
use crate::errors::Refusal;
use crate::form::CsrfForm;
use crate::guard::Viewer;
use crate::layout::{badge, json_block, page, when};

/// `GET /ui/dlq`: pending entries by priority.
pub(crate) async fn queue(
    viewer: Viewer<perm::DlqRead>,
    State(s): State<ConsoleState>,
) -> PageResult {
    let entries = s
        .orchestrator
        .investigation_queue(Some(100), &viewer.scope())
        .await?;
    let body = html! {
        h1 { "Dead-letter queue" }
        p.muted { "Pending entries, highest priority first." }
        table id="dlq" {
            thead { tr { th { "Task" } th { "Reason" } th { "Status" } th { "Priority" } th { "Since" } } }
            tbody {
                @for e in &entries {
                    tr {
                        td { a href={ "/ui/dlq/task/" (e.task_uuid) } { (e.task_uuid) } }
                        td { (e.dlq_reason) } td { (badge(&e.resolution_status)) }
                        td { (e.priority) } td { (when(&e.created_at)) }
                    }
                }
            }
        }
        @if entries.is_empty() { p { "Nothing to investigate." } }
    };
    Ok(page("DLQ", &viewer.nav, body))
}

/// `GET /ui/dlq/task/{task}`: a task's entries with their actions.
pub(crate) async fn for_task(
    viewer: Viewer<perm::DlqRead>,
    State(s): State<ConsoleState>,
    UiPath(task): UiPath<Uuid>,
) -> PageResult {
    let scope = viewer.scope();
    let entries = s.orchestrator.dlq_for_task(task, &scope).await?;
    // The entries are visible in this scope, so their task's namespace may be read with them.
    let owner = s
        .orchestrator
        .get_task(task, &scope, &Scope::Namespaces(Default::default()))
        .await?;
    let update = viewer.can(Permission::DlqUpdate, &owner.namespace);
    let resolve = update && viewer.can(Permission::StepsResolve, &owner.namespace);
    let body = html! {
        h1 { "DLQ entries of " a href={ "/ui/tasks/" (task) } { (owner.name) } }
        p { "Task status: " (badge(&owner.status)) }
        @for e in &entries { (entry(e, &viewer.nav.csrf, update, resolve)) }
    };
    Ok(page("DLQ entries", &viewer.nav, body))
}

fn entry(e: &DlqEntryView, csrf: &str, update: bool, resolve: bool) -> Markup {
    html! {
        section.card.entry data-entry=(e.dlq_entry_uuid) {
            h2 { (e.dlq_reason) " " (badge(&e.resolution_status)) }
            dl.facts {
                dt { "Entry" } dd { (e.dlq_entry_uuid) }
                @if let Some(step) = e.step_uuid { dt { "Step" } dd { a href={ "/ui/tasks/" (e.task_uuid) "/steps/" (step) } { (step) } } }
                dt { "Created" } dd { (when(&e.created_at)) }
                @if let Some(notes) = &e.notes { dt { "Notes" } dd { (notes) } }
                @if let Some(who) = &e.resolver { dt { "Resolver" } dd { (who) } }
            }
            details { summary { "Task snapshot" } (json_block(&e.task_snapshot)) }
            @if resolve && e.resolution_status == "pending" {
                @if let Some(step) = e.step_uuid {
                    form.inline.resolve method="post" action={ "/ui/dlq/task/" (e.task_uuid) "/steps/" (step) "/resolve" } {
                        input type="hidden" name="csrf" value=(csrf);
                        label { "Reason" input name="reason" required; }
                        button type="submit" { "Resolve the step (task resumes)" }
                    }
                }
            }
            @if update {
                form.inline.update method="post" action={ "/ui/dlq/entry/" (e.dlq_entry_uuid) } {
                    input type="hidden" name="csrf" value=(csrf);
                    label { "Status"
                        select name="resolution_status" {
                            @for st in ResolutionStatus::ALL {
                                option value=(st.as_str()) selected[e.resolution_status == st.as_str()] { (st.as_str()) }
                            }
                        }
                    }
                    label { "Notes" input name="resolution_notes" value=(e.notes.as_deref().unwrap_or("")); }
                    button type="submit" { "Update entry" }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct UpdateForm {
    resolution_status: Option<String>,
    resolution_notes: Option<String>,
}

/// `POST /ui/dlq/entry/{entry}`.
pub(crate) async fn update(
    viewer: Viewer<perm::DlqUpdate>,
    State(s): State<ConsoleState>,
    UiPath(entry): UiPath<Uuid>,
    CsrfForm(form): CsrfForm<UpdateForm>,
) -> Result<Response, Refusal> {
    let resolution_status = filled(form.resolution_status)
        .map(|v| v.parse::<ResolutionStatus>())
        .transpose()
        .map_err(|e| Refusal::bad_request(format!("resolution_status: {e}")))?;
    let request = DlqUpdateRequest {
        resolution_status,
        resolution_notes: filled(form.resolution_notes),
    };
    let updated = s
        .orchestrator
        .update_dlq_entry(entry, request, viewer.subject(), &viewer.scope())
        .await?;
    Ok(see_other(&format!("/ui/dlq/task/{}", updated.task_uuid)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResolveForm {
    reason: Option<String>,
}

/// `POST /ui/dlq/task/{task}/steps/{step}/resolve`: resolves the step, which closes its
/// entries and lets the task resume.
pub(crate) async fn resolve_step(
    dlq: Viewer<perm::DlqUpdate>,
    viewer: Viewer<perm::StepsResolve>,
    State(s): State<ConsoleState>,
    UiPath((task, step)): UiPath<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<ResolveForm>,
) -> Result<Response, Refusal> {
    // The task's entries must be visible with dlq:update (404 otherwise, as the API answers).
    s.orchestrator.dlq_for_task(task, &dlq.scope()).await?;
    let action = StepActionRequest::ResolveManually {
        reason: filled(form.reason).unwrap_or_default(),
    };
    s.orchestrator
        .step_action(task, step, action, viewer.subject(), &viewer.scope())
        .await?;
    Ok(see_other(&format!("/ui/dlq/task/{task}")))
}
