//! The one place the worker turns its templates and its status into wire bodies
//! (`tasker_proto::api`).

use tasker_core::TaskTemplate;
use tasker_proto::api as wire;

use crate::runtime::worker::WorkerStatus;

/// The runtime's status as `GET /health/detailed` shows it.
pub fn worker_status(s: WorkerStatus) -> wire::WorkerStatusView {
    wire::WorkerStatusView {
        worker_id: s.worker_id,
        namespaces: s.namespaces,
        concurrency: s.concurrency,
        running_steps: s
            .running_steps
            .into_iter()
            .map(|r| wire::RunningStepView {
                task_uuid: r.task_uuid,
                step_uuid: r.step_uuid,
                name: r.name,
                handler: r.handler,
                attempt: r.attempt,
                started_at: r.started_at,
            })
            .collect(),
        handlers: s.handlers,
    }
}

pub(crate) fn template_summary(t: &TaskTemplate) -> wire::TemplateSummary {
    wire::TemplateSummary {
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        version: t.version.clone(),
        description: t.description.clone(),
        steps: t.steps.iter().map(|s| s.name.clone()).collect(),
        has_input_schema: t.input_schema.is_some(),
    }
}

pub(crate) fn template(t: TaskTemplate) -> wire::TemplateView {
    let steps = t
        .steps
        .into_iter()
        .map(|s| wire::TemplateStepView {
            step_type: s.step_type.as_str().to_owned(),
            branches: s.branches,
            batch: s.batch.and_then(|b| serde_json::to_value(b).ok()),
            handler: wire::TemplateHandlerView {
                callable: s.handler.callable,
                initialization: s.handler.initialization,
            },
            retry: wire::TemplateRetryView {
                retryable: s.retry.retryable,
                max_attempts: s.retry.max_attempts,
                backoff_base_ms: s.retry.backoff_base_ms,
                max_backoff_ms: s.retry.max_backoff_ms,
            },
            name: s.name,
            depends_on: s.depends_on,
            timeout_seconds: s.timeout_seconds,
        })
        .collect();
    wire::TemplateView {
        namespace: t.namespace,
        name: t.name,
        version: t.version,
        description: t.description,
        input_schema: t.input_schema,
        steps,
    }
}
