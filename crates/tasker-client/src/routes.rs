//! One method per API route.

use reqwest::Method;
use serde_json::Value;
use tasker_proto::api::{
    BottlenecksView, CreateTaskRequest, DlqEntryView, DlqListQuery, DlqStatView, DlqUpdateRequest,
    HandlerNamespace, PerformanceView, StalenessView, StepActionRequest, StepView, TaskContextView,
    TaskList, TaskListQuery, TaskView, TemplateSummary, TemplateView, TransitionView,
    ValidationReport,
};
use uuid::Uuid;

use crate::client::{Api, TaskerClient};
use crate::error::ClientError;

use Api::{Orchestration as O, Worker as W};

fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/v1/templates/{namespace}/{name}/{version}` with each segment percent-encoded.
fn template_path(namespace: &str, name: &str, version: &str) -> String {
    format!(
        "/v1/templates/{}/{}/{}",
        segment(namespace),
        segment(name),
        segment(version)
    )
}

impl TaskerClient {
    /// `POST /v1/tasks`
    pub async fn create_task(&self, request: &CreateTaskRequest) -> Result<TaskView, ClientError> {
        self.send_json(O, Method::POST, "/v1/tasks", request).await
    }

    /// `GET /v1/tasks`
    pub async fn list_tasks(&self, query: &TaskListQuery) -> Result<TaskList, ClientError> {
        let request = self.request(O, Method::GET, "/v1/tasks")?.query(query);
        self.call(O, request).await
    }

    /// `GET /v1/tasks/{task_uuid}`
    pub async fn get_task(&self, task: Uuid) -> Result<TaskView, ClientError> {
        self.get(O, &format!("/v1/tasks/{task}")).await
    }

    /// `DELETE /v1/tasks/{task_uuid}`
    pub async fn cancel_task(&self, task: Uuid) -> Result<TaskView, ClientError> {
        let request = self.request(O, Method::DELETE, &format!("/v1/tasks/{task}"))?;
        self.call(O, request).await
    }

    /// `GET /v1/tasks/{task_uuid}/context`
    pub async fn task_context(&self, task: Uuid) -> Result<TaskContextView, ClientError> {
        self.get(O, &format!("/v1/tasks/{task}/context")).await
    }

    /// `GET /v1/tasks/{task_uuid}/workflow_steps`
    pub async fn list_steps(&self, task: Uuid) -> Result<Vec<StepView>, ClientError> {
        self.get(O, &format!("/v1/tasks/{task}/workflow_steps"))
            .await
    }

    /// `GET /v1/tasks/{task_uuid}/dag`: the run's graph, with the steps it did not create.
    pub async fn task_dag(&self, task: Uuid) -> Result<tasker_proto::api::DagView, ClientError> {
        self.get(O, &format!("/v1/tasks/{task}/dag")).await
    }

    /// `GET /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}`
    pub async fn get_step(&self, task: Uuid, step: Uuid) -> Result<StepView, ClientError> {
        self.get(O, &format!("/v1/tasks/{task}/workflow_steps/{step}"))
            .await
    }

    /// `GET /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/audit`
    pub async fn step_audit(
        &self,
        task: Uuid,
        step: Uuid,
    ) -> Result<Vec<TransitionView>, ClientError> {
        self.get(O, &format!("/v1/tasks/{task}/workflow_steps/{step}/audit"))
            .await
    }

    /// `GET /v1/tasks/{task_uuid}/audit`: the task's and its steps' transitions, oldest first.
    pub async fn task_audit(&self, task: Uuid) -> Result<Vec<TransitionView>, ClientError> {
        self.get(O, &format!("/v1/tasks/{task}/audit")).await
    }

    /// `PATCH /v1/tasks/{task_uuid}/workflow_steps/{step_uuid}`
    pub async fn step_action(
        &self,
        task: Uuid,
        step: Uuid,
        action: &StepActionRequest,
    ) -> Result<StepView, ClientError> {
        self.send_json(
            O,
            Method::PATCH,
            &format!("/v1/tasks/{task}/workflow_steps/{step}"),
            action,
        )
        .await
    }

    /// `GET /v1/dlq`
    pub async fn list_dlq(&self, query: &DlqListQuery) -> Result<Vec<DlqEntryView>, ClientError> {
        let request = self.request(O, Method::GET, "/v1/dlq")?.query(query);
        self.call(O, request).await
    }

    /// `GET /v1/dlq/task/{task_uuid}`
    pub async fn dlq_for_task(&self, task: Uuid) -> Result<Vec<DlqEntryView>, ClientError> {
        self.get(O, &format!("/v1/dlq/task/{task}")).await
    }

    /// `GET /v1/dlq/investigation-queue`
    pub async fn dlq_investigation_queue(&self) -> Result<Vec<DlqEntryView>, ClientError> {
        self.get(O, "/v1/dlq/investigation-queue").await
    }

    /// `GET /v1/dlq/staleness`
    pub async fn dlq_staleness(&self) -> Result<Vec<StalenessView>, ClientError> {
        self.get(O, "/v1/dlq/staleness").await
    }

    /// `PATCH /v1/dlq/entry/{dlq_entry_uuid}`
    pub async fn update_dlq_entry(
        &self,
        entry: Uuid,
        update: &DlqUpdateRequest,
    ) -> Result<DlqEntryView, ClientError> {
        self.send_json(O, Method::PATCH, &format!("/v1/dlq/entry/{entry}"), update)
            .await
    }

    /// `GET /v1/dlq/stats`
    pub async fn dlq_stats(&self) -> Result<Vec<DlqStatView>, ClientError> {
        self.get(O, "/v1/dlq/stats").await
    }

    /// `GET /v1/templates`
    pub async fn list_templates(&self) -> Result<Vec<TemplateSummary>, ClientError> {
        self.get(O, "/v1/templates").await
    }

    /// `GET /v1/templates/{namespace}/{name}/{version}`
    pub async fn get_template(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<TemplateView, ClientError> {
        let path = template_path(namespace, name, version);
        self.get(O, &path).await
    }

    /// `POST /v1/templates/validate` with a YAML or JSON template document.
    pub async fn validate_template(&self, document: &str) -> Result<ValidationReport, ClientError> {
        let request = self
            .request(O, Method::POST, "/v1/templates/validate")?
            .header("content-type", "application/yaml")
            .body(document.to_owned());
        self.call(O, request).await
    }

    /// `GET /v1/handlers`
    pub async fn list_handlers(&self) -> Result<Vec<HandlerNamespace>, ClientError> {
        self.get(O, "/v1/handlers").await
    }

    /// `GET /v1/handlers/{namespace}`
    pub async fn handlers_for(&self, namespace: &str) -> Result<HandlerNamespace, ClientError> {
        self.get(O, &format!("/v1/handlers/{}", segment(namespace)))
            .await
    }

    /// `GET /v1/analytics/performance`
    pub async fn performance(&self) -> Result<PerformanceView, ClientError> {
        self.get(O, "/v1/analytics/performance").await
    }

    /// `GET /v1/analytics/bottlenecks`
    pub async fn bottlenecks(&self) -> Result<BottlenecksView, ClientError> {
        self.get(O, "/v1/analytics/bottlenecks").await
    }

    /// `GET /config` of an API (redacted configuration).
    pub async fn config(&self, api: Api) -> Result<Value, ClientError> {
        self.get(api, "/config").await
    }

    /// `GET /health` of an API: status and checks only.
    pub async fn health(&self, api: Api) -> Result<Value, ClientError> {
        self.get(api, "/health").await
    }

    /// `GET /health/detailed` of an API: health plus the role's details (needs
    /// `system:config_read` on the orchestration API, `worker:config_read` on a worker).
    pub async fn health_detailed(&self, api: Api) -> Result<Value, ClientError> {
        self.get(api, "/health/detailed").await
    }

    /// Worker `GET /v1/templates`
    pub async fn worker_templates(&self) -> Result<Vec<TemplateSummary>, ClientError> {
        self.get(W, "/v1/templates").await
    }

    /// Worker `GET /v1/templates/{namespace}/{name}/{version}`
    pub async fn worker_template(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<TemplateView, ClientError> {
        let path = template_path(namespace, name, version);
        self.get(W, &path).await
    }

    /// Worker `POST /v1/templates/{namespace}/{name}/{version}/validate`
    pub async fn worker_validate_template(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> Result<ValidationReport, ClientError> {
        let path = format!("{}/validate", template_path(namespace, name, version));
        let request = self.request(W, Method::POST, &path)?;
        self.call(W, request).await
    }
}
