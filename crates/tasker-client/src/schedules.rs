//! One method per schedule route.

use reqwest::Method;
use tasker_proto::api::{
    CreateScheduleRequest, ScheduleListQuery, ScheduleQuery, ScheduleRunView, ScheduleRunsQuery,
    ScheduleView, TaskView, UpdateScheduleRequest,
};
use uuid::Uuid;

use crate::client::{Api::Orchestration as O, TaskerClient};
use crate::error::ClientError;

impl TaskerClient {
    /// `POST /v1/schedules`
    pub async fn create_schedule(
        &self,
        request: &CreateScheduleRequest,
    ) -> Result<ScheduleView, ClientError> {
        self.send_json(O, Method::POST, "/v1/schedules", request)
            .await
    }

    /// `GET /v1/schedules`
    pub async fn list_schedules(
        &self,
        query: &ScheduleListQuery,
    ) -> Result<Vec<ScheduleView>, ClientError> {
        let request = self.request(O, Method::GET, "/v1/schedules")?.query(query);
        self.call(O, request).await
    }

    /// `GET /v1/schedules/{schedule_uuid}` (`upcoming`: the next fire times to list)
    pub async fn get_schedule(
        &self,
        schedule: Uuid,
        query: &ScheduleQuery,
    ) -> Result<ScheduleView, ClientError> {
        let request = self
            .request(O, Method::GET, &format!("/v1/schedules/{schedule}"))?
            .query(query);
        self.call(O, request).await
    }

    /// `PATCH /v1/schedules/{schedule_uuid}`
    pub async fn update_schedule(
        &self,
        schedule: Uuid,
        update: &UpdateScheduleRequest,
    ) -> Result<ScheduleView, ClientError> {
        self.send_json(
            O,
            Method::PATCH,
            &format!("/v1/schedules/{schedule}"),
            update,
        )
        .await
    }

    /// `DELETE /v1/schedules/{schedule_uuid}`
    pub async fn delete_schedule(&self, schedule: Uuid) -> Result<ScheduleView, ClientError> {
        let request = self.request(O, Method::DELETE, &format!("/v1/schedules/{schedule}"))?;
        self.call(O, request).await
    }

    /// `GET /v1/schedules/{schedule_uuid}/runs`
    pub async fn schedule_runs(
        &self,
        schedule: Uuid,
        query: &ScheduleRunsQuery,
    ) -> Result<Vec<ScheduleRunView>, ClientError> {
        let request = self
            .request(O, Method::GET, &format!("/v1/schedules/{schedule}/runs"))?
            .query(query);
        self.call(O, request).await
    }

    /// `POST /v1/schedules/{schedule_uuid}/trigger`
    pub async fn trigger_schedule(&self, schedule: Uuid) -> Result<TaskView, ClientError> {
        let request = self.request(
            O,
            Method::POST,
            &format!("/v1/schedules/{schedule}/trigger"),
        )?;
        self.call(O, request).await
    }
}
