//! The system page: health, the embedded worker (what `/health/detailed` shows, for holders of
//! `system:config_read`), handlers per namespace, and charts of the analytics routes (for
//! holders of `system:analytics_read`).

use axum::extract::State;
use maud::{Markup, html};
use tasker_auth::perm;
use tasker_proto::Permission;

use super::PageResult;
use crate::ConsoleState;
use crate::chart::bars;
use crate::guard::Viewer;
use crate::layout::{badge, json_block, page};

/// `GET /ui/system` (the handler list's permission; the other sections need their own).
pub(crate) async fn show(
    viewer: Viewer<perm::SystemHandlersRead>,
    State(s): State<ConsoleState>,
) -> PageResult {
    let healthy = s.orchestrator.ping().await.is_ok();
    let handlers = s.orchestrator.list_handlers().await?;
    let details = viewer
        .holds(Permission::SystemConfigRead)
        .then(|| (s.details)());
    let analytics = if viewer.holds(Permission::SystemAnalyticsRead) {
        Some((
            s.orchestrator.performance(Some(24)).await?,
            s.orchestrator.bottlenecks(Some(10)).await?,
        ))
    } else {
        None
    };
    let body = html! {
        h1 { "System" }
        section.card {
            h2 { "Health" }
            p id="health" { "Store: " (badge(if healthy { "complete" } else { "error" })) " " (if healthy { "reachable" } else { "unreachable" }) }
        }
        @if let Some(details) = &details { section.card { h2 { "Workers" } (json_block(details)) } }
        section.card {
            h2 { "Handlers" }
            table id="handlers" {
                thead { tr { th { "Namespace" } th { "Handlers" } th { "Templates" } } }
                tbody { @for h in &handlers { tr { td { (h.namespace) } td { (h.handlers.join(", ")) } td { (h.templates.join(", ")) } } } }
            }
        }
        @if let Some((perf, slow)) = &analytics { (charts(perf, slow)) }
    };
    Ok(page("System", &viewer.nav, body))
}

fn charts(
    perf: &tasker_proto::api::PerformanceView,
    slow: &tasker_proto::api::BottlenecksView,
) -> Markup {
    let by_status: Vec<(String, f64)> = perf
        .tasks_by_status
        .iter()
        .map(|(k, v)| (k.clone(), *v as f64))
        .collect();
    let step = |b: &tasker_proto::api::StepBottleneck| {
        format!("{}/{}.{}", b.namespace, b.task_name, b.step_name)
    };
    let slowest: Vec<(String, f64)> = slow
        .slowest_steps
        .iter()
        .map(|b| (step(b), b.avg_duration_ms))
        .collect();
    let failing: Vec<(String, f64)> = slow
        .error_prone_steps
        .iter()
        .map(|b| (step(b), b.error_rate * 100.0))
        .collect();
    html! {
        section.card id="analytics" {
            h2 { "Last " (perf.window_hours) " hours" }
            p { (perf.tasks_created) " tasks created, " (perf.tasks_completed) " completed; "
                (format!("{:.1}", perf.throughput_tasks_per_hour)) " tasks per hour; "
                (perf.step_attempts) " step attempts, " (perf.step_failures) " failed." }
            (bars("Tasks by status", &by_status, |v| format!("{v:.0}")))
            (bars("Slowest steps (mean attempt, ms)", &slowest, |v| format!("{v:.0} ms")))
            (bars("Failing steps (error rate)", &failing, |v| format!("{v:.0}%")))
        }
    }
}
