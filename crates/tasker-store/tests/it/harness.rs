//! Per-test stores on both backends, and helpers to build tasks and drive steps by hand.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use tasker_config::DatabaseUrl;
use tasker_core::store::{
    ClaimRequest, ClaimedStep, Lease, NewStep, NewTask, RecordOutcome, StepDefaults, StepOutcome,
    StepReport, TaskMeta, TaskRecord,
};
use tasker_core::{BackoffSettings, Store, parse_template};
use tasker_testkit::{Backend, PgSchema};
use uuid::Uuid;

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
}

pub(crate) fn at(ms: i64) -> DateTime<Utc> {
    t0() + Duration::milliseconds(ms)
}

/// Runs `test` with a fresh, migrated store on `backend`.
pub(crate) async fn with_store<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    with_url(backend, async |url| {
        let store = tasker_store::connect(&url, Some(8)).await.unwrap();
        test(Arc::new(store)).await;
    })
    .await;
}

/// Runs `test` with the URL of a fresh database on `backend` (a temporary SQLite file, or a
/// PostgreSQL schema of its own), so a test can open several independent stores as separate
/// processes would.
pub(crate) async fn with_url<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(DatabaseUrl) -> Fut,
    Fut: Future<Output = ()>,
{
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            test(DatabaseUrl::new(format!(
                "sqlite://{}/t.db",
                dir.path().display()
            )))
            .await;
        }
        Backend::Postgres => {
            let schema = PgSchema::create();
            test(DatabaseUrl::new(schema.url.clone())).await;
            schema.drop_now().await;
        }
    }
}

pub(crate) const DEFAULTS: StepDefaults = StepDefaults {
    max_attempts: 3,
    timeout_seconds: 30,
    backoff: BackoffSettings {
        base_ms: 100,
        max_ms: 1000,
        jitter_percent: 0,
    },
};

pub(crate) fn new_task(yaml: &str, context: Value, key: Option<&str>) -> NewTask {
    let template = parse_template(yaml).unwrap();
    NewTask {
        task_uuid: Uuid::new_v4(),
        namespace: template.namespace.clone(),
        name: template.name.clone(),
        version: template.version.clone(),
        context,
        created_by: "alice".into(),
        meta: TaskMeta {
            idempotency_key: key.map(str::to_owned),
            ..TaskMeta::default()
        },
        plan: None,
        steps: NewStep::plan(&template, &DEFAULTS, Uuid::new_v4),
        trace_parent: None,
    }
}

/// A task of a dynamic template: its unconditional steps plus the plan of its whole shape.
pub(crate) fn new_dynamic_task(yaml: &str, context: Value, max_batches: u32) -> NewTask {
    let template = parse_template(yaml).unwrap();
    let plan = tasker_core::dynamic::TaskPlan::new(&template, &DEFAULTS, max_batches);
    NewTask {
        steps: plan.initial_steps(Uuid::new_v4),
        plan: Some(plan),
        trace_parent: None,
        ..new_task(yaml, context, None)
    }
}

pub(crate) const LINEAR: &str = "name: linear\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: a, handler: {callable: h}}\n\
  - {name: b, handler: {callable: h}, depends_on: [a]}\n\
  - {name: c, handler: {callable: h}, depends_on: [b]}\n";

pub(crate) const DIAMOND: &str = "name: diamond\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: a, handler: {callable: h}}\n\
  - {name: b, handler: {callable: h}, depends_on: [a]}\n\
  - {name: c, handler: {callable: h}, depends_on: [a]}\n\
  - {name: d, handler: {callable: h}, depends_on: [b, c]}\n";

pub(crate) const SINGLE: &str = "name: single\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: only, handler: {callable: h}}\n";

pub(crate) async fn create(store: &Arc<dyn Store>, yaml: &str) -> TaskRecord {
    store
        .create_task(new_task(yaml, json!({"n": 1}), None), t0())
        .await
        .unwrap()
}

pub(crate) async fn claim(
    store: &Arc<dyn Store>,
    worker: &str,
    now: DateTime<Utc>,
) -> Vec<ClaimedStep> {
    let req = ClaimRequest {
        worker_id: worker.into(),
        namespaces: vec![],
        limit: 10,
        lease: Duration::seconds(30),
    };
    store.claim_steps(&req, now).await.unwrap()
}

pub(crate) async fn succeed(
    store: &Arc<dyn Store>,
    lease: &Lease,
    v: Value,
    now: DateTime<Utc>,
) -> RecordOutcome {
    let report = StepReport {
        outcome: StepOutcome::Success(v),
        started_at: now,
        jitter_sample: 0.0,
    };
    store.record_result(lease, report, now).await.unwrap()
}

pub(crate) async fn fail(
    store: &Arc<dyn Store>,
    lease: &Lease,
    retryable: bool,
    now: DateTime<Utc>,
) -> RecordOutcome {
    let report = StepReport {
        outcome: StepOutcome::Failure {
            error: json!({"message": "boom"}),
            retryable,
        },
        started_at: now,
        jitter_sample: 0.0,
    };
    store.record_result(lease, report, now).await.unwrap()
}

pub(crate) async fn status(store: &Arc<dyn Store>, task: Uuid) -> String {
    store
        .get_task(task)
        .await
        .unwrap()
        .unwrap()
        .status
        .to_string()
}
