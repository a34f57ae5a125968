//! Schedules through the orchestrator, with the clock injected: fire times come when the test
//! moves the clock, so no test waits for real minutes. Servers are orchestrators over their
//! own connection pools to one database, started and stopped like processes.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tasker_config::{DatabaseUrl, OrchestrationConfig};
use tasker_core::Store;
use tasker_orchestration::{Clock, ManualClock, Orchestrator, SystemClock};
use tasker_proto::Scope;
use tasker_proto::api::{
    CreateScheduleRequest, ScheduleListQuery, ScheduleQuery, ScheduleRunView, ScheduleRunsQuery,
    ScheduleView, UpdateScheduleRequest,
};
use tasker_testkit::{Backend, HANG_GUARD, PgSchema, eventually};
use uuid::Uuid;

use crate::harness::ALL;

const TICK: &str = "name: tick\nnamespace: tests\nversion: 1.0.0\nsteps:\n\
    - {name: one, handler: {callable: builtin.echo}}\n";

pub(crate) struct Servers {
    dir: tempfile::TempDir,
    url: DatabaseUrl,
    clock: Arc<ManualClock>,
}

impl Servers {
    fn config(&self) -> OrchestrationConfig {
        let mut cfg = crate::harness::config(&self.dir.path().join("templates"));
        cfg.orchestration.poll_interval_ms = 50;
        cfg
    }

    /// Writes (or, with `None`, removes) a template file of the test directory.
    fn template(&self, file: &str, yaml: Option<&str>) {
        let path = self.dir.path().join("templates").join(file);
        match yaml {
            Some(text) => std::fs::write(path, text).unwrap(),
            None => std::fs::remove_file(path).unwrap(),
        }
    }

    async fn store(&self) -> Arc<dyn Store> {
        Arc::new(tasker_store::connect(&self.url, Some(4)).await.unwrap())
    }

    /// A server reading the manual clock.
    async fn start(&self) -> Orchestrator {
        self.start_with(self.clock.clone()).await
    }

    async fn start_with(&self, clock: Arc<dyn Clock>) -> Orchestrator {
        Orchestrator::with_clock(self.store().await, &self.config(), clock)
            .await
            .unwrap()
    }

    fn advance_to(&self, t: &str) {
        self.clock.set(at(t));
    }
}

pub(crate) async fn with_servers<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Servers) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/tick.yaml"), TICK).unwrap();
    let clock = ManualClock::new(at("2030-01-01T00:00:30Z"));
    match backend {
        Backend::Sqlite => {
            let url = DatabaseUrl::new(format!("sqlite://{}/t.db", dir.path().display()));
            test(Servers { dir, url, clock }).await;
        }
        Backend::Postgres => {
            let schema = PgSchema::create();
            let url = DatabaseUrl::new(schema.url.clone());
            test(Servers { dir, url, clock }).await;
            schema.drop_now().await;
        }
    }
}

tasker_testkit::on_each_backend!(crate::schedules::with_servers =>
    missed_fire_times_follow_the_catchup_policy,
    two_servers_fire_each_fire_time_once,
    two_servers_on_the_real_clock_fire_once_per_second,
    overlap_skip_waits_for_the_previous_task,
    spring_forward_fires_as_documented,
    bad_schedules_are_refused_by_field_and_scope,
    pause_resume_trigger_and_delete,
    template_schedules_follow_the_yaml,
);

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn create(cron: &str, extra: serde_json::Value) -> CreateScheduleRequest {
    let mut body = json!({"namespace": "tests", "name": "tick", "cron": cron});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    serde_json::from_value(body).unwrap()
}

async fn runs(orch: &Orchestrator, schedule: Uuid) -> Vec<ScheduleRunView> {
    let mut runs = orch
        .schedule_runs(schedule, ScheduleRunsQuery { limit: Some(100) }, &ALL)
        .await
        .unwrap();
    runs.reverse();
    runs
}

/// Waits until the schedule's next fire time is `next` (its firing committed).
async fn wait_next(orch: &Orchestrator, schedule: Uuid, next: &str) -> ScheduleView {
    let want = at(next);
    eventually("the schedule to move on", HANG_GUARD, async || {
        let view = orch
            .get_schedule(schedule, ScheduleQuery::default(), &ALL)
            .await
            .unwrap();
        if view.next_fire_at == Some(want) {
            Ok(view)
        } else {
            Err(format!("{:?}", view.next_fire_at))
        }
    })
    .await
}

/// How many `tests/tick` tasks exist.
async fn tick_tasks(orch: &Orchestrator) -> u64 {
    let query = serde_json::from_value(json!({"namespace": "tests", "name": "tick"})).unwrap();
    orch.list_tasks(query, &ALL)
        .await
        .unwrap()
        .pagination
        .total_count
}

fn fire_times(runs: &[ScheduleRunView]) -> Vec<DateTime<Utc>> {
    runs.iter().map(|r| r.scheduled_for).collect()
}

async fn missed_fire_times_follow_the_catchup_policy(servers: Servers) {
    let first = servers.start().await;
    let mut ids = Vec::new();
    for catchup in ["none", "latest", "all"] {
        let s = first
            .create_schedule(
                create("* * * * *", json!({"catchup": catchup})),
                "alice",
                &ALL,
            )
            .await
            .unwrap();
        assert_eq!(s.next_fire_at, Some(at("2030-01-01T00:01:00Z")));
        ids.push(s.schedule_uuid);
    }
    first.shutdown().await;
    // Down across 00:01, 00:02 and 00:03.
    servers.advance_to("2030-01-01T00:03:30Z");
    let second = servers.start().await;
    for id in &ids {
        wait_next(&second, *id, "2030-01-01T00:04:00Z").await;
    }
    let none = runs(&second, ids[0]).await;
    let latest = runs(&second, ids[1]).await;
    let all = runs(&second, ids[2]).await;
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(fire_times(&latest), [at("2030-01-01T00:03:00Z")]);
    assert_eq!(
        fire_times(&all),
        [
            at("2030-01-01T00:01:00Z"),
            at("2030-01-01T00:02:00Z"),
            at("2030-01-01T00:03:00Z")
        ]
    );
    // A fired task carries its schedule and fire time.
    let run = &latest[0];
    assert_eq!(run.result, "fired");
    let task = second
        .get_task(run.task_uuid.unwrap(), &ALL, &ALL)
        .await
        .unwrap();
    let marker = format!("schedule:{}", ids[1]);
    assert_eq!(task.created_by, marker);
    assert_eq!(task.tags, [marker]);
    assert_eq!(task.scheduled_for, Some(at("2030-01-01T00:03:00Z")));
    assert_eq!(
        (task.namespace.as_str(), task.name.as_str()),
        ("tests", "tick")
    );
    let view = second
        .get_schedule(ids[1], ScheduleQuery::default(), &ALL)
        .await
        .unwrap();
    assert_eq!(view.last_task_uuid, run.task_uuid);
    assert_eq!(view.last_fired_at, Some(at("2030-01-01T00:03:00Z")));
    second.shutdown().await;
}

async fn two_servers_fire_each_fire_time_once(servers: Servers) {
    let a = servers.start().await;
    let b = servers.start().await;
    servers.advance_to("2030-01-01T00:00:00.500Z");
    let s = a
        .create_schedule(create("* * * * * *", json!({})), "alice", &ALL)
        .await
        .unwrap();
    for second in 1..=10 {
        let now = format!("2030-01-01T00:00:{second:02}.000Z");
        let next = format!("2030-01-01T00:00:{:02}Z", second + 1);
        servers.advance_to(&now);
        wait_next(&b, s.schedule_uuid, &next).await;
    }
    a.shutdown().await;
    b.shutdown().await;
    let c = servers.start().await;
    assert_eq!(
        tick_tasks(&c).await,
        10,
        "one task per fire time, none twice"
    );
    let runs = runs(&c, s.schedule_uuid).await;
    let expected: Vec<DateTime<Utc>> = (1..=10)
        .map(|i| at(&format!("2030-01-01T00:00:{i:02}Z")))
        .collect();
    assert_eq!(fire_times(&runs), expected);
    assert!(runs.iter().all(|r| r.result == "fired"));
    let tasks: std::collections::HashSet<Uuid> = runs.iter().filter_map(|r| r.task_uuid).collect();
    assert_eq!(tasks.len(), 10);
}

/// The wall clock, two servers, a schedule every second: whatever stretch of fire times the
/// servers covered, each second appears once, with one task each, and none is missing.
async fn two_servers_on_the_real_clock_fire_once_per_second(servers: Servers) {
    let a = servers.start_with(Arc::new(SystemClock::default())).await;
    let b = servers.start_with(Arc::new(SystemClock::default())).await;
    let s = a
        .create_schedule(create("* * * * * *", json!({})), "alice", &ALL)
        .await
        .unwrap();
    eventually("ten fires", HANG_GUARD, async || {
        let n = runs(&b, s.schedule_uuid).await.len();
        if n >= 10 { Ok(()) } else { Err(n) }
    })
    .await;
    let paused = UpdateScheduleRequest {
        paused: Some(true),
        ..Default::default()
    };
    b.update_schedule(s.schedule_uuid, paused, &ALL)
        .await
        .unwrap();
    a.shutdown().await;
    b.shutdown().await;
    let c = servers.start().await;
    let runs = runs(&c, s.schedule_uuid).await;
    let times = fire_times(&runs);
    assert_eq!(
        tick_tasks(&c).await,
        times.len() as u64,
        "one task per fire time"
    );
    assert!(times.len() >= 10, "{times:?}");
    for pair in times.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::seconds(1), "{times:?}");
    }
    let tasks: std::collections::HashSet<Uuid> = runs.iter().filter_map(|r| r.task_uuid).collect();
    assert_eq!(tasks.len(), times.len());
}

async fn overlap_skip_waits_for_the_previous_task(servers: Servers) {
    let orch = servers.start().await;
    let skip = orch
        .create_schedule(
            create("* * * * *", json!({"overlap": "skip"})),
            "alice",
            &ALL,
        )
        .await
        .unwrap();
    let allow = orch
        .create_schedule(create("* * * * *", json!({})), "alice", &ALL)
        .await
        .unwrap();
    // No worker runs: each fired task stays unfinished until it is cancelled.
    servers.advance_to("2030-01-01T00:01:00Z");
    wait_next(&orch, skip.schedule_uuid, "2030-01-01T00:02:00Z").await;
    servers.advance_to("2030-01-01T00:02:00Z");
    wait_next(&orch, skip.schedule_uuid, "2030-01-01T00:03:00Z").await;
    let so_far = runs(&orch, skip.schedule_uuid).await;
    assert_eq!(
        so_far.iter().map(|r| r.result.as_str()).collect::<Vec<_>>(),
        ["fired", "skipped"]
    );
    assert_eq!(so_far[1].task_uuid, None);
    orch.cancel_task(so_far[0].task_uuid.unwrap(), "alice", &ALL)
        .await
        .unwrap();
    servers.advance_to("2030-01-01T00:03:00Z");
    wait_next(&orch, skip.schedule_uuid, "2030-01-01T00:04:00Z").await;
    wait_next(&orch, allow.schedule_uuid, "2030-01-01T00:04:00Z").await;
    let skip_runs = runs(&orch, skip.schedule_uuid).await;
    assert_eq!(
        skip_runs
            .iter()
            .map(|r| r.result.as_str())
            .collect::<Vec<_>>(),
        ["fired", "skipped", "fired"]
    );
    let allow_runs = runs(&orch, allow.schedule_uuid).await;
    assert_eq!(allow_runs.len(), 3);
    assert!(allow_runs.iter().all(|r| r.result == "fired"));
    orch.shutdown().await;
}

/// `docs/schedules.md`: 02:30 does not exist on the spring-forward day in New York; the
/// schedule fires once that day, at 03:00 EDT, then at 02:30 again.
async fn spring_forward_fires_as_documented(servers: Servers) {
    servers.advance_to("2026-03-07T12:00:00Z");
    let orch = servers.start().await;
    let s = orch
        .create_schedule(
            create("30 2 * * *", json!({"timezone": "America/New_York"})),
            "alice",
            &ALL,
        )
        .await
        .unwrap();
    // 03:00 EDT is 07:00 UTC.
    assert_eq!(s.next_fire_at, Some(at("2026-03-08T07:00:00Z")));
    servers.advance_to("2026-03-08T07:00:00.200Z");
    // 02:30 EDT the next day is 06:30 UTC.
    wait_next(&orch, s.schedule_uuid, "2026-03-09T06:30:00Z").await;
    assert_eq!(
        fire_times(&runs(&orch, s.schedule_uuid).await),
        [at("2026-03-08T07:00:00Z")]
    );
    let view = orch
        .get_schedule(s.schedule_uuid, ScheduleQuery { upcoming: Some(2) }, &ALL)
        .await
        .unwrap();
    assert_eq!(
        view.upcoming,
        [at("2026-03-09T06:30:00Z"), at("2026-03-10T06:30:00Z")]
    );
    orch.shutdown().await;
}

async fn bad_schedules_are_refused_by_field_and_scope(servers: Servers) {
    use tasker_orchestration::Error;
    let orch = servers.start().await;
    let refused = |e: Error| match e {
        Error::Unprocessable(problems) => problems.join("; "),
        other => panic!("expected 422, got {other:?}"),
    };
    let e = orch
        .create_schedule(create("61 * * * *", json!({})), "alice", &ALL)
        .await
        .unwrap_err();
    assert!(refused(e).starts_with("cron: `61 * * * *` is not a valid cron expression"));
    let e = orch
        .create_schedule(create("* * *", json!({})), "alice", &ALL)
        .await
        .unwrap_err();
    assert!(refused(e).contains("cron: `* * *` has 3 fields"));
    let e = orch
        .create_schedule(
            create("@daily", json!({"timezone": "Mars/Base"})),
            "alice",
            &ALL,
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused(e),
        "timezone: `Mars/Base` is not an IANA timezone name (for example `UTC` or `Europe/Berlin`)"
    );
    let e = orch
        .create_schedule(create("@daily", json!({"name": "missing"})), "alice", &ALL)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotFound(m) if m == "template tests/missing"),
        "{e:?}"
    );
    let schema_bound =
        json!({"namespace": "examples", "name": "diamond_math", "context": {"value": "five"}});
    let e = orch
        .create_schedule(create("@daily", schema_bound), "alice", &ALL)
        .await
        .unwrap_err();
    assert!(refused(e).contains("value"));
    // Scope: creating outside it names the scoped permission; others' schedules are unseen.
    let only_examples = Scope::Namespaces(["examples".to_owned()].into());
    let e = orch
        .create_schedule(create("@daily", json!({})), "alice", &only_examples)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Missing required permission: schedules:write@tests"
    );
    let s = orch
        .create_schedule(create("@daily", json!({})), "alice", &ALL)
        .await
        .unwrap();
    let e = orch
        .get_schedule(s.schedule_uuid, ScheduleQuery::default(), &only_examples)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    let e = orch
        .trigger_schedule(s.schedule_uuid, &only_examples)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    let listed = orch
        .list_schedules(ScheduleListQuery::default(), &only_examples)
        .await
        .unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    let listed = orch
        .list_schedules(ScheduleListQuery::default(), &ALL)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let bad_patch = UpdateScheduleRequest {
        cron: Some("nope".into()),
        ..Default::default()
    };
    let e = orch
        .update_schedule(s.schedule_uuid, bad_patch, &ALL)
        .await
        .unwrap_err();
    assert!(refused(e).starts_with("cron: "));
    orch.shutdown().await;
}

async fn pause_resume_trigger_and_delete(servers: Servers) {
    let orch = servers.start().await;
    let s = orch
        .create_schedule(create("* * * * *", json!({})), "alice", &ALL)
        .await
        .unwrap();
    let pause = UpdateScheduleRequest {
        paused: Some(true),
        ..Default::default()
    };
    assert!(
        orch.update_schedule(s.schedule_uuid, pause, &ALL)
            .await
            .unwrap()
            .paused
    );
    servers.advance_to("2030-01-01T00:05:30Z");
    // A manual trigger fires a paused schedule, now.
    let task = orch.trigger_schedule(s.schedule_uuid, &ALL).await.unwrap();
    assert_eq!(task.scheduled_for, Some(at("2030-01-01T00:05:30Z")));
    assert_eq!(task.created_by, format!("schedule:{}", s.schedule_uuid));
    let resume = UpdateScheduleRequest {
        paused: Some(false),
        ..Default::default()
    };
    let resumed = orch
        .update_schedule(s.schedule_uuid, resume, &ALL)
        .await
        .unwrap();
    // Resuming does not catch up the paused stretch.
    assert_eq!(resumed.next_fire_at, Some(at("2030-01-01T00:06:00Z")));
    let history = runs(&orch, s.schedule_uuid).await;
    assert_eq!(
        history
            .iter()
            .map(|r| r.result.as_str())
            .collect::<Vec<_>>(),
        ["triggered"]
    );
    orch.delete_schedule(s.schedule_uuid, &ALL).await.unwrap();
    let gone = orch
        .get_schedule(s.schedule_uuid, ScheduleQuery::default(), &ALL)
        .await
        .unwrap_err();
    assert!(matches!(gone, tasker_orchestration::Error::NotFound(_)));
    // The fired task stays.
    orch.get_task(task.task_uuid, &ALL, &ALL).await.unwrap();
    orch.shutdown().await;
}

async fn template_schedules_follow_the_yaml(servers: Servers) {
    let with = |schedules: &str| format!("{TICK}schedules:\n{schedules}");
    servers.template(
        "tick.yaml",
        Some(&with("  - {cron: '0 * * * *', context: {n: 1}}\n")),
    );
    let orch = servers.start().await;
    let api = orch
        .create_schedule(create("@daily", json!({})), "alice", &ALL)
        .await
        .unwrap();
    let list = async |orch: &Orchestrator| {
        orch.list_schedules(ScheduleListQuery::default(), &ALL)
            .await
            .unwrap()
    };
    let first = list(&orch).await;
    let declared: Vec<&ScheduleView> = first.iter().filter(|s| s.source == "template").collect();
    assert_eq!(declared.len(), 1);
    assert_eq!(declared[0].cron, "0 * * * *");
    assert_eq!(declared[0].created_by, "template");
    let declared_id = declared[0].schedule_uuid;
    orch.shutdown().await;
    // Loading the same YAML again changes nothing.
    let orch = servers.start().await;
    assert_eq!(list(&orch).await, first);
    orch.shutdown().await;
    // Editing the YAML updates the declared schedule in place and adds the new one.
    servers.template(
        "tick.yaml",
        Some(&with(
            "  - {cron: '30 * * * *', context: {n: 1}}\n  - {cron: '@weekly', catchup: none}\n",
        )),
    );
    let orch = servers.start().await;
    let second = list(&orch).await;
    let declared: Vec<&ScheduleView> = second.iter().filter(|s| s.source == "template").collect();
    assert_eq!(declared.len(), 2);
    let edited = declared
        .iter()
        .find(|s| s.schedule_uuid == declared_id)
        .unwrap();
    assert_eq!(edited.cron, "30 * * * *");
    assert!(declared.iter().any(|s| s.cron == "@weekly"));
    orch.shutdown().await;
    // Removing them removes what the YAML created, never the API's schedule.
    servers.template("tick.yaml", Some(TICK));
    let orch = servers.start().await;
    let third = list(&orch).await;
    assert_eq!(
        third.iter().map(|s| s.schedule_uuid).collect::<Vec<_>>(),
        [api.schedule_uuid]
    );
    orch.shutdown().await;
    // A bad cron in a template is a load error naming the file and the field.
    servers.template("tick.yaml", Some(&with("  - {cron: '* * *'}\n")));
    let err = Orchestrator::with_clock(
        servers.store().await,
        &servers.config(),
        servers.clock.clone(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("tick.yaml") && err.contains("schedules[0].cron: "),
        "{err}"
    );
}
