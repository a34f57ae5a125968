//! Step logs written by Rust handlers through `StepInput::log`: stored per attempt, capped
//! with a truncation marker, scoped like the other step reads, and followed live while the
//! attempt runs.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use tasker_config::EngineConfig;
use tasker_core::TaskState;
use tasker_orchestration::{Error, StepLogEvent};
use tasker_proto::Scope;
use tasker_testkit::HANG_GUARD;
use tasker_worker::{HandlerError, HandlerRegistry, StepHandler, StepInput, WorkerRuntime};
use tokio::sync::Notify;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_env =>
    rust_handlers_write_step_logs_per_attempt_capped,
    a_follower_sees_lines_while_the_attempt_runs,
);

/// Writes three lines per attempt; the first attempt fails and is retried.
struct Chatty;

#[async_trait]
impl StepHandler for Chatty {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        input.log.line(&format!("attempt {} starts", input.attempt));
        input.log.line("working\nstill working");
        if input.attempt == 1 {
            return Err(HandlerError::retryable("first attempt fails"));
        }
        input.log.line(&"x".repeat(100));
        input.log.line("never kept");
        Ok(json!({"done": true}))
    }
}

async fn create_custom(env: &Env) -> uuid::Uuid {
    env.orch
        .create_task(request("tests", "custom", json!({})), "logs", &ALL, None)
        .await
        .unwrap()
        .task_uuid
}

fn start_worker(env: &Env, registry: HandlerRegistry, max_bytes: u64) -> WorkerRuntime {
    let mut cfg = worker_cfg("logs", 2, 30);
    cfg.step_log_max_bytes = max_bytes;
    WorkerRuntime::start(env.store.clone(), &cfg, &EngineConfig::default(), registry)
}

async fn rust_handlers_write_step_logs_per_attempt_capped(env: Env) {
    let mut registry = HandlerRegistry::new();
    registry.register("test.custom", Chatty);
    let worker = start_worker(&env, registry, 100);
    let task = create_custom(&env).await;
    wait_for(&env, task, TaskState::Complete).await;
    let step = env.orch.list_steps(task, &ALL).await.unwrap()[0].step_uuid;

    let first = env.orch.step_log(task, step, Some(1), &ALL).await.unwrap();
    let text = |view: &tasker_proto::api::StepLogView| -> Vec<String> {
        view.lines.iter().map(|l| l.line.clone()).collect()
    };
    assert_eq!(
        text(&first),
        ["attempt 1 starts", "working", "still working"]
    );
    assert!(!first.truncated && !first.running);
    assert_eq!((first.attempt, first.attempts), (1, 2));
    assert!(first.lines.windows(2).all(|w| w[0].seq < w[1].seq));

    // Attempt 2: 17 + 8 + 14 bytes (with line breaks) fit in 100; the 101-byte line does not.
    let latest = env.orch.step_log(task, step, None, &ALL).await.unwrap();
    assert_eq!(latest.attempt, 2);
    assert_eq!(
        text(&latest),
        ["attempt 2 starts", "working", "still working"]
    );
    assert!(latest.truncated, "{latest:?}");

    assert!(matches!(
        env.orch.step_log(task, step, Some(3), &ALL).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        env.orch.step_log(task, step, Some(0), &ALL).await,
        Err(Error::BadRequest(_))
    ));
    let elsewhere = Scope::Namespaces(["examples".to_owned()].into());
    assert!(matches!(
        env.orch.step_log(task, step, Some(1), &elsewhere).await,
        Err(Error::NotFound(_))
    ));

    // Following a finished attempt replays it and ends at once.
    let mut follower = env
        .orch
        .follow_step_log(task, step, None, &ALL)
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Some(event) = follower.next().await.unwrap() {
        events.push(event);
    }
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(matches!(events[3], StepLogEvent::Truncated));
    match &events[4] {
        StepLogEvent::End(end) => {
            assert_eq!(end.status, "complete");
            assert!(end.truncated);
        }
        other => panic!("expected the end, got {other:?}"),
    }
    worker.shutdown().await;
}

/// Writes a line, waits for the test's signal, writes another.
struct Gated {
    release: Arc<Notify>,
}

#[async_trait]
impl StepHandler for Gated {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        input.log.line("before the gate");
        self.release.notified().await;
        input.log.line("after the gate");
        Ok(Value::Null)
    }
}

async fn a_follower_sees_lines_while_the_attempt_runs(env: Env) {
    let release = Arc::new(Notify::new());
    let mut registry = HandlerRegistry::new();
    registry.register(
        "test.custom",
        Gated {
            release: release.clone(),
        },
    );
    let worker = start_worker(&env, registry, 64 * 1024);
    let task = create_custom(&env).await;
    let step = env.orch.list_steps(task, &ALL).await.unwrap()[0].step_uuid;
    // Started before the step may have run: it waits for the first attempt.
    let mut follower = env
        .orch
        .follow_step_log(task, step, None, &ALL)
        .await
        .unwrap();
    let next = async |follower: &mut tasker_orchestration::StepLogFollower| {
        tokio::time::timeout(HANG_GUARD, follower.next())
            .await
            .expect("the follower answered within the hang guard")
            .unwrap()
    };
    match next(&mut follower).await {
        Some(StepLogEvent::Line(line)) => assert_eq!(line.line, "before the gate"),
        other => panic!("expected the first line, got {other:?}"),
    }
    // The handler is still held at the gate: the line came while the attempt runs.
    let running = env.orch.step_log(task, step, None, &ALL).await.unwrap();
    assert!(running.running, "{running:?}");
    release.notify_one();
    match next(&mut follower).await {
        Some(StepLogEvent::Line(line)) => assert_eq!(line.line, "after the gate"),
        other => panic!("expected the second line, got {other:?}"),
    }
    match next(&mut follower).await {
        Some(StepLogEvent::End(end)) => assert_eq!(end.status, "complete"),
        other => panic!("expected the end, got {other:?}"),
    }
    assert_eq!(next(&mut follower).await, None);
    worker.shutdown().await;
}
