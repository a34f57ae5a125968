//! Signals to waiting approval steps and reruns of finished tasks.

use reqwest::Method;
use tasker_proto::api::{RerunTaskRequest, RerunView, SignalStepRequest, StepView};
use uuid::Uuid;

use crate::client::{Api::Orchestration as O, TaskerClient};
use crate::error::ClientError;

impl TaskerClient {
    /// `POST /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/signal`
    pub async fn signal_step(
        &self,
        task: Uuid,
        step: Uuid,
        request: &SignalStepRequest,
    ) -> Result<StepView, ClientError> {
        self.send_json(
            O,
            Method::POST,
            &format!("/v1/tasks/{task}/workflow_steps/{step}/signal"),
            request,
        )
        .await
    }

    /// `POST /v1/tasks/{task_uuid}/rerun`
    pub async fn rerun_task(
        &self,
        task: Uuid,
        request: &RerunTaskRequest,
    ) -> Result<RerunView, ClientError> {
        self.send_json(O, Method::POST, &format!("/v1/tasks/{task}/rerun"), request)
            .await
    }
}
