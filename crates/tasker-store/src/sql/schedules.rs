//! Schedules and their runs: CRUD, the due query, the firing transaction (which locks the
//! schedule row, records one run per fire time under a unique key and creates the tasks in
//! the same commit), and the synchronisation of template-declared schedules.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tasker_core::StoreError;
use tasker_core::store::{
    FireOutcome, FirePlan, RunResult, ScheduleFilter, ScheduleRecord, ScheduleRun, ScheduleSource,
    ScheduleStore,
};
use uuid::Uuid;

use super::tasks::insert_task_rows;
use super::{SqlStore, notify_work};
use crate::db::{Arg, Row, Tx, args, json_text};

const COLUMNS: &str = "schedule_uuid, namespace, name, version, cron, timezone, context, \
    overlap, catchup, paused, description, created_by, template_index, next_fire_at, \
    last_fired_at, last_task_uuid, created_at, updated_at";

fn record(r: &Row) -> Result<ScheduleRecord, StoreError> {
    let source = match r.opt_int("template_index")? {
        None => ScheduleSource::Api,
        Some(i) => ScheduleSource::Template(
            u32::try_from(i).map_err(|_| StoreError::Corrupt(format!("template_index {i}")))?,
        ),
    };
    Ok(ScheduleRecord {
        schedule_uuid: r.uuid("schedule_uuid")?,
        namespace: r.text("namespace")?,
        name: r.text("name")?,
        version: r.opt_text("version")?,
        cron: r.text("cron")?,
        timezone: r.text("timezone")?,
        context: r.json("context")?,
        overlap: r.parsed("overlap")?,
        catchup: r.parsed("catchup")?,
        paused: r.int("paused")? != 0,
        description: r.opt_text("description")?,
        created_by: r.text("created_by")?,
        source,
        next_fire_at: r.opt_time("next_fire_at")?,
        last_fired_at: r.opt_time("last_fired_at")?,
        last_task_uuid: r.opt_uuid("last_task_uuid")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

fn run(r: &Row) -> Result<ScheduleRun, StoreError> {
    let result = r.text("result")?;
    Ok(ScheduleRun {
        schedule_uuid: r.uuid("schedule_uuid")?,
        scheduled_for: r.time("scheduled_for")?,
        result: RunResult::parse(&result)
            .ok_or_else(|| StoreError::Corrupt(format!("run result `{result}`")))?,
        task_uuid: r.opt_uuid("task_uuid")?,
        task_status: r.opt_text("task_status")?,
        recorded_at: r.time("recorded_at")?,
    })
}

fn template_index(s: &ScheduleRecord) -> Option<i64> {
    match s.source {
        ScheduleSource::Api => None,
        ScheduleSource::Template(i) => Some(i64::from(i)),
    }
}

/// The definition columns `update` writes, as `col = $n` from `$2` on.
const DEFINITION: &str = "namespace = $2, name = $3, version = $4, cron = $5, timezone = $6, \
    context = $7, overlap = $8, catchup = $9, paused = $10, description = $11, \
    next_fire_at = $12, updated_at = $13";

fn definition_args(s: &ScheduleRecord) -> Vec<Arg> {
    args![
        s.schedule_uuid,
        &s.namespace,
        &s.name,
        s.version.clone(),
        &s.cron,
        &s.timezone,
        json_text(&s.context),
        s.overlap.as_str(),
        s.catchup.as_str(),
        i64::from(s.paused),
        s.description.clone(),
        s.next_fire_at,
        s.updated_at
    ]
}

async fn insert(tx: &mut Tx, s: &ScheduleRecord) -> Result<u64, StoreError> {
    tx.exec(
        &format!(
            "INSERT INTO schedules ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT (namespace, name, template_index) WHERE template_index IS NOT NULL \
             DO NOTHING"
        ),
        args![
            s.schedule_uuid,
            &s.namespace,
            &s.name,
            s.version.clone(),
            &s.cron,
            &s.timezone,
            json_text(&s.context),
            s.overlap.as_str(),
            s.catchup.as_str(),
            i64::from(s.paused),
            s.description.clone(),
            &s.created_by,
            template_index(s),
            s.next_fire_at,
            s.last_fired_at,
            s.last_task_uuid,
            s.created_at,
            s.updated_at
        ],
    )
    .await
}

async fn update(tx: &mut Tx, s: &ScheduleRecord) -> Result<u64, StoreError> {
    tx.exec(
        &format!("UPDATE schedules SET {DEFINITION} WHERE schedule_uuid = $1"),
        definition_args(s),
    )
    .await
}

async fn delete(tx: &mut Tx, schedule_uuid: Uuid) -> Result<u64, StoreError> {
    tx.exec(
        "DELETE FROM schedule_runs WHERE schedule_uuid = $1",
        args![schedule_uuid],
    )
    .await?;
    tx.exec(
        "DELETE FROM schedules WHERE schedule_uuid = $1",
        args![schedule_uuid],
    )
    .await
}

/// Whether a template schedule's stored definition differs from its declaration.
fn declaration_changed(stored: &ScheduleRecord, declared: &ScheduleRecord) -> bool {
    (
        &stored.cron,
        &stored.timezone,
        &stored.context,
        stored.overlap,
        stored.catchup,
    ) != (
        &declared.cron,
        &declared.timezone,
        &declared.context,
        declared.overlap,
        declared.catchup,
    )
}

impl SqlStore {
    /// Whether the schedule's previous task is unfinished (for `overlap: skip`).
    async fn previous_running(tx: &mut Tx, last_task: Option<Uuid>) -> Result<bool, StoreError> {
        let Some(task) = last_task else {
            return Ok(false);
        };
        let row = tx
            .one("SELECT status FROM tasks WHERE task_uuid = $1", args![task])
            .await?;
        match row {
            None => Ok(false),
            Some(r) => Ok(!r.parsed::<tasker_core::TaskState>("status")?.is_terminal()),
        }
    }

    async fn fire_in(
        &self,
        tx: &mut Tx,
        plan: FirePlan,
        now: DateTime<Utc>,
    ) -> Result<FireOutcome, StoreError> {
        let locked = tx
            .one(
                &format!(
                    "SELECT {COLUMNS} FROM schedules WHERE schedule_uuid = $1{}",
                    tx.for_update()
                ),
                args![plan.schedule_uuid],
            )
            .await?;
        let Some(schedule) = locked.as_ref().map(record).transpose()? else {
            return Ok(FireOutcome::Stale);
        };
        let manual = plan.expected_next.is_none();
        if !manual && (schedule.paused || schedule.next_fire_at != plan.expected_next) {
            return Ok(FireOutcome::Stale);
        }
        let mut last_task = schedule.last_task_uuid;
        let mut last_fired = schedule.last_fired_at;
        let mut runs = Vec::with_capacity(plan.fires.len());
        for fire in plan.fires {
            let skip = plan.skip_if_running && Self::previous_running(tx, last_task).await?;
            let (result, task_uuid) = if skip {
                (RunResult::Skipped, None)
            } else if manual {
                (RunResult::Triggered, Some(fire.task.task_uuid))
            } else {
                (RunResult::Fired, Some(fire.task.task_uuid))
            };
            // The run row comes first: a second server reaching the same fire time fails
            // here, on the primary key, before creating anything.
            tx.exec(
                "INSERT INTO schedule_runs (schedule_uuid, scheduled_for, result, task_uuid, \
                 recorded_at) VALUES ($1, $2, $3, $4, $5)",
                args![
                    plan.schedule_uuid,
                    fire.fire_at,
                    result.as_str(),
                    task_uuid,
                    now
                ],
            )
            .await?;
            if let Some(task_uuid) = task_uuid {
                insert_task_rows(tx, &fire.task, now).await?;
                tx.exec(
                    "UPDATE tasks SET scheduled_for = $1 WHERE task_uuid = $2",
                    args![fire.fire_at, task_uuid],
                )
                .await?;
                last_task = Some(task_uuid);
            }
            last_fired = last_fired.max(Some(fire.fire_at));
            runs.push(ScheduleRun {
                schedule_uuid: plan.schedule_uuid,
                scheduled_for: fire.fire_at,
                result,
                task_uuid,
                task_status: task_uuid.map(|_| "pending".to_owned()),
                recorded_at: now,
            });
        }
        let next = if manual {
            schedule.next_fire_at
        } else {
            plan.next_fire_at
        };
        tx.exec(
            "UPDATE schedules SET next_fire_at = $2, last_fired_at = $3, last_task_uuid = $4 \
             WHERE schedule_uuid = $1",
            args![plan.schedule_uuid, next, last_fired, last_task],
        )
        .await?;
        Ok(FireOutcome::Done(runs))
    }
}

#[async_trait]
impl ScheduleStore for SqlStore {
    async fn insert_schedule(&self, schedule: &ScheduleRecord) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if insert(&mut tx, schedule).await? == 0 {
            return Err(StoreError::Conflict(format!(
                "schedule {} of {}/{} already exists",
                schedule.schedule_uuid, schedule.namespace, schedule.name
            )));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn update_schedule(&self, schedule: &ScheduleRecord) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = update(&mut tx, schedule).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn delete_schedule(&self, schedule_uuid: Uuid) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = delete(&mut tx, schedule_uuid).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn get_schedule(
        &self,
        schedule_uuid: Uuid,
    ) -> Result<Option<ScheduleRecord>, StoreError> {
        self.pool
            .one(
                &format!("SELECT {COLUMNS} FROM schedules WHERE schedule_uuid = $1"),
                args![schedule_uuid],
            )
            .await?
            .as_ref()
            .map(record)
            .transpose()
    }

    async fn list_schedules(&self, f: &ScheduleFilter) -> Result<Vec<ScheduleRecord>, StoreError> {
        let mut clauses = Vec::new();
        let mut a: Vec<Arg> = Vec::new();
        for (col, value) in [("namespace", &f.namespace), ("name", &f.name)] {
            if let Some(v) = value {
                a.push(v.into());
                clauses.push(format!("{col} = ${}", a.len()));
            }
        }
        clauses.extend(super::rows::namespace_clause(
            "namespace",
            f.namespaces.as_deref(),
            &mut a,
        ));
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM schedules{filter} ORDER BY namespace, name, created_at, \
             schedule_uuid"
        );
        self.pool.all(&sql, a).await?.iter().map(record).collect()
    }

    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ScheduleRecord>, StoreError> {
        self.pool
            .all(
                &format!(
                    "SELECT {COLUMNS} FROM schedules WHERE paused = 0 AND next_fire_at <= $1 \
                     ORDER BY next_fire_at LIMIT $2"
                ),
                args![now, i64::from(limit)],
            )
            .await?
            .iter()
            .map(record)
            .collect()
    }

    async fn next_schedule_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = self
            .pool
            .one(
                "SELECT MIN(next_fire_at) AS next FROM schedules WHERE paused = 0",
                vec![],
            )
            .await?;
        match row {
            Some(r) => r.opt_time("next"),
            None => Ok(None),
        }
    }

    async fn fire_schedule(
        &self,
        plan: FirePlan,
        now: DateTime<Utc>,
    ) -> Result<FireOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        let outcome = match self.fire_in(&mut tx, plan, now).await {
            // Another server recorded the same fire time between our read and our lock
            // (possible only without row locks); nothing of ours is kept.
            Err(StoreError::Conflict(_)) => return Ok(FireOutcome::Stale),
            other => other?,
        };
        if matches!(outcome, FireOutcome::Done(ref runs) if !runs.is_empty()) {
            super::announce(&mut tx).await?;
        }
        tx.commit().await?;
        if matches!(outcome, FireOutcome::Done(_)) {
            notify_work(&self.signal);
        }
        Ok(outcome)
    }

    async fn schedule_runs(
        &self,
        schedule_uuid: Uuid,
        limit: u32,
    ) -> Result<Vec<ScheduleRun>, StoreError> {
        self.pool
            .all(
                "SELECT r.schedule_uuid, r.scheduled_for, r.result, r.task_uuid, r.recorded_at, \
                 t.status AS task_status FROM schedule_runs r \
                 LEFT JOIN tasks t ON t.task_uuid = r.task_uuid \
                 WHERE r.schedule_uuid = $1 ORDER BY r.scheduled_for DESC LIMIT $2",
                args![schedule_uuid, i64::from(limit)],
            )
            .await?
            .iter()
            .map(run)
            .collect()
    }

    async fn sync_template_schedules(
        &self,
        namespace: &str,
        name: &str,
        declared: &[ScheduleRecord],
        now: DateTime<Utc>,
    ) -> Result<(u64, u64, u64), StoreError> {
        let mut tx = self.pool.begin().await?;
        let stored: Vec<ScheduleRecord> = tx
            .all(
                &format!(
                    "SELECT {COLUMNS} FROM schedules WHERE namespace = $1 AND name = $2 \
                     AND template_index IS NOT NULL{}",
                    tx.for_update()
                ),
                args![namespace, name],
            )
            .await?
            .iter()
            .map(record)
            .collect::<Result<_, _>>()?;
        let (mut inserted, mut updated, mut removed) = (0, 0, 0);
        for want in declared {
            match stored.iter().find(|s| s.source == want.source) {
                None => inserted += insert(&mut tx, want).await?,
                Some(have) if declaration_changed(have, want) => {
                    let changed = ScheduleRecord {
                        schedule_uuid: have.schedule_uuid,
                        paused: have.paused,
                        updated_at: now,
                        ..want.clone()
                    };
                    updated += update(&mut tx, &changed).await?;
                }
                Some(_) => {}
            }
        }
        for have in &stored {
            if !declared.iter().any(|d| d.source == have.source) {
                removed += delete(&mut tx, have.schedule_uuid).await?;
            }
        }
        tx.commit().await?;
        Ok((inserted, updated, removed))
    }
}
