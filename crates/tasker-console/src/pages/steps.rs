//! A step: its input (the task's context and its dependencies' results, for holders of
//! `tasks:context_read`), result, error, attempts and audit trail, and the operator actions
//! (resolve, complete with a result, reset for retry) for holders of `steps:resolve`, and
//! the log of each attempt, refreshed in place while the attempt runs.

use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use tasker_auth::perm;
use tasker_proto::Permission;
use tasker_proto::api::{StepActionRequest, StepLogView};
use uuid::Uuid;

use super::{PageResult, UiPath, UiQuery, console_path, filled, see_other};
use crate::ConsoleState;
use crate::errors::Refusal;
use crate::form::CsrfForm;
use crate::guard::Viewer;
use crate::layout::{badge, json_block, page, when};

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogQuery {
    attempt: Option<u32>,
}

/// `GET /ui/tasks/{task}/steps/{step}`.
pub(crate) async fn show(
    viewer: Viewer<perm::StepsRead>,
    State(s): State<ConsoleState>,
    UiPath((task, step)): UiPath<(Uuid, Uuid)>,
    UiQuery(q): UiQuery<LogQuery>,
) -> PageResult {
    let scope = viewer.scope();
    let view = s.orchestrator.get_step(task, step, &scope).await?;
    let log = s
        .orchestrator
        .step_log(task, step, q.attempt, &scope)
        .await?;
    let audit = s.orchestrator.step_audit(task, step, &scope).await?;
    // The step is visible in this scope, so its task's namespace may be read with it.
    let owner = s
        .orchestrator
        .get_task(
            task,
            &scope,
            &tasker_proto::Scope::Namespaces(Default::default()),
        )
        .await?;
    let input = if viewer.can(Permission::TasksContextRead, &owner.namespace) {
        let context = s
            .orchestrator
            .task_context(task, &viewer.scope_of(Permission::TasksContextRead))
            .await?;
        let parents: serde_json::Map<String, serde_json::Value> = context
            .step_results
            .into_iter()
            .filter(|(name, _)| view.depends_on.contains(name))
            .collect();
        Some((context.context, serde_json::Value::Object(parents)))
    } else {
        None
    };
    let can_act = viewer.can(Permission::StepsResolve, &owner.namespace);
    let here = format!("/ui/tasks/{task}/steps/{step}");
    let body = html! {
        p { a href={ "/ui/tasks/" (task) } { "← Task " (owner.name) } }
        h1 { "Step " (view.name) }
        dl.facts {
            dt { "Status" } dd { span id="step-status" data-status=(view.status) { (badge(&view.status)) } }
            dt { "Handler" } dd { (view.handler) }
            dt { "Attempts" } dd { (view.attempts) " of " (view.max_attempts) @if !view.retryable { " (not retryable)" } }
            dt { "Depends on" } dd { (view.depends_on.join(", ")) }
            @if let Some(at) = &view.retry_at { dt { "Retry at" } dd { (when(at)) } }
            @if let Some(at) = &view.completed_at { dt { "Completed" } dd { (when(at)) } }
        }
        @if let Some(error) = &view.last_error { section.card { h2 { "Error" } (json_block(error)) } }
        @if let Some(result) = &view.results { section.card { h2 { "Result" } (json_block(result)) } }
        @match &input {
            Some((context, parents)) => section.card {
                h2 { "Input" } h3 { "Task context" } (json_block(context))
                h3 { "Results of its dependencies" } (json_block(parents))
            },
            None => p.muted { "The step's input needs tasks:context_read in this namespace." },
        }
        @if can_act {
            section.card id="actions" {
                h2 { "Actions" }
                @for (action, label) in [("resolve_manually", "Resolve manually"), ("reset_for_retry", "Reset for retry")] {
                    form.inline method="post" action={ (here) "/action" } {
                        input type="hidden" name="csrf" value=(viewer.nav.csrf);
                        input type="hidden" name="action" value=(action);
                        label { "Reason" input name="reason" required; }
                        button type="submit" { (label) }
                    }
                }
                form.stack method="post" action={ (here) "/action" } {
                    input type="hidden" name="csrf" value=(viewer.nav.csrf);
                    input type="hidden" name="action" value="complete_manually";
                    label { "Result (JSON)" textarea name="result" rows="3" { "{}" } }
                    label { "Reason" input name="reason" required; }
                    button type="submit" { "Complete with this result" }
                }
            }
        }
        section.card {
            h2 { "Log" }
            @if log.attempts > 1 {
                nav.attempts aria-label="Attempts" {
                    "Attempt: "
                    @for n in 1..=log.attempts {
                        @if n == log.attempt { strong aria-current="page" { (n) } " " }
                        @else { a href={ (here) "?attempt=" (n) } { (n) } " " }
                    }
                }
            }
            div.live id="log" data-live-src=(log_src(&here, q.attempt)) aria-live="polite" {
                (log_fragment(&log))
            }
        }
        section.card {
            h2 { "Audit trail" }
            table id="audit" {
                thead { tr { th { "At" } th { "From" } th { "To" } th { "Actor" } th { "Reason" } } }
                tbody {
                    @for t in &audit {
                        tr { td { (when(&t.at)) } td { (t.from_state.as_deref().unwrap_or("")) } td { (badge(&t.to_state)) }
                             td { (t.actor) } td { (t.reason.as_deref().unwrap_or("")) } }
                    }
                }
            }
        }
    };
    Ok(page(&format!("Step {}", view.name), &viewer.nav, body))
}

/// `GET /ui/tasks/{task}/steps/{step}/log?attempt=N`: the log part of the step page, which
/// the page's script fetches again while the attempt runs (the API's `.../logs`).
pub(crate) async fn log(
    viewer: Viewer<perm::StepsRead>,
    State(s): State<ConsoleState>,
    UiPath((task, step)): UiPath<(Uuid, Uuid)>,
    UiQuery(q): UiQuery<LogQuery>,
) -> PageResult {
    let log = s
        .orchestrator
        .step_log(task, step, q.attempt, &viewer.scope())
        .await?;
    Ok(log_fragment(&log))
}

/// Where the page's script fetches the log again: the attempt asked for, or the latest.
fn log_src(here: &str, attempt: Option<u32>) -> String {
    match attempt {
        Some(n) => format!("{here}/log?attempt={n}"),
        None => format!("{here}/log"),
    }
}

/// One attempt's lines; marked final once the attempt no longer runs.
fn log_fragment(log: &StepLogView) -> Markup {
    html! {
        p.muted id="log-state" data-running=(if log.running { "true" } else { "false" }) {
            @if log.attempt == 0 { "The step has not run yet." }
            @else {
                "Attempt " (log.attempt) " of " (log.attempts) ", " (log.lines.len()) " lines"
                @if log.running { " · running, more may come" }
            }
        }
        @if !log.running && log.attempt > 0 { span data-final="" hidden {} }
        @if !log.lines.is_empty() {
            pre.log id="step-log" {
                @for l in &log.lines { span.line data-seq=(l.seq) title=(when(&l.at)) { (l.line) "\n" } }
            }
        }
        @if log.truncated {
            p.error { "The log was truncated: the attempt wrote more than the worker keeps ([worker] step_log_max_bytes)." }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ActionForm {
    action: String,
    reason: Option<String>,
    result: Option<String>,
    back: Option<String>,
}

impl ActionForm {
    fn request(self) -> Result<StepActionRequest, Refusal> {
        let reason = filled(self.reason).unwrap_or_default();
        Ok(match self.action.as_str() {
            "resolve_manually" => StepActionRequest::ResolveManually { reason },
            "reset_for_retry" => StepActionRequest::ResetForRetry { reason },
            "complete_manually" => {
                let text = filled(self.result).unwrap_or_else(|| "{}".to_owned());
                let result = serde_json::from_str(&text)
                    .map_err(|e| Refusal::bad_request(format!("The result is not JSON: {e}")))?;
                StepActionRequest::CompleteManually { result, reason }
            }
            _ => return Err(Refusal::bad_request("Unknown step action.")),
        })
    }
}

/// `POST /ui/tasks/{task}/steps/{step}/action`.
pub(crate) async fn act(
    viewer: Viewer<perm::StepsResolve>,
    State(s): State<ConsoleState>,
    UiPath((task, step)): UiPath<(Uuid, Uuid)>,
    CsrfForm(form): CsrfForm<ActionForm>,
) -> Result<Response, Refusal> {
    let back = form.back.clone();
    let action = form.request()?;
    s.orchestrator
        .step_action(task, step, action, viewer.subject(), &viewer.scope())
        .await?;
    let fallback = format!("/ui/tasks/{task}/steps/{step}");
    Ok(see_other(&console_path(
        back.as_deref().or(Some(&fallback)),
    )))
}
