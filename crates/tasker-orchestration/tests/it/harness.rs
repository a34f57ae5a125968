//! A fresh store on the backend a test runs on, an orchestrator over it with the example
//! templates plus the test templates, and helpers to start workers and wait for task states.

use std::future::Future;
use std::sync::Arc;

use serde_json::{Value, json};
use tasker_config::{DatabaseUrl, EngineConfig, OrchestrationConfig, WorkerSection};
use tasker_core::{Store, TaskState};
use tasker_orchestration::Orchestrator;
use tasker_proto::Scope;
use tasker_proto::api::{CreateTaskRequest, TaskView};
use tasker_testkit::{Backend, HANG_GUARD, PgSchema, try_eventually};
use tasker_worker::{HandlerRegistry, WorkerRuntime};
use uuid::Uuid;

/// Every namespace: the scope of a caller with unscoped permissions.
pub(crate) const ALL: Scope = Scope::All;

const TEST_TEMPLATES: &[(&str, &str)] = &[
    (
        "blocked.yaml",
        "name: blocked\nnamespace: tests\nversion: 1.0.0\nsteps:\n\
         - {name: first, handler: {callable: builtin.echo}}\n\
         - {name: breaks, handler: {callable: builtin.fail, initialization: {retryable: false}}, depends_on: [first]}\n\
         - {name: last, handler: {callable: builtin.echo}, depends_on: [breaks]}\n",
    ),
    (
        "slow.yaml",
        "name: slow\nnamespace: tests\nversion: 1.0.0\nsteps:\n\
         - {name: nap, handler: {callable: builtin.sleep, initialization: {ms: 400}}}\n\
         - {name: after, handler: {callable: builtin.echo}, depends_on: [nap]}\n",
    ),
    (
        "custom.yaml",
        "name: custom\nnamespace: tests\nversion: 1.0.0\nsteps:\n\
         - {name: work, handler: {callable: test.custom}, retry: {max_attempts: 5}}\n",
    ),
    (
        "timeout.yaml",
        "name: timeout\nnamespace: tests\nversion: 1.0.0\nsteps:\n\
         - {name: stuck, handler: {callable: builtin.sleep, initialization: {ms: 3600000}}, timeout_seconds: 1, retry: {max_attempts: 1}}\n",
    ),
    (
        "versions_v1.yaml",
        "name: versioned\nnamespace: tests\nversion: 1.2.0\nsteps:\n\
         - {name: one, handler: {callable: builtin.echo}}\n",
    ),
    (
        "versions_v2.yml",
        "name: versioned\nnamespace: tests\nversion: 1.10.0\nsteps:\n\
         - {name: one, handler: {callable: builtin.echo}}\n\
         - {name: two, handler: {callable: builtin.echo}, depends_on: [one]}\n",
    ),
];

pub(crate) struct Env {
    pub(crate) orch: Orchestrator,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) url: DatabaseUrl,
}

pub(crate) fn config(extra: &std::path::Path) -> OrchestrationConfig {
    let mut cfg = OrchestrationConfig::default();
    cfg.templates.search_paths = vec![
        tasker_testkit::examples_dir().display().to_string(),
        extra.display().to_string(),
    ];
    cfg.orchestration.poll_interval_ms = 50;
    cfg.backoff.base_ms = 20;
    cfg.backoff.max_ms = 100;
    cfg.dlq.staleness.enabled = false;
    cfg
}

/// Runs `test` with an orchestrator over a fresh store on `backend` (a temporary SQLite file,
/// or a PostgreSQL schema of its own), the example templates and the test templates.
pub(crate) async fn with_env<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    for (file, text) in TEST_TEMPLATES {
        std::fs::write(templates.join(file), text).unwrap();
    }
    let cfg = config(&templates);
    match backend {
        Backend::Sqlite => {
            let url = DatabaseUrl::new(format!("sqlite://{}/t.db", dir.path().display()));
            run_on(&url, &cfg, test).await;
        }
        Backend::Postgres => {
            let schema = PgSchema::create();
            run_on(&DatabaseUrl::new(schema.url.clone()), &cfg, test).await;
            schema.drop_now().await;
        }
    }
}

async fn run_on<F, Fut>(url: &DatabaseUrl, cfg: &OrchestrationConfig, test: F)
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = ()>,
{
    let store: Arc<dyn Store> = Arc::new(tasker_store::connect(url, Some(8)).await.unwrap());
    let orch = Orchestrator::with_store(store.clone(), cfg).await.unwrap();
    test(Env {
        orch: orch.clone(),
        store,
        url: url.clone(),
    })
    .await;
    orch.shutdown().await;
}

pub(crate) fn worker_cfg(id: &str, concurrency: usize, lease_seconds: u64) -> WorkerSection {
    WorkerSection {
        id: Some(id.to_owned()),
        namespaces: Vec::new(),
        concurrency,
        lease_seconds,
        poll_interval_ms: 50,
        shutdown_timeout_seconds: 5,
        ..WorkerSection::default()
    }
}

pub(crate) fn worker(env: &Env, id: &str, registry: HandlerRegistry) -> WorkerRuntime {
    WorkerRuntime::start(
        env.store.clone(),
        &worker_cfg(id, 4, 30),
        &EngineConfig::default(),
        registry,
    )
}

pub(crate) fn request(namespace: &str, name: &str, context: Value) -> CreateTaskRequest {
    serde_json::from_value(json!({"namespace": namespace, "name": name, "context": context}))
        .unwrap()
}

/// Polls until the task reaches `state`; once the hang guard has passed, panics with the
/// task's audit trail.
pub(crate) async fn wait_for(env: &Env, task: Uuid, state: TaskState) -> TaskView {
    let found = try_eventually(HANG_GUARD, async || {
        let view = env.orch.get_task(task, &ALL, &ALL).await.unwrap();
        if view.status == state.as_str() {
            Ok(view)
        } else {
            Err(view.status)
        }
    })
    .await;
    match found {
        Ok(view) => view,
        Err(status) => {
            let audit = env.orch.task_audit(task, &ALL).await.unwrap();
            panic!("task stuck in {status} waiting for {state}: {audit:#?}");
        }
    }
}
