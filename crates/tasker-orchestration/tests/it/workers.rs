//! Several workers over one store: every step runs exactly once, never concurrently with
//! itself, and concurrency per worker stays within its limit.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tasker_config::EngineConfig;
use tasker_core::{StepState, TaskState};
use tasker_testkit::{Backend, HANG_GUARD, eventually};
use tasker_worker::{HandlerError, HandlerRegistry, StepHandler, StepInput, WorkerRuntime};
use uuid::Uuid;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_env =>
    several_workers_run_each_step_exactly_once,
    workers_only_claim_their_namespaces_and_report_status,
    unknown_handler_fails_the_step_permanently,
    a_panicking_handler_is_a_retryable_failure,
    a_step_over_its_timeout_fails,
    graceful_shutdown_lets_running_steps_report,
);

#[derive(Default)]
struct Ledger {
    runs: HashMap<Uuid, u32>,
    in_flight: HashSet<Uuid>,
    overlaps: u32,
    per_worker_now: HashMap<&'static str, usize>,
    per_worker_max: HashMap<&'static str, usize>,
}

struct Counting {
    worker: &'static str,
    ledger: Arc<Mutex<Ledger>>,
}

#[async_trait]
impl StepHandler for Counting {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        {
            let mut l = self.ledger.lock().unwrap();
            *l.runs.entry(input.step_uuid).or_default() += 1;
            if !l.in_flight.insert(input.step_uuid) {
                l.overlaps += 1;
            }
            let now = {
                let n = l.per_worker_now.entry(self.worker).or_default();
                *n += 1;
                *n
            };
            let max = l.per_worker_max.entry(self.worker).or_default();
            *max = (*max).max(now);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut l = self.ledger.lock().unwrap();
        l.in_flight.remove(&input.step_uuid);
        *l.per_worker_now.entry(self.worker).or_default() -= 1;
        Ok(json!({"worker": self.worker}))
    }
}

async fn several_workers_run_each_step_exactly_once(env: Env) {
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let names: [&'static str; 4] = ["w1", "w2", "w3", "w4"];
    let workers: Vec<WorkerRuntime> = names
        .iter()
        .map(|name| {
            let mut registry = HandlerRegistry::new();
            registry.register(
                "test.custom",
                Counting {
                    worker: name,
                    ledger: ledger.clone(),
                },
            );
            WorkerRuntime::start(
                env.store.clone(),
                &worker_cfg(name, 3, 30),
                &EngineConfig::default(),
                registry,
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for _ in 0..40 {
        tasks.push(
            env.orch
                .create_task(request("tests", "custom", json!({})), "load", &ALL, None)
                .await
                .unwrap()
                .task_uuid,
        );
    }
    for t in &tasks {
        wait_for(&env, *t, TaskState::Complete).await;
    }
    {
        let l = ledger.lock().unwrap();
        assert_eq!(l.runs.len(), 40);
        assert!(l.runs.values().all(|n| *n == 1), "{:?}", l.runs);
        assert_eq!(l.overlaps, 0);
        assert!(
            l.per_worker_max.values().all(|m| *m <= 3),
            "{:?}",
            l.per_worker_max
        );
    }
    for w in workers {
        assert!(w.status().running_steps.is_empty());
        w.shutdown().await;
    }
}

async fn workers_only_claim_their_namespaces_and_report_status(env: Env) {
    let mut cfg = worker_cfg("narrow", 2, 30);
    cfg.namespaces = vec!["examples".into()];
    let narrow = WorkerRuntime::start(
        env.store.clone(),
        &cfg,
        &EngineConfig::default(),
        HandlerRegistry::with_builtins(),
    );
    let status = narrow.status();
    assert_eq!(
        (status.worker_id.as_str(), status.namespaces.clone()),
        ("narrow", vec!["examples".to_owned()])
    );
    assert!(status.handlers.contains(&"builtin.echo".to_owned()));
    let outside = env
        .orch
        .create_task(
            request("tests", "versioned", json!({})),
            "alice",
            &ALL,
            None,
        )
        .await
        .unwrap();
    // The narrow worker claims and runs a task of its own namespace created after `outside`, so
    // it has claimed with free slots while `outside`'s step was ready, and left it alone.
    let inside = env
        .orch
        .create_task(
            request("examples", "linear_math", json!({"value": 1})),
            "alice",
            &ALL,
            None,
        )
        .await
        .unwrap();
    wait_for(&env, inside.task_uuid, TaskState::Complete).await;
    let steps = env.orch.list_steps(outside.task_uuid, &ALL).await.unwrap();
    assert_eq!(
        (steps[0].status.as_str(), steps[0].attempts),
        (StepState::Enqueued.as_str(), 0),
        "a worker claimed a step outside its namespaces"
    );
    let wide = worker(&env, "wide", HandlerRegistry::with_builtins());
    wait_for(&env, outside.task_uuid, TaskState::Complete).await;
    narrow.shutdown().await;
    wide.shutdown().await;
}

async fn unknown_handler_fails_the_step_permanently(env: Env) {
    let w = worker(&env, "bare", HandlerRegistry::new());
    let task = env
        .orch
        .create_task(request("tests", "custom", json!({})), "alice", &ALL, None)
        .await
        .unwrap();
    wait_for(&env, task.task_uuid, TaskState::BlockedByFailures).await;
    let step = env
        .orch
        .list_steps(task.task_uuid, &ALL)
        .await
        .unwrap()
        .remove(0);
    let message = step.last_error.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("no handler `test.custom`"), "{message}");
    w.shutdown().await;
}

/// A worker on a store of its own, as in another process, whose polling interval is far beyond
/// the hang guard: only PostgreSQL notifications can tell it about new tasks. Each task is
/// created after the previous one completed, while the worker waits idle.
async fn a_worker_in_another_process_is_woken_by_postgres_notifications() {
    with_env(Backend::Postgres, async |env| {
        let remote: Arc<dyn tasker_core::Store> =
            Arc::new(tasker_store::connect(&env.url, Some(2)).await.unwrap());
        let mut cfg = worker_cfg("remote", 2, 30);
        cfg.poll_interval_ms = 24 * 3600 * 1000;
        let w = WorkerRuntime::start(
            remote,
            &cfg,
            &EngineConfig::default(),
            HandlerRegistry::with_builtins(),
        );
        for value in 1..=3 {
            let task = env
                .orch
                .create_task(
                    request("examples", "linear_math", json!({"value": value})),
                    "alice",
                    &ALL,
                    None,
                )
                .await
                .unwrap();
            let view = wait_for(&env, task.task_uuid, TaskState::Complete).await;
            assert_eq!(view.step_counts.complete, 4, "{view:?}");
        }
        w.shutdown().await;
    })
    .await;
}

tasker_testkit::postgres_tests!(a_worker_in_another_process_is_woken_by_postgres_notifications);

struct Panics;

#[async_trait]
impl StepHandler for Panics {
    async fn call(&self, _input: StepInput) -> Result<Value, HandlerError> {
        panic!("handler bug")
    }
}

async fn a_panicking_handler_is_a_retryable_failure(env: Env) {
    let mut registry = HandlerRegistry::new();
    registry.register("test.custom", Panics);
    let w = worker(&env, "w", registry);
    let task = env
        .orch
        .create_task(request("tests", "custom", json!({})), "alice", &ALL, None)
        .await
        .unwrap();
    wait_for(&env, task.task_uuid, TaskState::BlockedByFailures).await;
    let step = env
        .orch
        .list_steps(task.task_uuid, &ALL)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(step.attempts, 5, "retried up to max_attempts");
    let message = step.last_error.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("handler panicked"), "{message}");
    w.shutdown().await;
}

async fn a_step_over_its_timeout_fails(env: Env) {
    let w = worker(&env, "w", HandlerRegistry::with_builtins());
    let task = env
        .orch
        .create_task(request("tests", "timeout", json!({})), "alice", &ALL, None)
        .await
        .unwrap();
    // The step would sleep far beyond the hang guard of `wait_for`: only its timeout ends it.
    wait_for(&env, task.task_uuid, TaskState::BlockedByFailures).await;
    let step = env
        .orch
        .list_steps(task.task_uuid, &ALL)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(step.last_error.unwrap()["message"], "timed out after 1 s");
    assert!(w.status().running_steps.is_empty());
    w.shutdown().await;
}

async fn graceful_shutdown_lets_running_steps_report(env: Env) {
    let w = worker(&env, "w", HandlerRegistry::with_builtins());
    let task = env
        .orch
        .create_task(request("tests", "slow", json!({})), "alice", &ALL, None)
        .await
        .unwrap();
    eventually("the nap to start", HANG_GUARD, async || {
        let running = w.status().running_steps;
        if running.is_empty() {
            Err("no step running")
        } else {
            Ok(())
        }
    })
    .await;
    w.shutdown().await;
    let steps = env.orch.list_steps(task.task_uuid, &ALL).await.unwrap();
    assert_eq!(steps[0].status, StepState::Complete.as_str());
    assert_eq!(steps[0].results, Some(json!({"slept_ms": 400})));
    assert_eq!(
        steps[1].status,
        StepState::Enqueued.as_str(),
        "no worker left to claim it"
    );
}
