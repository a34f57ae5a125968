//! Schedules as stored, their runs, and the persistence contract of the firing loop: a fire
//! plan commits its tasks together with one run row per (schedule, fire time), whose unique
//! key makes each fire time fire at most once across every server.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::{NewTask, StoreError};
use crate::schedule::{Catchup, Overlap};

/// Where a schedule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleSource {
    /// Created through the API; only the API changes or removes it.
    Api,
    /// Declared at this position of its template's `schedules:` list; the template's loading
    /// keeps it in step with the YAML.
    Template(u32),
}

/// A stored schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRecord {
    /// Id.
    pub schedule_uuid: Uuid,
    /// Template namespace.
    pub namespace: String,
    /// Template name.
    pub name: String,
    /// Template version; the latest at each fire when `None`.
    pub version: Option<String>,
    /// Cron expression.
    pub cron: String,
    /// IANA timezone of the expression.
    pub timezone: String,
    /// Context of every task it fires.
    pub context: Value,
    /// Overlap policy.
    pub overlap: Overlap,
    /// Catch-up policy.
    pub catchup: Catchup,
    /// Paused schedules do not fire (a manual trigger still does).
    pub paused: bool,
    /// Free text.
    pub description: Option<String>,
    /// Subject that created it (`template` for template schedules).
    pub created_by: String,
    /// API or template.
    pub source: ScheduleSource,
    /// The next fire time; `None` when the expression has no future time.
    pub next_fire_at: Option<DateTime<Utc>>,
    /// The fire time of the latest run.
    pub last_fired_at: Option<DateTime<Utc>>,
    /// The task of the latest fired run.
    pub last_task_uuid: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change of its definition.
    pub updated_at: DateTime<Utc>,
}

/// Schedule list filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScheduleFilter {
    /// Namespace equals.
    pub namespace: Option<String>,
    /// Namespace is one of these; `None` for every namespace (a caller's visibility).
    pub namespaces: Option<Vec<String>>,
    /// Template name equals.
    pub name: Option<String>,
}

/// One fire time to turn into a task.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedFire {
    /// The fire time, recorded as the task's `scheduled_for`.
    pub fire_at: DateTime<Utc>,
    /// The task to create.
    pub task: NewTask,
}

/// What one firing of a schedule does, made outside the transaction and checked inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct FirePlan {
    /// The schedule.
    pub schedule_uuid: Uuid,
    /// The stored `next_fire_at` the plan was computed from. The store fires nothing when the
    /// stored value differs (another server fired first, or the schedule changed). `None`
    /// for a manual trigger, which fires whatever the schedule's state.
    pub expected_next: Option<DateTime<Utc>>,
    /// The fires, oldest first.
    pub fires: Vec<PlannedFire>,
    /// The schedule's next fire time afterwards (ignored for a manual trigger).
    pub next_fire_at: Option<DateTime<Utc>>,
    /// `overlap: skip`: a fire whose previous task is unfinished is recorded as skipped.
    pub skip_if_running: bool,
}

/// How one run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    /// A task was created for the fire time.
    Fired,
    /// A task was created by a manual trigger.
    Triggered,
    /// No task: the previous one was unfinished (`overlap: skip`).
    Skipped,
}

impl RunResult {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Fired => "fired",
            RunResult::Triggered => "triggered",
            RunResult::Skipped => "skipped",
        }
    }

    /// The variant named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [RunResult::Fired, RunResult::Triggered, RunResult::Skipped]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// One recorded (schedule, fire time).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRun {
    /// The schedule.
    pub schedule_uuid: Uuid,
    /// The fire time.
    pub scheduled_for: DateTime<Utc>,
    /// Fired, triggered or skipped.
    pub result: RunResult,
    /// The task created, unless skipped.
    pub task_uuid: Option<Uuid>,
    /// The task's current state, when it has one.
    pub task_status: Option<String>,
    /// When the run was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// The result of [`ScheduleStore::fire_schedule`].
#[derive(Debug, Clone, PartialEq)]
pub enum FireOutcome {
    /// The plan committed; one run per planned fire.
    Done(Vec<ScheduleRun>),
    /// The plan was stale (another server fired, or the schedule changed or went away);
    /// nothing was written.
    Stale,
}

/// Persistence of schedules and their runs.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    /// Stores a new schedule.
    async fn insert_schedule(&self, schedule: &ScheduleRecord) -> Result<(), StoreError>;
    /// Replaces a schedule's definition (template, cron, timezone, context, policies, paused,
    /// description) and next fire time; its runs and last fire are kept. `false` when it
    /// does not exist.
    async fn update_schedule(&self, schedule: &ScheduleRecord) -> Result<bool, StoreError>;
    /// Removes a schedule and its runs; `false` when it does not exist.
    async fn delete_schedule(&self, schedule_uuid: Uuid) -> Result<bool, StoreError>;
    /// One schedule.
    async fn get_schedule(&self, schedule_uuid: Uuid)
    -> Result<Option<ScheduleRecord>, StoreError>;
    /// Schedules matching the filter, by namespace, name and creation.
    async fn list_schedules(
        &self,
        filter: &ScheduleFilter,
    ) -> Result<Vec<ScheduleRecord>, StoreError>;
    /// Unpaused schedules whose next fire time is at or before `now`, earliest first.
    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ScheduleRecord>, StoreError>;
    /// The earliest next fire time of an unpaused schedule.
    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Applies a fire plan in one transaction: checks `expected_next` against the locked
    /// schedule, records one run per fire (unique per schedule and fire time), creates the
    /// tasks (skipping under `skip_if_running` while the previous task is unfinished), and
    /// moves the schedule's next fire time.
    async fn fire_schedule(
        &self,
        plan: FirePlan,
        now: DateTime<Utc>,
    ) -> Result<FireOutcome, StoreError>;
    /// Runs of a schedule, newest fire time first.
    async fn schedule_runs(
        &self,
        schedule_uuid: Uuid,
        limit: u32,
    ) -> Result<Vec<ScheduleRun>, StoreError>;
    /// Makes the template schedules of `namespace/name` exactly `declared` (each with a
    /// [`ScheduleSource::Template`] position): new positions are inserted, changed ones
    /// updated (keeping their id and runs), unchanged ones left alone (keeping their next
    /// fire time and paused flag), and positions no longer declared removed. API schedules are
    /// never touched. Returns how many were inserted, updated and removed.
    async fn sync_template_schedules(
        &self,
        namespace: &str,
        name: &str,
        declared: &[ScheduleRecord],
        now: DateTime<Utc>,
    ) -> Result<(u64, u64, u64), StoreError>;
}
