//! The one place orchestration records become wire bodies (`tasker_proto::api`) and wire
//! filters become store filters. Domain and store types are never serialised onto the wire:
//! renaming a record field changes nothing a client sees, and the proto type is the only
//! description of the JSON.

use std::collections::BTreeMap;

use tasker_core::store::{
    DlqEntry, DlqReason, DlqStat, ManualAction, ResolutionStatus, StepRecord, StepStatistics,
    TaskRecord, TransitionRecord,
};
use tasker_core::{StepState, TaskState, TaskTemplate};
use tasker_proto::api as wire;

/// A task as the API shows it, with its context only when `with_context` (lists never embed
/// it; a single task shows it to holders of `tasks:context_read`).
pub(crate) fn task(t: TaskRecord, with_context: bool) -> wire::TaskView {
    let c = &t.step_counts;
    let counts = wire::StepCountsView {
        total: c.total,
        pending: c.get(StepState::Pending),
        enqueued: c.get(StepState::Enqueued),
        in_progress: c.get(StepState::InProgress),
        waiting: c.get(StepState::Waiting),
        waiting_for_retry: c.get(StepState::WaitingForRetry),
        complete: c.get(StepState::Complete),
        error: c.get(StepState::Error),
        cancelled: c.get(StepState::Cancelled),
        resolved_manually: c.get(StepState::ResolvedManually),
    };
    let done = counts.complete + counts.resolved_manually;
    let completion_percentage = if counts.total == 0 {
        0.0
    } else {
        (done as f64 * 10_000.0 / counts.total as f64).round() / 100.0
    };
    wire::TaskView {
        task_uuid: t.task_uuid,
        namespace: t.namespace,
        name: t.name,
        version: t.version,
        status: t.status.as_str().to_owned(),
        context: with_context.then_some(t.context),
        created_by: t.created_by,
        initiator: t.meta.initiator,
        source_system: t.meta.source_system,
        reason: t.meta.reason,
        tags: t.meta.tags,
        priority: t.meta.priority,
        correlation_id: t.meta.correlation_id,
        idempotency_key: t.meta.idempotency_key,
        step_counts: counts,
        completion_percentage,
        created_at: t.created_at,
        updated_at: t.updated_at,
        completed_at: t.completed_at,
        scheduled_for: t.scheduled_for,
        parent_task_uuid: t.parent_task_uuid,
        parent_step_uuid: t.parent_step_uuid,
    }
}

pub(crate) fn step(s: StepRecord) -> wire::StepView {
    wire::StepView {
        step_uuid: s.step_uuid,
        task_uuid: s.task_uuid,
        name: s.name,
        step_type: s.step_type.as_str().to_owned(),
        origin: s.origin.as_str().to_owned(),
        batch_index: s.batch_index,
        handler: s.handler,
        status: s.status.as_str().to_owned(),
        attempts: s.attempts,
        max_attempts: s.max_attempts,
        retryable: s.retryable,
        depends_on: s.depends_on,
        timeout_seconds: s.timeout_seconds,
        results: s.results,
        last_error: s.last_error,
        retry_at: s.retry_at,
        created_at: s.created_at,
        updated_at: s.updated_at,
        completed_at: s.completed_at,
    }
}

pub(crate) fn transition(t: TransitionRecord) -> wire::TransitionView {
    wire::TransitionView {
        task_uuid: t.task_uuid,
        step_uuid: t.step_uuid,
        from_state: t.from_state,
        to_state: t.to_state,
        at: t.at,
        actor: t.actor,
        reason: t.reason,
    }
}

pub(crate) fn dlq_entry(e: DlqEntry) -> wire::DlqEntryView {
    wire::DlqEntryView {
        dlq_entry_uuid: e.dlq_entry_uuid,
        task_uuid: e.task_uuid,
        step_uuid: e.step_uuid,
        dlq_reason: e.dlq_reason.as_str().to_owned(),
        resolution_status: e.resolution_status.as_str().to_owned(),
        notes: e.notes,
        resolver: e.resolver,
        task_snapshot: e.task_snapshot,
        priority: e.priority,
        created_at: e.created_at,
        updated_at: e.updated_at,
        resolved_at: e.resolved_at,
    }
}

pub(crate) fn dlq_stat(s: DlqStat) -> wire::DlqStatView {
    wire::DlqStatView {
        dlq_reason: s.dlq_reason.as_str().to_owned(),
        total: s.total,
        by_status: s
            .by_status
            .into_iter()
            .map(|(status, n)| (status.as_str().to_owned(), n))
            .collect(),
    }
}

pub(crate) fn bottleneck(s: StepStatistics, error_rate: f64) -> wire::StepBottleneck {
    wire::StepBottleneck {
        namespace: s.namespace,
        task_name: s.task_name,
        step_name: s.step_name,
        executions: s.executions,
        failures: s.failures,
        avg_duration_ms: s.avg_duration_ms,
        max_duration_ms: s.max_duration_ms,
        error_rate,
    }
}

pub(crate) fn tasks_by_status(counts: BTreeMap<TaskState, u64>) -> BTreeMap<String, u64> {
    counts
        .into_iter()
        .map(|(state, n)| (state.as_str().to_owned(), n))
        .collect()
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
    wire::TemplateView {
        namespace: t.namespace,
        name: t.name,
        version: t.version,
        description: t.description,
        input_schema: t.input_schema,
        steps: t
            .steps
            .into_iter()
            .map(|s| wire::TemplateStepView {
                step_type: s.step_type.as_str().to_owned(),
                branches: s.branches,
                batch: s.batch.and_then(|b| serde_json::to_value(b).ok()),
                name: s.name,
                handler: wire::TemplateHandlerView {
                    callable: s.handler.callable,
                    initialization: s.handler.initialization,
                },
                depends_on: s.depends_on,
                retry: wire::TemplateRetryView {
                    retryable: s.retry.retryable,
                    max_attempts: s.retry.max_attempts,
                    backoff_base_ms: s.retry.backoff_base_ms,
                    max_backoff_ms: s.retry.max_backoff_ms,
                },
                timeout_seconds: s.timeout_seconds,
            })
            .collect(),
    }
}

pub(crate) fn task_state(s: wire::TaskStatus) -> TaskState {
    use wire::TaskStatus as W;
    match s {
        W::Pending => TaskState::Pending,
        W::StepsInProcess => TaskState::StepsInProcess,
        W::WaitingForRetry => TaskState::WaitingForRetry,
        W::BlockedByFailures => TaskState::BlockedByFailures,
        W::Complete => TaskState::Complete,
        W::Error => TaskState::Error,
        W::Cancelled => TaskState::Cancelled,
        W::ResolvedManually => TaskState::ResolvedManually,
    }
}

pub(crate) fn dlq_reason(r: wire::DlqReason) -> DlqReason {
    match r {
        wire::DlqReason::MaxRetriesExceeded => DlqReason::MaxRetriesExceeded,
        wire::DlqReason::StalenessTimeout => DlqReason::StalenessTimeout,
        wire::DlqReason::Manual => DlqReason::Manual,
    }
}

pub(crate) fn resolution_status(r: wire::ResolutionStatus) -> ResolutionStatus {
    use wire::ResolutionStatus as W;
    match r {
        W::Pending => ResolutionStatus::Pending,
        W::ManuallyResolved => ResolutionStatus::ManuallyResolved,
        W::PermanentlyFailed => ResolutionStatus::PermanentlyFailed,
        W::Cancelled => ResolutionStatus::Cancelled,
    }
}

/// The operator action of a step PATCH; an empty reason gets the action's default wording.
pub(crate) fn manual_action(a: wire::StepActionRequest) -> ManualAction {
    fn or(reason: String, fallback: &str) -> String {
        if reason.trim().is_empty() {
            fallback.to_owned()
        } else {
            reason
        }
    }
    match a {
        wire::StepActionRequest::ResolveManually { reason } => ManualAction::ResolveManually {
            reason: or(reason, "resolved manually"),
        },
        wire::StepActionRequest::CompleteManually { result, reason } => {
            ManualAction::CompleteManually {
                result,
                reason: or(reason, "completed manually"),
            }
        }
        wire::StepActionRequest::ResetForRetry { reason } => ManualAction::ResetForRetry {
            reason: or(reason, "reset for retry"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_keeps_its_wire_name() {
        for &s in wire::TaskStatus::ALL {
            assert_eq!(task_state(s).as_str(), s.as_str());
        }
        for &r in wire::DlqReason::ALL {
            assert_eq!(dlq_reason(r).as_str(), r.as_str());
        }
        for &r in wire::ResolutionStatus::ALL {
            assert_eq!(resolution_status(r).as_str(), r.as_str());
        }
        assert_eq!(wire::TaskStatus::ALL.len(), TaskState::ALL.len());
    }

    #[test]
    fn an_empty_reason_gets_the_default_wording() {
        let a = manual_action(wire::StepActionRequest::ResetForRetry { reason: " ".into() });
        assert_eq!(
            a,
            ManualAction::ResetForRetry {
                reason: "reset for retry".into()
            }
        );
    }
}
