//! The worker's prefetch buffer, run in-process against a real SQLite store: steps claimed
//! ahead of the free slots are leased to the worker without running, a stopping worker hands
//! them back, and a buffered step that waits too long for a slot is handed back once, not
//! claimed again while the slots stay busy. Handed-back attempts never count.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{Value, json};
use tasker_config::{EngineConfig, WorkerSection};
use tasker_core::store::{NewStep, NewTask, StepDefaults, TaskMeta};
use tasker_core::{BackoffSettings, StepState, Store, parse_template};
use tasker_testkit::{HANG_GUARD, eventually};
use tasker_worker::{HandlerError, HandlerRegistry, StepHandler, StepInput, WorkerRuntime};
use tokio::sync::Semaphore;
use uuid::Uuid;

const GATED: &str = "name: gated\nnamespace: pf\nversion: 1.0.0\nsteps:\n  - name: only\n    handler:\n      callable: test.gate\n";

/// Waits for a permit of the gate, so a test decides when steps finish.
struct Gate(Arc<Semaphore>);

#[async_trait]
impl StepHandler for Gate {
    async fn call(&self, _input: StepInput) -> Result<Value, HandlerError> {
        let permit = self.0.acquire().await;
        drop(permit);
        Ok(json!({"done": true}))
    }
}

async fn sqlite_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let url = tasker_config::DatabaseUrl::new(format!("sqlite://{}/t.db", dir.path().display()));
    Arc::new(tasker_store::connect(&url, Some(8)).await.unwrap())
}

async fn create_gated(store: &Arc<dyn Store>) -> Uuid {
    let template = parse_template(GATED).unwrap();
    let defaults = StepDefaults {
        max_attempts: 3,
        timeout_seconds: 60,
        backoff: BackoffSettings {
            base_ms: 100,
            max_ms: 1000,
            jitter_percent: 0,
        },
    };
    let task = NewTask {
        task_uuid: Uuid::new_v4(),
        namespace: template.namespace.clone(),
        name: template.name.clone(),
        version: template.version.clone(),
        context: json!({}),
        created_by: "test".into(),
        meta: TaskMeta::default(),
        plan: None,
        steps: NewStep::plan(&template, &defaults, Uuid::new_v4),
        trace_parent: None,
    };
    store.create_task(task, Utc::now()).await.unwrap().task_uuid
}

fn worker_section(lease_seconds: u64) -> WorkerSection {
    WorkerSection {
        id: Some("pf-worker".into()),
        concurrency: 1,
        prefetch: Some(2),
        lease_seconds,
        poll_interval_ms: 50,
        shutdown_timeout_seconds: 1,
        lease_recovery_interval_ms: 0,
        ..WorkerSection::default()
    }
}

/// A worker of one slot and a buffer of two, over three tasks of one gated step each.
struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    tasks: Vec<Uuid>,
    /// Closed: permits let handlers finish.
    gate: Arc<Semaphore>,
    runtime: WorkerRuntime,
}

async fn setup(lease_seconds: u64) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(&dir).await;
    let mut tasks = Vec::new();
    for _ in 0..3 {
        tasks.push(create_gated(&store).await);
    }
    let gate = Arc::new(Semaphore::new(0));
    let mut registry = HandlerRegistry::with_builtins();
    registry.register("test.gate", Gate(gate.clone()));
    let runtime = WorkerRuntime::start(
        store.clone(),
        &worker_section(lease_seconds),
        &EngineConfig::default(),
        registry,
    );
    Setup {
        _dir: dir,
        store,
        tasks,
        gate,
        runtime,
    }
}

/// Each task's one step: (state, attempts).
async fn step_states(store: &Arc<dyn Store>, tasks: &[Uuid]) -> Vec<(StepState, u32)> {
    let mut out = Vec::new();
    for task in tasks {
        let steps = store.list_steps(*task).await.unwrap();
        out.push((steps[0].status, steps[0].attempts));
    }
    out
}

fn count(states: &[(StepState, u32)], state: StepState) -> usize {
    states.iter().filter(|(s, _)| *s == state).count()
}

/// The step transitions of a task as `from>to` strings.
async fn path(store: &Arc<dyn Store>, task: Uuid) -> Vec<String> {
    store
        .audit_trail(task, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.step_uuid.is_some())
        .map(|t| format!("{}>{}", t.from_state.unwrap_or_default(), t.to_state))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_worker_hands_back_its_buffered_steps_without_counting_them() {
    let Setup {
        _dir,
        store,
        tasks,
        runtime,
        ..
    } = setup(30).await;
    // One step runs in the one slot, one more waits in the buffer, leased to the worker.
    let states = eventually(
        "one running and one buffered step",
        HANG_GUARD,
        async || {
            let states = step_states(&store, &tasks).await;
            let running = runtime.status().running_steps.len();
            if count(&states, StepState::InProgress) == 2 && running == 1 {
                Ok(states)
            } else {
                Err(format!("{states:?}, {running} running"))
            }
        },
    )
    .await;
    assert_eq!(count(&states, StepState::Enqueued), 1, "{states:?}");
    // Stopping hands the buffered step back at once and the running one after the grace.
    runtime.shutdown().await;
    let states = step_states(&store, &tasks).await;
    assert_eq!(
        states,
        vec![(StepState::Enqueued, 0); 3],
        "every step is back in the queue and no attempt counted"
    );
    let released: usize = {
        let mut n = 0;
        for task in &tasks {
            n += store
                .audit_trail(*task, None)
                .await
                .unwrap()
                .iter()
                .filter(|t| {
                    t.to_state == "enqueued"
                        && t.reason
                            .as_deref()
                            .is_some_and(|r| r.contains("the attempt does not count"))
                })
                .count();
        }
        n
    };
    assert_eq!(
        released, 2,
        "the buffered and the running step were released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buffered_step_waiting_too_long_is_handed_back_once() {
    // A one-second lease: a buffered step waits at most a third of it for a slot.
    let Setup {
        _dir,
        store,
        tasks,
        gate,
        runtime,
    } = setup(1).await;
    let handed_back = eventually("a buffered step handed back", HANG_GUARD, async || {
        for task in &tasks {
            let p = path(&store, *task).await;
            if p.iter().any(|t| t == "in_progress>enqueued") {
                return Ok(*task);
            }
        }
        Err(format!("{:?}", step_states(&store, &tasks).await))
    })
    .await;
    // While the slot stays busy the worker does not claim it (or another) again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let p = path(&store, handed_back).await;
    assert_eq!(
        p.iter().filter(|t| *t == "enqueued>in_progress").count(),
        1,
        "claimed once, handed back once: {p:?}"
    );
    assert_eq!(runtime.status().running_steps.len(), 1);
    let states = step_states(&store, &tasks).await;
    assert_eq!(count(&states, StepState::InProgress), 1, "{states:?}");
    assert_eq!(count(&states, StepState::Enqueued), 2, "{states:?}");
    // Opening the gate lets every step run; the handed-back attempt did not count.
    gate.add_permits(100);
    eventually("every step complete", HANG_GUARD, async || {
        let states = step_states(&store, &tasks).await;
        if states.iter().all(|(s, _)| *s == StepState::Complete) {
            Ok(())
        } else {
            Err(format!("{states:?}"))
        }
    })
    .await;
    assert_eq!(
        step_states(&store, &tasks).await,
        vec![(StepState::Complete, 1); 3]
    );
    runtime.shutdown().await;
}
