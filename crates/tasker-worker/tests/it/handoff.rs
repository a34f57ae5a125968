//! Results that claim the next steps, through a real worker on a real SQLite store: with a
//! polling interval of a minute, a linear task still runs through (the next step comes with
//! the write that records its parent's result, and the claim loop is woken by that write),
//! and each later step's claim is audited at the very instant its parent completed, by this
//! worker: the same transaction.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use tasker_config::{EngineConfig, WorkerSection};
use tasker_core::store::{NewStep, NewTask, StepDefaults, TaskMeta};
use tasker_core::{BackoffSettings, Store, parse_template};
use tasker_testkit::{HANG_GUARD, eventually};
use tasker_worker::{HandlerRegistry, WorkerRuntime};
use uuid::Uuid;

const LINEAR: &str = "name: chain\nnamespace: ho\nversion: 1.0.0\nsteps:\n\
  - {name: a, handler: {callable: builtin.echo}}\n\
  - {name: b, handler: {callable: builtin.echo}, depends_on: [a]}\n\
  - {name: c, handler: {callable: builtin.echo}, depends_on: [b]}\n\
  - {name: d, handler: {callable: builtin.echo}, depends_on: [c]}\n";

const WORKER: &str = "ho-worker";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_result_claims_the_next_step_of_a_linear_task_in_its_own_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let url = tasker_config::DatabaseUrl::new(format!("sqlite://{}/t.db", dir.path().display()));
    let store: Arc<dyn Store> = Arc::new(tasker_store::connect(&url, Some(8)).await.unwrap());
    let template = parse_template(LINEAR).unwrap();
    let defaults = StepDefaults {
        max_attempts: 1,
        timeout_seconds: 60,
        backoff: BackoffSettings {
            base_ms: 100,
            max_ms: 1000,
            jitter_percent: 0,
        },
    };
    let task = store
        .create_task(
            NewTask {
                task_uuid: Uuid::new_v4(),
                namespace: template.namespace.clone(),
                name: template.name.clone(),
                version: template.version.clone(),
                context: json!({"n": 1}),
                created_by: "test".into(),
                meta: TaskMeta::default(),
                plan: None,
                steps: NewStep::plan(&template, &defaults, Uuid::new_v4),
                trace_parent: None,
            },
            Utc::now(),
        )
        .await
        .unwrap()
        .task_uuid;
    let runtime = WorkerRuntime::start(
        store.clone(),
        &WorkerSection {
            id: Some(WORKER.into()),
            concurrency: 1,
            prefetch: Some(0),
            poll_interval_ms: 60_000,
            lease_recovery_interval_ms: 0,
            ..WorkerSection::default()
        },
        &EngineConfig::default(),
        HandlerRegistry::with_builtins(),
    );
    eventually(
        "the linear task completes",
        HANG_GUARD,
        async || match store.get_task(task).await.unwrap() {
            Some(t) if t.status == tasker_core::TaskState::Complete => Ok(()),
            other => Err(format!("{:?}", other.map(|t| t.status))),
        },
    )
    .await;
    runtime.shutdown().await;

    let steps = store.list_steps(task).await.unwrap();
    let trail = store.audit_trail(task, None).await.unwrap();
    let at = |step: Uuid, from: &str, to: &str| {
        trail
            .iter()
            .find(|t| {
                t.step_uuid == Some(step)
                    && t.from_state.as_deref() == Some(from)
                    && t.to_state == to
            })
            .unwrap_or_else(|| panic!("no {from}>{to} of {step}: {trail:#?}"))
    };
    let by_name = |name: &str| steps.iter().find(|s| s.name == name).unwrap().step_uuid;
    for (parent, child) in [("a", "b"), ("b", "c"), ("c", "d")] {
        let completed = at(by_name(parent), "in_progress", "complete");
        let claimed = at(by_name(child), "enqueued", "in_progress");
        assert_eq!(
            (claimed.at, claimed.actor.as_str()),
            (completed.at, WORKER),
            "{child} is claimed by the write that completes {parent}"
        );
        assert_eq!(claimed.reason.as_deref(), Some("claimed for attempt 1"));
    }
}
