//! The schedule loop of a server: sleeps until the earliest next fire time (or a schedule
//! change, a clock jump, or at most [`IDLE_RECHECK`]), then fires every due schedule. Each
//! firing is one store transaction checked against the schedule's stored next fire time, so
//! any number of servers may run this loop and each (schedule, fire time) still becomes one
//! task. Also registers the schedules templates declare.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tasker_core::schedule::plan_due;
use tasker_core::store::{
    FireOutcome, FirePlan, NewTask, PlannedFire, RunResult, ScheduleRecord, ScheduleSource,
    TaskMeta,
};
use tasker_core::{CronSchedule, Overlap, TaskTemplate};
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::Error;
use crate::orchestrator::{Inner, Orchestrator};

/// Longest sleep between two looks at the schedules: a schedule created on another server,
/// or one whose server died, fires within this of its time.
const IDLE_RECHECK: Duration = Duration::from_millis(500);
/// Due schedules handled per pass.
const BATCH: u32 = 100;
/// `created_by` of schedules declared in templates.
const TEMPLATE_CREATOR: &str = "template";

/// Counts fires by result (`fired`, `triggered`, `skipped`, `missed`, `failed`).
pub(crate) fn count_fire(result: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!("tasker_schedule_fires_total", "result" => result).increment(n);
    }
}

pub(crate) async fn schedule_loop(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let orchestrator = Orchestrator::from_inner(inner.clone());
    let jumps = inner.clock.jumps();
    while !*stop.borrow() {
        let changed = inner.schedules_changed.notified();
        let jumped = jumps.notified();
        tokio::pin!(changed, jumped);
        jumped.as_mut().enable();
        // After a failure the due schedules are still due: wait before trying again rather
        // than spinning on them.
        let failed = match orchestrator.fire_due_schedules().await {
            Ok(failures) => failures > 0,
            Err(e) => {
                tracing::warn!(error = %e, "firing schedules failed");
                true
            }
        };
        let wait = match inner.store.next_schedule_due().await {
            Ok(_) if failed => IDLE_RECHECK,
            Ok(Some(at)) => (at - inner.clock.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(IDLE_RECHECK),
            Ok(None) => IDLE_RECHECK,
            Err(e) => {
                tracing::warn!(error = %e, "reading the next fire time failed");
                IDLE_RECHECK
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut changed => {}
            () = &mut jumped => {}
            _ = stop.changed() => {}
        }
    }
}

impl Orchestrator {
    /// Fires every schedule due at the clock's time; returns how many schedules failed to
    /// fire (they stay due).
    pub(crate) async fn fire_due_schedules(&self) -> Result<u64, Error> {
        let now = self.inner.clock.now();
        let due = self.inner.store.due_schedules(now, BATCH).await?;
        let mut failures = 0;
        for schedule in due {
            let uuid = schedule.schedule_uuid;
            if let Err(e) = self.fire_one(schedule, now).await {
                failures += 1;
                count_fire("failed", 1);
                tracing::warn!(schedule = %uuid, error = %e, "schedule fire failed");
            }
        }
        Ok(failures)
    }

    async fn fire_one(&self, schedule: ScheduleRecord, now: DateTime<Utc>) -> Result<u64, Error> {
        let Some(expected) = schedule.next_fire_at else {
            return Ok(0);
        };
        // A stored expression is valid (it was checked when written); should it not parse,
        // the schedule stops (no next fire time) instead of coming due forever.
        let due = match CronSchedule::parse(&schedule.cron, &schedule.timezone) {
            Ok(cron) => plan_due(&cron, expected, schedule.catchup, now),
            Err(e) => {
                tracing::error!(schedule = %schedule.schedule_uuid, problems = ?e, "stored schedule does not parse; stopping it");
                tasker_core::schedule::DuePlan {
                    fire: Vec::new(),
                    missed: 1,
                    next_fire_at: None,
                }
            }
        };
        let mut fires = Vec::with_capacity(due.fire.len());
        for fire_at in &due.fire {
            match self.scheduled_task(&schedule).await {
                Ok(task) => fires.push(PlannedFire {
                    fire_at: *fire_at,
                    task,
                }),
                // The template (version) is gone: the fire time passes without a task, and
                // the schedule moves on rather than coming due forever.
                Err(e) => {
                    count_fire("failed", 1);
                    tracing::warn!(schedule = %schedule.schedule_uuid, %fire_at, error = %e, "schedule cannot fire");
                }
            }
        }
        let plan = FirePlan {
            schedule_uuid: schedule.schedule_uuid,
            expected_next: Some(expected),
            fires,
            next_fire_at: due.next_fire_at,
            skip_if_running: schedule.overlap == Overlap::Skip,
        };
        let FireOutcome::Done(runs) = self.inner.store.fire_schedule(plan, now).await? else {
            return Ok(0);
        };
        count_fire("missed", due.missed);
        let created_at = self.inner.clock.now();
        let mut fired = 0;
        for run in &runs {
            match run.result {
                RunResult::Skipped => count_fire("skipped", 1),
                RunResult::Fired | RunResult::Triggered => {
                    fired += 1;
                    count_fire("fired", 1);
                    let lag = (created_at - run.scheduled_for).num_milliseconds().max(0);
                    metrics::histogram!("tasker_schedule_fire_lag_seconds")
                        .record(lag as f64 / 1000.0);
                }
            }
        }
        if fired > 0 {
            tracing::info!(schedule = %schedule.schedule_uuid, fired, "schedule fired");
        }
        Ok(fired)
    }

    /// A task of the schedule's template (the latest version when it names none), marked as
    /// the schedule's: `created_by` and a tag `schedule:<uuid>`.
    pub(crate) async fn scheduled_task(&self, schedule: &ScheduleRecord) -> Result<NewTask, Error> {
        let template = self
            .resolve_template(
                &schedule.namespace,
                &schedule.name,
                schedule.version.as_deref(),
            )
            .await?;
        let marker = format!("schedule:{}", schedule.schedule_uuid);
        let task = NewTask {
            task_uuid: Uuid::now_v7(),
            namespace: template.namespace.clone(),
            name: template.name.clone(),
            version: template.version.clone(),
            context: schedule.context.clone(),
            created_by: marker.clone(),
            meta: TaskMeta {
                initiator: Some(schedule.created_by.clone()),
                source_system: Some("tasker-schedule".to_owned()),
                reason: schedule.description.clone(),
                tags: vec![marker],
                ..TaskMeta::default()
            },
            plan: None,
            steps: Vec::new(),
            trace_parent: None,
        };
        Ok(crate::tasks::with_steps(task, &template, &self.inner))
    }

    /// Registers the schedules declared by the latest version of each template, replacing the
    /// template schedules a previous load registered. Schedules created through the API are
    /// left alone.
    pub(crate) async fn sync_template_schedules(&self) -> Result<(), Error> {
        let records = self.inner.store.list_templates().await?;
        let mut latest: BTreeMap<(String, String), TaskTemplate> = BTreeMap::new();
        for r in records {
            let key = (r.template.namespace.clone(), r.template.name.clone());
            let newer = latest
                .get(&key)
                .is_none_or(|t| r.template.semver() > t.semver());
            if newer {
                latest.insert(key, r.template);
            }
        }
        let now = self.inner.clock.now();
        for ((namespace, name), template) in latest {
            let declared = declared_schedules(&template, now);
            let (inserted, updated, removed) = self
                .inner
                .store
                .sync_template_schedules(&namespace, &name, &declared, now)
                .await?;
            if inserted + updated + removed > 0 {
                tracing::info!(
                    %namespace, %name, inserted, updated, removed,
                    "template schedules registered"
                );
            }
        }
        self.inner.schedules_changed.notify_one();
        Ok(())
    }
}

/// The schedule records a template declares (parsed at template load, so they are valid).
fn declared_schedules(template: &TaskTemplate, now: DateTime<Utc>) -> Vec<ScheduleRecord> {
    template
        .schedules
        .iter()
        .enumerate()
        .filter_map(|(index, spec)| {
            let cron = CronSchedule::parse(&spec.cron, &spec.timezone).ok()?;
            Some(ScheduleRecord {
                schedule_uuid: Uuid::now_v7(),
                namespace: template.namespace.clone(),
                name: template.name.clone(),
                version: None,
                cron: spec.cron.trim().to_owned(),
                timezone: cron.timezone().to_owned(),
                context: spec.context.clone(),
                overlap: spec.overlap,
                catchup: spec.catchup,
                paused: false,
                description: Some(format!(
                    "declared by template {}/{} (schedules[{index}])",
                    template.namespace, template.name
                )),
                created_by: TEMPLATE_CREATOR.to_owned(),
                source: ScheduleSource::Template(u32::try_from(index).unwrap_or(u32::MAX)),
                next_fire_at: cron.next_after(now),
                last_fired_at: None,
                last_task_uuid: None,
                created_at: now,
                updated_at: now,
            })
        })
        .collect()
}
