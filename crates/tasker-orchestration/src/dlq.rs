//! Dead-letter queue operations: listings, the investigation queue, staleness monitoring,
//! statistics and entry updates, each over the namespaces of the caller's [`Scope`].

use chrono::Utc;
use tasker_core::store::{DlqFilter, DlqUpdate, ResolutionStatus, TaskFilter};
use tasker_proto::Scope;
use tasker_proto::api::{DlqEntryView, DlqListQuery, DlqStatView, DlqUpdateRequest, StalenessView};
use uuid::Uuid;

use crate::error::Error;
use crate::orchestrator::Orchestrator;
use crate::views;

const MAX_LIMIT: u64 = 100;

impl Orchestrator {
    /// DLQ entries, newest first.
    pub async fn list_dlq(
        &self,
        query: DlqListQuery,
        scope: &Scope,
    ) -> Result<Vec<DlqEntryView>, Error> {
        let limit = query.limit.unwrap_or(50);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::BadRequest(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        let filter = DlqFilter {
            resolution_status: query.resolution_status.map(views::resolution_status),
            dlq_reason: query.dlq_reason.map(views::dlq_reason),
            offset: query.offset.unwrap_or(0),
            limit,
            namespaces: scope.namespaces(),
            ..DlqFilter::default()
        };
        self.dlq_entries(&filter).await
    }

    async fn dlq_entries(&self, filter: &DlqFilter) -> Result<Vec<DlqEntryView>, Error> {
        let entries = self.inner.store.list_dlq(filter).await?;
        Ok(entries.into_iter().map(views::dlq_entry).collect())
    }

    /// Every DLQ entry of one task (not found when the task does not exist).
    pub async fn dlq_for_task(
        &self,
        task_uuid: Uuid,
        scope: &Scope,
    ) -> Result<Vec<DlqEntryView>, Error> {
        self.visible_task(task_uuid, scope).await?;
        let filter = DlqFilter {
            task_uuid: Some(task_uuid),
            limit: 1000,
            ..DlqFilter::default()
        };
        self.dlq_entries(&filter).await
    }

    /// Pending entries, highest task priority first, then oldest.
    pub async fn investigation_queue(
        &self,
        limit: Option<u64>,
        scope: &Scope,
    ) -> Result<Vec<DlqEntryView>, Error> {
        let filter = DlqFilter {
            resolution_status: Some(ResolutionStatus::Pending),
            by_priority: true,
            limit: limit.unwrap_or(50).clamp(1, MAX_LIMIT),
            namespaces: scope.namespaces(),
            ..DlqFilter::default()
        };
        self.dlq_entries(&filter).await
    }

    /// Tasks waiting in `pending`, `steps_in_process` or `waiting_for_retry`, longest first,
    /// with their configured threshold and whether they passed it.
    pub async fn staleness(&self, scope: &Scope) -> Result<Vec<StalenessView>, Error> {
        let now = Utc::now();
        let mut out = Vec::new();
        for (state, threshold) in crate::background::thresholds(&self.inner) {
            let filter = TaskFilter {
                status: Some(state),
                limit: 100,
                namespaces: scope.namespaces(),
                ..TaskFilter::default()
            };
            let (tasks, _) = self.inner.store.list_tasks(&filter).await?;
            for t in tasks {
                let minutes = (now - t.status_changed_at).num_minutes();
                out.push(StalenessView {
                    task_uuid: t.task_uuid,
                    namespace: t.namespace,
                    name: t.name,
                    status: t.status.as_str().to_owned(),
                    status_changed_at: t.status_changed_at,
                    minutes_in_state: minutes,
                    threshold_minutes: u64::try_from(threshold.num_minutes()).unwrap_or(0),
                    stale: now - t.status_changed_at > threshold,
                });
            }
        }
        out.sort_by_key(|v| v.status_changed_at);
        Ok(out)
    }

    /// Entry counts per reason and resolution status.
    pub async fn dlq_stats(&self, scope: &Scope) -> Result<Vec<DlqStatView>, Error> {
        let namespaces = scope.namespaces();
        let stats = self.inner.store.dlq_stats(namespaces.as_deref()).await?;
        Ok(stats.into_iter().map(views::dlq_stat).collect())
    }

    /// Updates an entry's resolution status and notes; `resolver` is the authenticated subject.
    pub async fn update_dlq_entry(
        &self,
        dlq_entry_uuid: Uuid,
        request: DlqUpdateRequest,
        resolver: &str,
        scope: &Scope,
    ) -> Result<DlqEntryView, Error> {
        let visible = DlqFilter {
            dlq_entry_uuid: Some(dlq_entry_uuid),
            namespaces: scope.namespaces(),
            limit: 1,
            ..DlqFilter::default()
        };
        if self.inner.store.list_dlq(&visible).await?.is_empty() {
            return Err(Error::NotFound(format!("DLQ entry {dlq_entry_uuid}")));
        }
        if request.resolution_status.is_none() && request.resolution_notes.is_none() {
            return Err(Error::Unprocessable(vec![
                "set resolution_status, resolution_notes or both".into(),
            ]));
        }
        let update = DlqUpdate {
            resolution_status: request.resolution_status.map(views::resolution_status),
            notes: request.resolution_notes,
            resolver: resolver.to_owned(),
        };
        let entry = self
            .inner
            .store
            .update_dlq_entry(dlq_entry_uuid, &update, Utc::now())
            .await?;
        Ok(views::dlq_entry(entry))
    }
}
