//! Waiting steps through the store: an approval waits without being claimable, approve
//! completes it with `{decision, payload, by}`, reject and timeout fail it permanently into the
//! DLQ naming who or what, signals to steps that are not waiting are conflicts, and cancelling
//! the task cancels the waiting step.

use std::sync::Arc;

use serde_json::json;
use tasker_core::store::{Decision, DlqFilter, StepRecord, StepSignal};
use tasker_core::{StepState, Store, StoreError, TaskState};
use uuid::Uuid;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_store =>
    an_approval_waits_unclaimed_until_approved,
    a_rejection_blocks_the_task_naming_who,
    an_approval_times_out_into_the_dlq,
    signals_to_steps_that_are_not_waiting_are_refused,
    cancelling_a_task_cancels_its_waiting_step,
);

const GATED: &str = "name: gated\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: prepare, handler: {callable: h}}\n\
  - {name: approve, type: approval, approval: {timeout_seconds: 60}, depends_on: [prepare]}\n\
  - {name: ship, handler: {callable: h}, depends_on: [approve]}\n";

/// A gated task whose `prepare` step ran: `approve` is waiting.
async fn waiting_task(store: &Arc<dyn Store>) -> (Uuid, StepRecord) {
    let task = store
        .create_task(new_dynamic_task(GATED, json!({}), 10), t0())
        .await
        .unwrap()
        .task_uuid;
    let claimed = claim(store, "w", at(1)).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].step.name, "prepare");
    succeed(store, &claimed[0].lease, json!({"ok": true}), at(2)).await;
    let gate = step_named(store, task, "approve").await;
    assert_eq!(gate.status, StepState::Waiting);
    (task, gate)
}

async fn step_named(store: &Arc<dyn Store>, task: Uuid, name: &str) -> StepRecord {
    store
        .list_steps(task)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap()
}

fn signal(decision: Decision, reason: &str) -> StepSignal {
    StepSignal {
        decision,
        payload: json!({"limit": 5}),
        reason: Some(reason.into()),
    }
}

async fn an_approval_waits_unclaimed_until_approved(store: Arc<dyn Store>) {
    let (task, gate) = waiting_task(&store).await;
    assert!(
        claim(&store, "w", at(3)).await.is_empty(),
        "nothing to claim"
    );
    let t = store.get_task(task).await.unwrap().unwrap();
    assert_eq!(t.status, TaskState::StepsInProcess);
    assert_eq!(t.step_counts.get(StepState::Waiting), 1);
    assert_eq!(t.step_counts.get(StepState::InProgress), 0);
    let done = store
        .signal_step(
            task,
            gate.step_uuid,
            &signal(Decision::Approve, "looks fine"),
            "bob",
            at(4),
        )
        .await
        .unwrap();
    assert_eq!(done.status, StepState::Complete);
    assert_eq!(
        done.results,
        Some(json!({"decision": "approve", "payload": {"limit": 5}, "by": "bob"}))
    );
    let ship = claim(&store, "w", at(5)).await;
    assert_eq!(ship.len(), 1);
    assert_eq!(ship[0].step.name, "ship");
    assert_eq!(ship[0].parent_results["approve"]["by"], "bob");
    succeed(&store, &ship[0].lease, json!({}), at(6)).await;
    assert_eq!(status(&store, task).await, "complete");
    let trail = store.audit_trail(task, Some(gate.step_uuid)).await.unwrap();
    let moves: Vec<(Option<&str>, &str, &str)> = trail
        .iter()
        .map(|t| {
            (
                t.from_state.as_deref(),
                t.to_state.as_str(),
                t.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            (None, "pending", "system"),
            (Some("pending"), "waiting", "system"),
            (Some("waiting"), "complete", "bob"),
        ]
    );
    assert_eq!(
        trail[2].reason.as_deref(),
        Some("approved by bob: looks fine")
    );
}

async fn a_rejection_blocks_the_task_naming_who(store: Arc<dyn Store>) {
    let (task, gate) = waiting_task(&store).await;
    let failed = store
        .signal_step(
            task,
            gate.step_uuid,
            &signal(Decision::Reject, "too expensive"),
            "carol",
            at(4),
        )
        .await
        .unwrap();
    assert_eq!(failed.status, StepState::Error);
    let error = failed.last_error.unwrap();
    assert_eq!(error["message"], "rejected by carol: too expensive");
    assert_eq!(error["by"], "carol");
    assert_eq!(status(&store, task).await, "blocked_by_failures");
    let dlq = store
        .list_dlq(&DlqFilter {
            task_uuid: Some(task),
            limit: 100,
            ..DlqFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].step_uuid, Some(gate.step_uuid));
    assert_eq!(
        dlq[0].notes.as_deref(),
        Some("step `approve`: rejected by carol: too expensive")
    );
    assert!(
        claim(&store, "w", at(5)).await.is_empty(),
        "ship never runs"
    );
}

async fn an_approval_times_out_into_the_dlq(store: Arc<dyn Store>) {
    let (task, _) = waiting_task(&store).await;
    // The deadline is 60 s after the step started waiting (at 2 ms).
    assert_eq!(store.expire_waiting_steps(at(59_000)).await.unwrap(), 0);
    assert_eq!(store.expire_waiting_steps(at(60_002)).await.unwrap(), 1);
    assert_eq!(store.expire_waiting_steps(at(60_003)).await.unwrap(), 0);
    let gate = step_named(&store, task, "approve").await;
    assert_eq!(gate.status, StepState::Error);
    assert_eq!(
        gate.last_error.unwrap()["message"],
        "approval timed out after 60 s (on_timeout: reject)"
    );
    assert_eq!(status(&store, task).await, "blocked_by_failures");
    let trail = store.audit_trail(task, Some(gate.step_uuid)).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(
        (last.to_state.as_str(), last.actor.as_str()),
        ("error", "system")
    );
    let err = store
        .signal_step(
            task,
            gate.step_uuid,
            &signal(Decision::Approve, "late"),
            "bob",
            at(60_004),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("not waiting")),
        "{err}"
    );
}

async fn signals_to_steps_that_are_not_waiting_are_refused(store: Arc<dyn Store>) {
    let task = store
        .create_task(new_dynamic_task(GATED, json!({}), 10), t0())
        .await
        .unwrap()
        .task_uuid;
    let gate = step_named(&store, task, "approve").await;
    assert_eq!(gate.status, StepState::Pending);
    let err = store
        .signal_step(
            task,
            gate.step_uuid,
            &signal(Decision::Approve, "early"),
            "bob",
            at(1),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("pending, not waiting")),
        "{err}"
    );
    let prepare = step_named(&store, task, "prepare").await;
    let err = store
        .signal_step(
            task,
            prepare.step_uuid,
            &signal(Decision::Approve, "x"),
            "bob",
            at(1),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("only approval steps")),
        "{err}"
    );
    let err = store
        .signal_step(
            task,
            Uuid::new_v4(),
            &signal(Decision::Approve, "x"),
            "bob",
            at(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    let other = create(&store, SINGLE).await.task_uuid;
    let err = store
        .signal_step(
            other,
            gate.step_uuid,
            &signal(Decision::Approve, "x"),
            "bob",
            at(1),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(_)),
        "a step of another task: {err}"
    );
}

async fn cancelling_a_task_cancels_its_waiting_step(store: Arc<dyn Store>) {
    let (task, _) = waiting_task(&store).await;
    store.cancel_task(task, "dave", None, at(3)).await.unwrap();
    let gate = step_named(&store, task, "approve").await;
    assert_eq!(gate.status, StepState::Cancelled);
    assert_eq!(store.expire_waiting_steps(at(120_000)).await.unwrap(), 0);
    let err = store
        .signal_step(
            task,
            gate.step_uuid,
            &signal(Decision::Approve, "x"),
            "bob",
            at(4),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
}
