//! Signals to approval steps and reruns of finished tasks. Both take the caller's scope for
//! `steps:resolve`: a task outside it does not exist for the caller.

use chrono::Utc;
use tasker_core::store::{Decision, RerunRequest, StepSignal};
use tasker_proto::Scope;
use tasker_proto::api::{RerunTaskRequest, RerunView, SignalDecision, SignalStepRequest, StepView};
use uuid::Uuid;

use crate::error::Error;
use crate::limits::{MAX_TEXT_CHARS, over_limits, refuse};
use crate::orchestrator::Orchestrator;
use crate::views;

impl Orchestrator {
    /// Approves or rejects a waiting approval step; `actor` is recorded as `by`.
    pub async fn signal_step(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        request: SignalStepRequest,
        actor: &str,
        scope: &Scope,
    ) -> Result<StepView, Error> {
        refuse(over_limits(&[(
            "reason",
            request.reason.as_deref(),
            MAX_TEXT_CHARS,
        )]))?;
        self.visible_task(task_uuid, scope).await?;
        let signal = StepSignal {
            decision: match request.decision {
                SignalDecision::Approve => Decision::Approve,
                SignalDecision::Reject => Decision::Reject,
            },
            payload: request.payload,
            reason: request.reason,
        };
        let step = self
            .inner
            .store
            .signal_step(task_uuid, step_uuid, &signal, actor, Utc::now())
            .await?;
        Ok(views::step(step))
    }

    /// Resets `from_step` and its descendants and runs the task again from there.
    pub async fn rerun_task(
        &self,
        task_uuid: Uuid,
        request: RerunTaskRequest,
        actor: &str,
        scope: &Scope,
    ) -> Result<RerunView, Error> {
        refuse(over_limits(&[
            (
                "from_step",
                Some(request.from_step.as_str()),
                MAX_TEXT_CHARS,
            ),
            ("reason", request.reason.as_deref(), MAX_TEXT_CHARS),
        ]))?;
        self.visible_task(task_uuid, scope).await?;
        let rerun = RerunRequest {
            from_step: request.from_step.clone(),
            reason: request.reason,
        };
        let outcome = self
            .inner
            .store
            .rerun_task(task_uuid, &rerun, actor, request.dry_run, Utc::now())
            .await?;
        Ok(RerunView {
            task_uuid,
            from_step: request.from_step,
            reset_steps: outcome.reset_steps,
            removed_steps: outcome.removed_steps,
            dry_run: request.dry_run,
        })
    }
}
