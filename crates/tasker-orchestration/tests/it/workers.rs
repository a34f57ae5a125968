//! Several workers over one store: every step runs exactly once, never concurrently with
//! itself, and concurrency per worker stays within its limit.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tasker_config::EngineConfig;
use tasker_core::TaskState;
use tasker_worker::{HandlerError, HandlerRegistry, StepHandler, StepInput, WorkerRuntime};
use uuid::Uuid;

use crate::harness::*;

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

#[tokio::test]
async fn several_workers_run_each_step_exactly_once() {
    on_each_backend(|env| async move {
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
                    .create_task(request("tests", "custom", json!({})), "load", &ALL)
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
    })
    .await;
}

#[tokio::test]
async fn workers_only_claim_their_namespaces_and_report_status() {
    on_each_backend(|env| async move {
        let mut cfg = worker_cfg("narrow", 2, 30);
        cfg.namespaces = vec!["elsewhere".into()];
        let narrow = WorkerRuntime::start(
            env.store.clone(),
            &cfg,
            &EngineConfig::default(),
            HandlerRegistry::with_builtins(),
        );
        let status = narrow.status();
        assert_eq!(
            (status.worker_id.as_str(), status.namespaces.clone()),
            ("narrow", vec!["elsewhere".to_owned()])
        );
        assert!(status.handlers.contains(&"builtin.echo".to_owned()));
        let task = env
            .orch
            .create_task(request("tests", "versioned", json!({})), "alice", &ALL)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            env.orch
                .get_task(task.task_uuid, &ALL, &ALL)
                .await
                .unwrap()
                .step_counts
                .enqueued,
            1
        );
        let wide = worker(&env, "wide", HandlerRegistry::with_builtins());
        wait_for(&env, task.task_uuid, TaskState::Complete).await;
        narrow.shutdown().await;
        wide.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_handler_fails_the_step_permanently() {
    on_each_backend(|env| async move {
        let w = worker(&env, "bare", HandlerRegistry::new());
        let task = env
            .orch
            .create_task(request("tests", "custom", json!({})), "alice", &ALL)
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
    })
    .await;
}

#[tokio::test]
async fn a_worker_in_another_process_is_woken_by_postgres_notifications() {
    on_each_backend(|env| async move {
        if env.store.backend() != "postgres" {
            return;
        }
        let remote: Arc<dyn tasker_core::Store> =
            Arc::new(tasker_store::connect(&env.url, Some(2)).await.unwrap());
        let mut cfg = worker_cfg("remote", 2, 30);
        cfg.poll_interval_ms = 60_000;
        let w = WorkerRuntime::start(
            remote,
            &cfg,
            &EngineConfig::default(),
            HandlerRegistry::with_builtins(),
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let task = env
            .orch
            .create_task(
                request("examples", "linear_math", json!({"value": 1})),
                "alice",
                &ALL,
            )
            .await
            .unwrap();
        wait_for(&env, task.task_uuid, TaskState::Complete).await;
        // Polling alone would need a minute per step.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        w.shutdown().await;
    })
    .await;
}

struct Panics;

#[async_trait]
impl StepHandler for Panics {
    async fn call(&self, _input: StepInput) -> Result<Value, HandlerError> {
        panic!("handler bug")
    }
}

#[tokio::test]
async fn a_panicking_handler_is_a_retryable_failure() {
    on_each_backend(|env| async move {
        let mut registry = HandlerRegistry::new();
        registry.register("test.custom", Panics);
        let w = worker(&env, "w", registry);
        let task = env
            .orch
            .create_task(request("tests", "custom", json!({})), "alice", &ALL)
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
    })
    .await;
}

#[tokio::test]
async fn a_step_over_its_timeout_fails() {
    on_each_backend(|env| async move {
        let w = worker(&env, "w", HandlerRegistry::with_builtins());
        let task = env
            .orch
            .create_task(request("tests", "timeout", json!({})), "alice", &ALL)
            .await
            .unwrap();
        let started = std::time::Instant::now();
        wait_for(&env, task.task_uuid, TaskState::BlockedByFailures).await;
        assert!(started.elapsed() < Duration::from_secs(10));
        let step = env
            .orch
            .list_steps(task.task_uuid, &ALL)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(step.last_error.unwrap()["message"], "timed out after 1 s");
        assert!(w.status().running_steps.is_empty());
        w.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn graceful_shutdown_lets_running_steps_report() {
    on_each_backend(|env| async move {
        let w = worker(&env, "w", HandlerRegistry::with_builtins());
        let task = env
            .orch
            .create_task(request("tests", "slow", json!({})), "alice", &ALL)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while w.status().running_steps.is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "nap never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        w.shutdown().await;
        let steps = env.orch.list_steps(task.task_uuid, &ALL).await.unwrap();
        assert_eq!(steps[0].status, tasker_core::StepState::Complete.as_str());
        assert_eq!(steps[0].results, Some(json!({"slept_ms": 400})));
        assert_eq!(
            steps[1].status,
            tasker_core::StepState::Enqueued.as_str(),
            "no worker left to claim it"
        );
    })
    .await;
}
