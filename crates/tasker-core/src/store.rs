//! The persistence contract. Implementations (SQLite, PostgreSQL) make every operation here
//! atomic: a state change, its audit rows and the enqueueing of newly ready steps commit
//! together or not at all.

mod dlq;
mod logs;
mod records;
mod retention;
mod schedules;
mod sessions;
mod stats;
mod work;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::state::{TaskState, TransitionError};
use crate::template::TaskTemplate;

pub use dlq::*;
pub use logs::*;
pub use records::*;
pub use retention::*;
pub use schedules::*;
pub use sessions::*;
pub use stats::*;
pub use work::*;

/// Errors of a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named entity does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A task with the same idempotency key already exists for the template.
    #[error("idempotency key already used by task {existing}")]
    DuplicateIdempotencyKey {
        /// The task created earlier with the key.
        existing: Uuid,
    },
    /// The operation conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The lifecycle refuses the change.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Stored data could not be decoded.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Persistence of templates, tasks, steps, audit trail, leases and the DLQ, and (through
/// [`ScheduleStore`]) of schedules.
#[async_trait]
pub trait Store: ScheduleStore + Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Notified (within this process, and across processes where the backend can) whenever
    /// steps become claimable or the orchestration loop has work.
    fn work_signal(&self) -> Arc<tokio::sync::Notify>;
    /// Readiness probe: one round trip to the database.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Registers or replaces a template version.
    async fn upsert_template(
        &self,
        template: &TaskTemplate,
        now: DateTime<Utc>,
    ) -> Result<TemplateRecord, StoreError>;
    /// All registered templates, ordered by namespace, name, version.
    async fn list_templates(&self) -> Result<Vec<TemplateRecord>, StoreError>;

    /// Creates a task with its steps and edges, records the creation transitions and
    /// enqueues the root steps.
    async fn create_task(
        &self,
        task: NewTask,
        now: DateTime<Utc>,
    ) -> Result<TaskRecord, StoreError>;
    /// One task with its step counts.
    async fn get_task(&self, task_uuid: Uuid) -> Result<Option<TaskRecord>, StoreError>;
    /// A page of tasks (newest first) and the total count matching the filter.
    async fn list_tasks(&self, filter: &TaskFilter) -> Result<(Vec<TaskRecord>, u64), StoreError>;
    /// Steps of a task in creation (topological) order.
    async fn list_steps(&self, task_uuid: Uuid) -> Result<Vec<StepRecord>, StoreError>;
    /// Transitions of one task and its steps (`step_uuid = None`), or of one step, oldest first.
    async fn audit_trail(
        &self,
        task_uuid: Uuid,
        step_uuid: Option<Uuid>,
    ) -> Result<Vec<TransitionRecord>, StoreError>;
    /// Cancels the task and every unfinished step; refused when the task already ended.
    async fn cancel_task(
        &self,
        task_uuid: Uuid,
        actor: &str,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<TaskRecord, StoreError>;
    /// Applies an operator action to a step and resumes the task when it can go on.
    async fn manual_step_action(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        action: &ManualAction,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<StepRecord, StoreError>;

    /// Signals a waiting approval step: approve completes it, reject fails it permanently
    /// (the task blocks with a DLQ entry); `NotFound` for a step not in the task, `Conflict`
    /// for a step that is not waiting or not an approval.
    async fn signal_step(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        signal: &StepSignal,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<StepRecord, StoreError>;
    /// Fails every waiting step whose deadline (an approval's timeout) passed by `now`;
    /// returns how many.
    async fn expire_waiting_steps(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// The current state of a step (`None` for an unknown step): a cheap probe a worker
    /// polls to learn that the step it runs was cancelled.
    async fn step_state(&self, step_uuid: Uuid) -> Result<Option<crate::StepState>, StoreError>;
    /// Resets `from_step` and every step downstream of it to `pending` (runtime-created steps
    /// downstream are removed, to be created again) and puts the task back in process;
    /// allowed on `complete`, `error` and `blocked_by_failures` tasks (`Conflict` otherwise,
    /// `NotFound` for an unknown step). With `dry_run` nothing changes.
    async fn rerun_task(
        &self,
        task_uuid: Uuid,
        request: &RerunRequest,
        actor: &str,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<RerunOutcome, StoreError>;

    /// Claims up to `limit` enqueued steps of the given namespaces with a lease.
    async fn claim_steps(
        &self,
        request: &ClaimRequest,
        now: DateTime<Utc>,
    ) -> Result<Vec<ClaimedStep>, StoreError>;
    /// Extends a lease; `false` when the caller no longer holds it.
    async fn renew_lease(&self, lease: &Lease, until: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Records an attempt's outcome if `lease` is still the current lease, then advances the
    /// task (enqueue dependents, schedule retry, block on permanent failure, complete).
    async fn record_result(
        &self,
        lease: &Lease,
        report: StepReport,
        now: DateTime<Utc>,
    ) -> Result<RecordOutcome, StoreError>;
    /// Records many attempts' outcomes (what a worker finished while its previous write was in
    /// flight) under the rules of [`Store::record_result`], one outcome per report in order; a
    /// store may do it in fewer transactions. An error means none of them is known recorded.
    async fn record_results(
        &self,
        reports: &[(Lease, StepReport)],
        now: DateTime<Utc>,
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        let mut outcomes = Vec::with_capacity(reports.len());
        for (lease, report) in reports {
            outcomes.push(self.record_result(lease, report.clone(), now).await?);
        }
        Ok(outcomes)
    }

    /// Records results under the rules of [`Store::record_results`] and then claims up to
    /// `claim.limit` steps for the reporting worker, in the same transaction: the slots the
    /// finished steps free get their next steps with the commit that records the results,
    /// without a wake-up and a claim of their own (a linear task's next step is claimed by
    /// the write that enqueues it). An error means none of the results is known recorded and
    /// nothing was claimed. Default, for a store that cannot share the transaction: the
    /// results only, and no steps (the worker claims for its free slots as usual).
    async fn record_results_and_claim(
        &self,
        reports: &[(Lease, StepReport)],
        claim: &ClaimRequest,
        now: DateTime<Utc>,
    ) -> Result<(Vec<RecordOutcome>, Vec<ClaimedStep>), StoreError> {
        let _ = claim;
        Ok((self.record_results(reports, now).await?, Vec::new()))
    }

    /// Enqueues `waiting_for_retry` steps whose time has come; returns how many.
    async fn enqueue_due_retries(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// The earliest pending retry time, if any.
    async fn next_retry_at(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Takes steps whose lease expired away from their worker (re-enqueued, or failed when
    /// out of attempts); returns how many.
    async fn expire_leases(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Opens `staleness_timeout` DLQ entries for tasks that have been in one of the given
    /// states longer than its threshold and have no pending entry yet.
    async fn open_stale_entries(
        &self,
        thresholds: &[(TaskState, chrono::Duration)],
        now: DateTime<Utc>,
    ) -> Result<Vec<DlqEntry>, StoreError>;

    /// DLQ entries matching the filter, newest first.
    async fn list_dlq(&self, filter: &DlqFilter) -> Result<Vec<DlqEntry>, StoreError>;
    /// Changes an entry's resolution status and notes.
    async fn update_dlq_entry(
        &self,
        dlq_entry_uuid: Uuid,
        update: &DlqUpdate,
        now: DateTime<Utc>,
    ) -> Result<DlqEntry, StoreError>;
    /// Entry counts per reason and resolution status, over the tasks of `namespaces` (`None`
    /// for every namespace).
    async fn dlq_stats(&self, namespaces: Option<&[String]>) -> Result<Vec<DlqStat>, StoreError>;

    /// Task and step execution figures since `since`.
    async fn performance(&self, since: DateTime<Utc>) -> Result<PerformanceStats, StoreError>;
    /// Per template step: executions, failures and durations, slowest first.
    async fn step_statistics(&self, limit: u32) -> Result<Vec<StepStatistics>, StoreError>;

    /// Appends lines to the log of one attempt of a step, in order.
    async fn append_step_log(
        &self,
        task_uuid: Uuid,
        step_uuid: Uuid,
        attempt: u32,
        lines: &[NewLogLine],
    ) -> Result<(), StoreError>;
    /// Up to `limit` lines of one attempt's log with `seq > after_seq`, oldest first.
    async fn step_log(
        &self,
        step_uuid: Uuid,
        attempt: u32,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<StepLogLine>, StoreError>;
    /// Gives a lease back before its attempt ends (a worker shutting down): the step is
    /// enqueued at once, the attempt does not count against `max_attempts`, and the audit trail
    /// records the release by the lease holder. `false` when the caller no longer holds it.
    async fn release_lease(&self, lease: &Lease, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// What [`Store::purge_finished_tasks`] would delete for `finished_before`, over every
    /// batch; deletes nothing.
    async fn purgeable_tasks(
        &self,
        finished_before: DateTime<Utc>,
    ) -> Result<PurgeCount, StoreError>;
    /// Deletes, in one transaction, up to `limit` tasks (oldest first) that ended before
    /// `finished_before` and have no pending DLQ entry, with their steps, edges, audit rows,
    /// results and (resolved) DLQ entries. Unfinished tasks are never touched.
    async fn purge_finished_tasks(
        &self,
        finished_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<PurgeCount, StoreError>;
    /// The plan of a dynamic task (every template step, created or not); `None` for a task of
    /// a static template or an unknown task.
    async fn task_plan(
        &self,
        task_uuid: Uuid,
    ) -> Result<Option<crate::dynamic::TaskPlan>, StoreError>;
    /// Stores a new console session.
    async fn create_console_session(&self, session: &ConsoleSession) -> Result<(), StoreError>;
    /// The session with this hash when it exists and has not expired at `now`.
    async fn console_session(
        &self,
        session_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ConsoleSession>, StoreError>;
    /// Ends a session; also removes every session expired at `now`.
    async fn delete_console_session(
        &self,
        session_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}
