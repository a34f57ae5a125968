//! Schedule operations: create (cron, timezone, template and context checked once, here),
//! list, get (with upcoming fire times), change, pause/resume, delete, runs and manual
//! trigger. Every operation takes the caller's [`Scope`] for its permission: a schedule in a
//! namespace outside it does not exist for the caller, and creating one there is forbidden
//! naming the scoped permission.

use tasker_core::CronSchedule;
use tasker_core::store::{
    FireOutcome, FirePlan, PlannedFire, ScheduleFilter, ScheduleRecord, ScheduleSource,
};
use tasker_proto::api::{
    CreateScheduleRequest, ScheduleListQuery, ScheduleQuery, ScheduleRunView, ScheduleRunsQuery,
    ScheduleView, TaskView, UpdateScheduleRequest,
};
use tasker_proto::{Permission, Scope};
use uuid::Uuid;

use crate::error::Error;
use crate::limits::{MAX_NAME_CHARS, MAX_TEXT_CHARS, check_context, over_limits, refuse};
use crate::orchestrator::Orchestrator;
use crate::{schedule_views, views};

const MAX_UPCOMING: u32 = 100;
const DEFAULT_RUNS: u32 = 25;
const MAX_RUNS: u32 = 100;

fn parse_cron(cron: &str, timezone: &str) -> Result<CronSchedule, Error> {
    CronSchedule::parse(cron, timezone)
        .map_err(|errors| Error::Unprocessable(errors.iter().map(ToString::to_string).collect()))
}

impl Orchestrator {
    /// Creates a schedule; `created_by` is the authenticated subject, `scope` where it holds
    /// `schedules:write`.
    pub async fn create_schedule(
        &self,
        request: CreateScheduleRequest,
        created_by: &str,
        scope: &Scope,
    ) -> Result<ScheduleView, Error> {
        refuse(over_limits(&[
            ("namespace", Some(&request.namespace), MAX_NAME_CHARS),
            ("name", Some(&request.name), MAX_NAME_CHARS),
            ("version", request.version.as_deref(), MAX_NAME_CHARS),
            (
                "description",
                request.description.as_deref(),
                MAX_TEXT_CHARS,
            ),
        ]))?;
        if !scope.contains(&request.namespace) {
            return Err(Error::forbidden_in(
                Permission::SchedulesWrite,
                &request.namespace,
            ));
        }
        let cron = parse_cron(&request.cron, &request.timezone)?;
        let template = self
            .resolve_template(
                &request.namespace,
                &request.name,
                request.version.as_deref(),
            )
            .await?;
        check_context(&template, &request.context)?;
        let now = self.inner.clock.now();
        let record = ScheduleRecord {
            schedule_uuid: Uuid::now_v7(),
            namespace: template.namespace,
            name: template.name,
            version: request.version,
            cron: request.cron.trim().to_owned(),
            timezone: cron.timezone().to_owned(),
            context: request.context,
            overlap: schedule_views::overlap(request.overlap),
            catchup: schedule_views::catchup(request.catchup),
            paused: request.paused,
            description: request.description,
            created_by: created_by.to_owned(),
            source: ScheduleSource::Api,
            next_fire_at: cron.next_after(now),
            last_fired_at: None,
            last_task_uuid: None,
            created_at: now,
            updated_at: now,
        };
        self.inner.store.insert_schedule(&record).await?;
        self.inner.schedules_changed.notify_one();
        Ok(schedule_views::schedule(record))
    }

    /// The schedules `scope` can see, by namespace, name and creation.
    pub async fn list_schedules(
        &self,
        query: ScheduleListQuery,
        scope: &Scope,
    ) -> Result<Vec<ScheduleView>, Error> {
        let filter = ScheduleFilter {
            namespace: query.namespace,
            namespaces: scope.namespaces(),
            name: query.name,
        };
        let records = self.inner.store.list_schedules(&filter).await?;
        Ok(records.into_iter().map(schedule_views::schedule).collect())
    }

    async fn visible_schedule(
        &self,
        schedule_uuid: Uuid,
        scope: &Scope,
    ) -> Result<ScheduleRecord, Error> {
        self.inner
            .store
            .get_schedule(schedule_uuid)
            .await?
            .filter(|s| scope.contains(&s.namespace))
            .ok_or_else(|| Error::NotFound(format!("schedule {schedule_uuid}")))
    }

    /// One schedule, with its next `upcoming` fire times when asked for.
    pub async fn get_schedule(
        &self,
        schedule_uuid: Uuid,
        query: ScheduleQuery,
        scope: &Scope,
    ) -> Result<ScheduleView, Error> {
        let count = query.upcoming.unwrap_or(0);
        if count > MAX_UPCOMING {
            return Err(Error::BadRequest(format!(
                "upcoming must be between 0 and {MAX_UPCOMING}"
            )));
        }
        let record = self.visible_schedule(schedule_uuid, scope).await?;
        let upcoming = match (count, &record.next_fire_at) {
            (0, _) | (_, None) => Vec::new(),
            (n, Some(first)) => {
                let cron = parse_cron(&record.cron, &record.timezone)?;
                let mut times = vec![*first];
                times.extend(cron.upcoming(*first, n as usize - 1));
                times
            }
        };
        Ok(ScheduleView {
            upcoming,
            ..schedule_views::schedule(record)
        })
    }

    /// Changes a schedule. A new cron or timezone, or a resume, moves the next fire time to
    /// the first one after now (a resumed schedule does not catch up its pause).
    pub async fn update_schedule(
        &self,
        schedule_uuid: Uuid,
        request: UpdateScheduleRequest,
        scope: &Scope,
    ) -> Result<ScheduleView, Error> {
        refuse(over_limits(&[
            ("version", request.version.as_deref(), MAX_NAME_CHARS),
            (
                "description",
                request.description.as_deref(),
                MAX_TEXT_CHARS,
            ),
        ]))?;
        let old = self.visible_schedule(schedule_uuid, scope).await?;
        let cron_text = request.cron.as_deref().map_or(old.cron.as_str(), str::trim);
        let timezone = request.timezone.as_deref().unwrap_or(&old.timezone);
        let cron = parse_cron(cron_text, timezone)?;
        let version = request.version.clone().or(old.version.clone());
        let context = request.context.clone().unwrap_or(old.context.clone());
        if request.version.is_some() || request.context.is_some() {
            let template = self
                .resolve_template(&old.namespace, &old.name, version.as_deref())
                .await?;
            check_context(&template, &context)?;
        }
        let now = self.inner.clock.now();
        let paused = request.paused.unwrap_or(old.paused);
        let retime =
            request.cron.is_some() || request.timezone.is_some() || (old.paused && !paused);
        let record = ScheduleRecord {
            version,
            cron: cron_text.to_owned(),
            timezone: cron.timezone().to_owned(),
            context,
            overlap: request.overlap.map_or(old.overlap, schedule_views::overlap),
            catchup: request.catchup.map_or(old.catchup, schedule_views::catchup),
            paused,
            description: request.description.or(old.description.clone()),
            next_fire_at: if retime {
                cron.next_after(now)
            } else {
                old.next_fire_at
            },
            updated_at: now,
            ..old
        };
        if !self.inner.store.update_schedule(&record).await? {
            return Err(Error::NotFound(format!("schedule {schedule_uuid}")));
        }
        self.inner.schedules_changed.notify_one();
        Ok(schedule_views::schedule(record))
    }

    /// Removes a schedule and its runs, answering it as it was; the tasks it fired stay.
    pub async fn delete_schedule(
        &self,
        schedule_uuid: Uuid,
        scope: &Scope,
    ) -> Result<ScheduleView, Error> {
        let record = self.visible_schedule(schedule_uuid, scope).await?;
        if !self.inner.store.delete_schedule(schedule_uuid).await? {
            return Err(Error::NotFound(format!("schedule {schedule_uuid}")));
        }
        Ok(schedule_views::schedule(record))
    }

    /// Runs of a schedule, newest fire time first.
    pub async fn schedule_runs(
        &self,
        schedule_uuid: Uuid,
        query: ScheduleRunsQuery,
        scope: &Scope,
    ) -> Result<Vec<ScheduleRunView>, Error> {
        let limit = query.limit.unwrap_or(DEFAULT_RUNS);
        if !(1..=MAX_RUNS).contains(&limit) {
            return Err(Error::BadRequest(format!(
                "limit must be between 1 and {MAX_RUNS}"
            )));
        }
        self.visible_schedule(schedule_uuid, scope).await?;
        let runs = self.inner.store.schedule_runs(schedule_uuid, limit).await?;
        Ok(runs.into_iter().map(schedule_views::run).collect())
    }

    /// Fires the schedule now (paused or not, whatever its overlap policy): one task with
    /// `scheduled_for` = now.
    pub async fn trigger_schedule(
        &self,
        schedule_uuid: Uuid,
        scope: &Scope,
    ) -> Result<TaskView, Error> {
        let schedule = self.visible_schedule(schedule_uuid, scope).await?;
        let now = self.inner.clock.now();
        let task = self.scheduled_task(&schedule).await?;
        let task_uuid = task.task_uuid;
        let plan = FirePlan {
            schedule_uuid,
            expected_next: None,
            fires: vec![PlannedFire { fire_at: now, task }],
            next_fire_at: None,
            skip_if_running: false,
        };
        match self.inner.store.fire_schedule(plan, now).await? {
            FireOutcome::Done(_) => {
                crate::scheduler::count_fire("triggered", 1);
                let record = self
                    .inner
                    .store
                    .get_task(task_uuid)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("task {task_uuid}")))?;
                Ok(views::task(record, false))
            }
            FireOutcome::Stale => Err(Error::Conflict(format!(
                "schedule {schedule_uuid} already fired at {now}; try again"
            ))),
        }
    }
}
