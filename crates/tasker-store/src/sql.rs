//! `SqlStore`: the `Store` implementation shared by both backends. Each operation lives in the
//! submodule named for what it owns; this file wires them to the trait.

mod bulk;
mod claimed;
mod claims;
mod dlq;
mod dynamic;
mod engine;
mod logs;
mod manual;
mod readiness;
mod release;
mod rerun;
mod results;
mod results_batch;
mod retention;
mod rows;
mod schedules;
mod sessions;
mod stats;
mod subtasks;
mod tasks;
mod waiting;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tasker_config::SPAN_TARGET;
use tasker_core::store::{
    ClaimRequest, ClaimedStep, ConsoleSession, DlqEntry, DlqFilter, DlqStat, DlqUpdate, Lease,
    ManualAction, NewLogLine, NewTask, PerformanceStats, PurgeCount, RecordOutcome, RerunOutcome,
    RerunRequest, StepLogLine, StepRecord, StepReport, StepSignal, StepStatistics, TaskFilter,
    TaskRecord, TemplateRecord, TransitionRecord,
};
use tasker_core::{StepState, Store, StoreError, TaskState, TaskTemplate};
use tokio::sync::Notify;
use tracing::Instrument;
use uuid::Uuid;

use crate::db::{Pool, Tx};

/// PostgreSQL channel announcing claimable work to other processes.
pub(crate) const WORK_CHANNEL: &str = "tasker_work";

/// A SQLite- or PostgreSQL-backed store. Create it with [`crate::connect`].
pub struct SqlStore {
    pool: Pool,
    signal: Arc<Notify>,
    /// Batchable results as their copies see them (without `batches`), by step and completion.
    batch_heads: claimed::BatchHeads,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.backend())
            .finish()
    }
}

impl SqlStore {
    /// The connection pool (for the crate's own tests).
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    pub(crate) fn new(pool: Pool, signal: Arc<Notify>) -> Self {
        Self {
            pool,
            signal,
            batch_heads: claimed::BatchHeads::default(),
        }
    }
}

fn notify_work(signal: &Notify) {
    signal.notify_waiters();
}

/// Tells other processes (PostgreSQL only) that work became claimable; delivered on commit.
/// Queued with the transaction's other writes, once per transaction.
async fn announce(tx: &mut Tx) -> Result<(), StoreError> {
    announce_now(tx);
    Ok(())
}

/// [`announce`] for code that is not async: queued, so nothing is sent here.
pub(crate) fn announce_now(tx: &mut Tx) {
    if tx.is_pg() && tx.first_announcement() {
        tx.defer(
            "SELECT pg_notify($1, '')".to_owned(),
            crate::db::args![WORK_CHANNEL],
            None,
        );
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(..) => "sqlite",
            Pool::Pg(_) => "postgres",
        }
    }

    fn work_signal(&self) -> Arc<Notify> {
        self.signal.clone()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let answer = self.pool.one("SELECT 1 AS one", vec![]).await.map(|_| ());
        if let Err(e) = &answer {
            // Readiness answers only "unreachable"; the reason goes to the log.
            tracing::warn!(error = %e, "the store did not answer a ping");
        }
        answer
    }

    async fn upsert_template(
        &self,
        template: &TaskTemplate,
        now: DateTime<Utc>,
    ) -> Result<TemplateRecord, StoreError> {
        self.upsert_template_impl(template, now).await
    }

    async fn list_templates(&self) -> Result<Vec<TemplateRecord>, StoreError> {
        self.list_templates_impl().await
    }

    async fn create_task(
        &self,
        task: NewTask,
        now: DateTime<Utc>,
    ) -> Result<TaskRecord, StoreError> {
        let span = tracing::info_span!(target: SPAN_TARGET, "store.create_task",
            otel.kind = "client", db.system = self.backend(), task_uuid = %task.task_uuid);
        self.create_task_impl(task, now).instrument(span).await
    }

    async fn get_task(&self, task_uuid: Uuid) -> Result<Option<TaskRecord>, StoreError> {
        rows::load_task(&self.pool, task_uuid).await
    }

    async fn list_tasks(&self, filter: &TaskFilter) -> Result<(Vec<TaskRecord>, u64), StoreError> {
        self.list_tasks_impl(filter).await
    }

    async fn list_steps(&self, task_uuid: Uuid) -> Result<Vec<StepRecord>, StoreError> {
        rows::load_steps(&self.pool, task_uuid, None).await
    }

    async fn audit_trail(
        &self,
        task_uuid: Uuid,
        step_uuid: Option<Uuid>,
    ) -> Result<Vec<TransitionRecord>, StoreError> {
        self.audit_trail_impl(task_uuid, step_uuid).await
    }

    async fn cancel_task(
        &self,
        task_uuid: Uuid,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TaskRecord, StoreError> {
        self.cancel_task_impl(task_uuid, actor, reason, now).await
    }

    async fn manual_step_action(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        action: &ManualAction,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<StepRecord, StoreError> {
        self.manual_step_action_impl(task_uuid, step_uuid, action, actor, now)
            .await
    }

    async fn signal_step(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        signal: &StepSignal,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<StepRecord, StoreError> {
        self.signal_step_impl(task_uuid, step_uuid, signal, actor, now)
            .await
    }

    async fn expire_waiting_steps(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.expire_waiting_steps_impl(now).await
    }

    async fn step_state(&self, step_uuid: Uuid) -> Result<Option<StepState>, StoreError> {
        self.step_state_impl(step_uuid).await
    }

    async fn rerun_task(
        &self,
        task_uuid: Uuid,
        request: &RerunRequest,
        actor: &str,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<RerunOutcome, StoreError> {
        self.rerun_task_impl(task_uuid, request, actor, dry_run, now)
            .await
    }

    async fn claim_steps(
        &self,
        request: &ClaimRequest,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedStep>, StoreError> {
        let span = tracing::info_span!(target: SPAN_TARGET, "store.claim_steps",
            otel.kind = "client", db.system = self.backend(), worker_id = %request.worker_id,
            claimed = tracing::field::Empty);
        let claimed = self
            .claim_steps_impl(request, now)
            .instrument(span.clone())
            .await;
        if let Ok(steps) = &claimed {
            span.record("claimed", i64::try_from(steps.len()).unwrap_or(i64::MAX));
        }
        claimed
    }

    async fn renew_lease(&self, lease: &Lease, until: DateTime<Utc>) -> Result<bool, StoreError> {
        self.renew_lease_impl(lease, until).await
    }

    async fn record_result(
        &self,
        lease: &Lease,
        report: StepReport,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome, StoreError> {
        let span = tracing::info_span!(target: SPAN_TARGET, "store.record_result",
            otel.kind = "client", db.system = self.backend(), step_uuid = %lease.step_uuid,
            attempt = i64::from(lease.attempt));
        self.record_result_impl(lease, report, now)
            .instrument(span)
            .await
    }

    async fn record_results(
        &self,
        reports: &[(Lease, StepReport)],
        now: DateTime<Utc>,
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        Ok(self.record_results_impl(reports, now, None).await?.0)
    }

    async fn record_results_and_claim(
        &self,
        reports: &[(Lease, StepReport)],
        claim: &ClaimRequest,
        now: DateTime<Utc>,
    ) -> Result<(Vec<RecordOutcome>, Vec<ClaimedStep>), StoreError> {
        let claim = Some(claim).filter(|c| c.limit > 0);
        let recording = self.record_results_impl(reports, now, claim);
        let (outcomes, leases) = match reports {
            // A result written alone has the span of `record_result`.
            [(lease, _)] => {
                let span = tracing::info_span!(target: SPAN_TARGET, "store.record_result",
                    otel.kind = "client", db.system = self.backend(), step_uuid = %lease.step_uuid,
                    attempt = i64::from(lease.attempt));
                recording.instrument(span).await?
            }
            _ => recording.await?,
        };
        // The results are committed: a claim whose steps cannot be read hands them back and
        // answers none, instead of failing the recorded results.
        let claimed = match self.claimed_or_handed_back(leases, now).await {
            Ok(steps) => steps,
            Err(e) => {
                tracing::warn!(error = %e, "steps claimed with results could not be read");
                Vec::new()
            }
        };
        Ok((outcomes, claimed))
    }

    async fn enqueue_due_retries(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.enqueue_due_retries_impl(now).await
    }

    async fn next_retry_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.next_retry_at_impl().await
    }

    async fn expire_leases(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.expire_leases_impl(now).await
    }

    async fn open_stale_entries(
        &self,
        thresholds: &[(TaskState, chrono::Duration)],
        now: DateTime<Utc>,
    ) -> Result<Vec<DlqEntry>, StoreError> {
        self.open_stale_entries_impl(thresholds, now).await
    }

    async fn list_dlq(&self, filter: &DlqFilter) -> Result<Vec<DlqEntry>, StoreError> {
        self.list_dlq_impl(filter).await
    }

    async fn update_dlq_entry(
        &self,
        dlq_entry_uuid: Uuid,
        update: &DlqUpdate,
        now: DateTime<Utc>,
    ) -> Result<DlqEntry, StoreError> {
        self.update_dlq_entry_impl(dlq_entry_uuid, update, now)
            .await
    }

    async fn dlq_stats(&self, namespaces: Option<&[String]>) -> Result<Vec<DlqStat>, StoreError> {
        self.dlq_stats_impl(namespaces).await
    }

    async fn performance(&self, since: DateTime<Utc>) -> Result<PerformanceStats, StoreError> {
        self.performance_impl(since).await
    }

    async fn step_statistics(&self, limit: u32) -> Result<Vec<StepStatistics>, StoreError> {
        self.step_statistics_impl(limit).await
    }

    async fn append_step_log(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        attempt: u32,
        lines: &[NewLogLine],
    ) -> Result<(), StoreError> {
        self.append_step_log_impl(task_uuid, step_uuid, attempt, lines)
            .await
    }

    async fn step_log(
        &self,
        step_uuid: Uuid,
        attempt: u32,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<StepLogLine>, StoreError> {
        self.step_log_impl(step_uuid, attempt, after_seq, limit)
            .await
    }

    async fn release_lease(&self, lease: &Lease, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.release_lease_impl(lease, now).await
    }

    async fn purgeable_tasks(
        &self,
        finished_before: DateTime<Utc>,
    ) -> Result<PurgeCount, StoreError> {
        self.purgeable_tasks_impl(finished_before).await
    }

    async fn purge_finished_tasks(
        &self,
        finished_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<PurgeCount, StoreError> {
        self.purge_finished_tasks_impl(finished_before, limit).await
    }

    async fn task_plan(
        &self,
        task_uuid: Uuid,
    ) -> Result<Option<tasker_core::dynamic::TaskPlan>, StoreError> {
        dynamic::read_plan(&self.pool, task_uuid).await
    }

    async fn create_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError> {
        self.create_console_session_impl(session).await
    }

    async fn console_session(
        &self,
        session_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        self.console_session_impl(session_hash, now).await
    }

    async fn delete_console_session(
        &self,
        session_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.delete_console_session_impl(session_hash, now).await
    }
}
