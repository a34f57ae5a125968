//! Permanent failure → blocked task + DLQ entry → manual resolution resumes the task;
//! cancellation; lease expiry hands a step to another worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use tasker_config::EngineConfig;
use tasker_core::{StepState, TaskState};
use tasker_orchestration::Error;
use tasker_proto::api::{DlqUpdateRequest, StepActionRequest};
use tasker_testkit::{HANG_GUARD, eventually};
use tasker_worker::{HandlerError, HandlerRegistry, StepHandler, StepInput, WorkerRuntime};

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_env =>
    non_retryable_failure_blocks_and_complete_manually_resumes,
    resolve_manually_resumes_and_dlq_entries_can_be_updated,
    cancel_moves_everything_unfinished_and_is_refused_twice,
    a_dead_workers_step_is_taken_over_after_its_lease_expires,
    investigation_queue_puts_higher_priority_first_and_staleness_lists_waiting_tasks,
);

async fn blocked_task(env: &Env) -> (uuid::Uuid, uuid::Uuid) {
    let task = env
        .orch
        .create_task(request("tests", "blocked", json!({})), "alice", &ALL, None)
        .await
        .unwrap();
    wait_for(env, task.task_uuid, TaskState::BlockedByFailures).await;
    let breaks = env
        .orch
        .list_steps(task.task_uuid, &ALL)
        .await
        .unwrap()
        .remove(1);
    assert_eq!(
        (
            breaks.name.as_str(),
            breaks.status.as_str(),
            breaks.attempts
        ),
        ("breaks", StepState::Error.as_str(), 1)
    );
    assert!(
        breaks.last_error.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("fails by design")
    );
    (task.task_uuid, breaks.step_uuid)
}

async fn non_retryable_failure_blocks_and_complete_manually_resumes(env: Env) {
    let w = worker(&env, "w1", HandlerRegistry::with_builtins());
    let (task, breaks) = blocked_task(&env).await;
    let dlq = env.orch.dlq_for_task(task, &ALL).await.unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(
        (
            dlq[0].dlq_reason.as_str(),
            dlq[0].resolution_status.as_str()
        ),
        ("max_retries_exceeded", "pending")
    );
    assert_eq!(dlq[0].step_uuid, Some(breaks));
    let queue = env.orch.investigation_queue(None, &ALL).await.unwrap();
    assert!(queue.iter().any(|e| e.task_uuid == task));
    let stats = env.orch.dlq_stats(&ALL).await.unwrap();
    assert_eq!(stats[0].total, 1);

    let action = StepActionRequest::CompleteManually {
        result: json!({"patched": 1}),
        reason: "fixed upstream".into(),
    };
    let step = env
        .orch
        .step_action(task, breaks, action, "operator-bob", &ALL)
        .await
        .unwrap();
    assert_eq!(step.status, StepState::Complete.as_str());
    wait_for(&env, task, TaskState::Complete).await;
    let ctx = env.orch.task_context(task, &ALL).await.unwrap();
    assert_eq!(
        ctx.step_results["last"]["parent_results"]["breaks"],
        json!({"patched": 1})
    );
    let audit = env.orch.step_audit(task, breaks, &ALL).await.unwrap();
    let manual = audit.last().unwrap();
    assert_eq!(
        (manual.to_state.as_str(), manual.actor.as_str()),
        ("complete", "operator-bob")
    );
    assert_eq!(manual.reason.as_deref(), Some("fixed upstream"));
    let entry = &env.orch.dlq_for_task(task, &ALL).await.unwrap()[0];
    assert_eq!(entry.resolution_status, "manually_resolved");
    assert_eq!(entry.resolver.as_deref(), Some("operator-bob"));
    w.shutdown().await;
}

async fn resolve_manually_resumes_and_dlq_entries_can_be_updated(env: Env) {
    let w = worker(&env, "w1", HandlerRegistry::with_builtins());
    let (task, breaks) = blocked_task(&env).await;
    let entry = env.orch.dlq_for_task(task, &ALL).await.unwrap().remove(0);
    let update = DlqUpdateRequest {
        resolution_status: None,
        resolution_notes: Some("looking".into()),
    };
    let updated = env
        .orch
        .update_dlq_entry(entry.dlq_entry_uuid, update, "ops", &ALL)
        .await
        .unwrap();
    assert_eq!(
        (updated.notes.as_deref(), updated.resolver.as_deref()),
        (Some("looking"), Some("ops"))
    );
    let empty = DlqUpdateRequest {
        resolution_status: None,
        resolution_notes: None,
    };
    assert!(matches!(
        env.orch
            .update_dlq_entry(entry.dlq_entry_uuid, empty, "ops", &ALL)
            .await,
        Err(Error::Unprocessable(_))
    ));

    let resolve = StepActionRequest::ResolveManually {
        reason: "not needed".into(),
    };
    env.orch
        .step_action(task, breaks, resolve.clone(), "ops", &ALL)
        .await
        .unwrap();
    let done = wait_for(&env, task, TaskState::Complete).await;
    assert_eq!(done.step_counts.resolved_manually, 1);
    let again = env
        .orch
        .step_action(task, breaks, resolve, "ops", &ALL)
        .await;
    assert!(
        matches!(again, Err(Error::Conflict(ref m)) if m.contains("complete")),
        "{again:?}"
    );
    w.shutdown().await;
}

/// `builtin.sleep` that records that it returned its result to the runtime.
struct Sleeps(Arc<AtomicBool>);

#[async_trait]
impl StepHandler for Sleeps {
    async fn call(&self, input: StepInput) -> Result<Value, HandlerError> {
        let ms = input.initialization["ms"].as_u64().unwrap();
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.0.store(true, Ordering::SeqCst);
        Ok(json!({"slept_ms": ms}))
    }
}

async fn cancel_moves_everything_unfinished_and_is_refused_twice(env: Env) {
    let returned = Arc::new(AtomicBool::new(false));
    let mut registry = HandlerRegistry::with_builtins();
    registry.register("builtin.sleep", Sleeps(returned.clone()));
    let w = worker(&env, "w1", registry);
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
    let cancelled = env
        .orch
        .cancel_task(task.task_uuid, "carol", &ALL)
        .await
        .unwrap();
    assert_eq!(cancelled.status, TaskState::Cancelled.as_str());
    assert_eq!(cancelled.step_counts.cancelled, 2);
    let again = env.orch.cancel_task(task.task_uuid, "carol", &ALL).await;
    assert!(
        matches!(again, Err(Error::Conflict(ref m)) if m.contains("already cancelled")),
        "{again:?}"
    );
    // The nap returns its result after the cancel and the worker reports it (its lease is
    // still held, so nothing abandons the attempt); the store discards that late result.
    eventually(
        "the nap's late result to be reported",
        HANG_GUARD,
        async || {
            let reported = returned.load(Ordering::SeqCst) && w.status().running_steps.is_empty();
            if reported {
                Ok(())
            } else {
                Err("the nap is still running")
            }
        },
    )
    .await;
    let steps = env.orch.list_steps(task.task_uuid, &ALL).await.unwrap();
    assert!(
        steps
            .iter()
            .all(|s| s.status == StepState::Cancelled.as_str() && s.results.is_none()),
        "{steps:#?}"
    );
    assert_eq!(
        env.orch
            .get_task(task.task_uuid, &ALL, &ALL)
            .await
            .unwrap()
            .status,
        TaskState::Cancelled.as_str()
    );
    let audit = env.orch.task_audit(task.task_uuid, &ALL).await.unwrap();
    assert_eq!(audit.last().unwrap().actor, "carol");
    w.shutdown().await;
}

/// Worker "a" hangs forever; worker "b" answers at once.
struct Custom(&'static str, bool);

#[async_trait]
impl StepHandler for Custom {
    async fn call(&self, _input: StepInput) -> Result<Value, HandlerError> {
        if self.1 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Ok(json!({"worker": self.0}))
    }
}

async fn a_dead_workers_step_is_taken_over_after_its_lease_expires(env: Env) {
    let mut hang = HandlerRegistry::new();
    hang.register("test.custom", Custom("a", true));
    let dying = WorkerRuntime::start(
        env.store.clone(),
        &worker_cfg("a", 1, 1),
        &EngineConfig::default(),
        hang,
    );
    let task = env
        .orch
        .create_task(request("tests", "custom", json!({})), "alice", &ALL, None)
        .await
        .unwrap();
    eventually("worker a to claim the step", HANG_GUARD, async || {
        let running = dying.status().running_steps;
        if running.is_empty() {
            Err("nothing claimed")
        } else {
            Ok(())
        }
    })
    .await;
    drop(dying);
    let mut ok = HandlerRegistry::new();
    ok.register("test.custom", Custom("b", false));
    let healthy = WorkerRuntime::start(
        env.store.clone(),
        &worker_cfg("b", 1, 30),
        &EngineConfig::default(),
        ok,
    );
    wait_for(&env, task.task_uuid, TaskState::Complete).await;
    let step = env
        .orch
        .list_steps(task.task_uuid, &ALL)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(step.results, Some(json!({"worker": "b"})));
    assert_eq!(step.attempts, 2);
    let audit = env
        .orch
        .step_audit(task.task_uuid, step.step_uuid, &ALL)
        .await
        .unwrap();
    assert!(
        audit.iter().any(|t| t
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("lease of worker a expired"))),
        "{audit:#?}"
    );
    let claims: Vec<&str> = audit
        .iter()
        .filter(|t| t.to_state == "in_progress")
        .map(|t| t.actor.as_str())
        .collect();
    assert_eq!(claims, ["a", "b"]);
    healthy.shutdown().await;
}

async fn investigation_queue_puts_higher_priority_first_and_staleness_lists_waiting_tasks(
    env: Env,
) {
    let w = worker(&env, "w1", HandlerRegistry::with_builtins());
    let mut ids = Vec::new();
    for priority in [1, 5, 3] {
        let mut req = request("tests", "blocked", json!({}));
        req.priority = priority;
        let task = env
            .orch
            .create_task(req, "alice", &ALL, None)
            .await
            .unwrap();
        wait_for(&env, task.task_uuid, TaskState::BlockedByFailures).await;
        ids.push(task.task_uuid);
    }
    let queue = env.orch.investigation_queue(None, &ALL).await.unwrap();
    let order: Vec<i32> = queue.iter().map(|e| e.priority).collect();
    assert_eq!(order, [5, 3, 1]);
    assert_eq!(queue[0].task_uuid, ids[1]);
    w.shutdown().await;

    let waiting = env
        .orch
        .create_task(
            request("tests", "versioned", json!({})),
            "alice",
            &ALL,
            None,
        )
        .await
        .unwrap();
    let stale = env.orch.staleness(&ALL).await.unwrap();
    let view = stale
        .iter()
        .find(|v| v.task_uuid == waiting.task_uuid)
        .unwrap();
    assert_eq!(
        (view.status.as_str(), view.stale, view.threshold_minutes),
        (TaskState::StepsInProcess.as_str(), false, 120)
    );
    assert!(
        stale.iter().all(|v| !ids.contains(&v.task_uuid)),
        "blocked tasks are not waiting"
    );
}
