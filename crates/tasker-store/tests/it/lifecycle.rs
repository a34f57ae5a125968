//! Task lifecycle through the store: DAG order, result flow, audit rows, retries, permanent
//! failure with DLQ and manual resolution, cancellation, idempotency.

use std::sync::Arc;

use serde_json::json;
use tasker_core::store::{DlqFilter, ManualAction, RecordOutcome, ResolutionStatus};
use tasker_core::{StepState, Store, StoreError, TaskState};

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_store =>
    linear_task_runs_in_order_with_results_and_full_audit,
    diamond_join_waits_for_both_branches,
    retryable_failures_back_off_and_complete_on_third_attempt,
    permanent_failure_blocks_task_opens_dlq_and_manual_completion_resumes,
    reset_for_retry_runs_a_failed_step_again,
    cancel_is_atomic_and_refused_twice_and_late_results_are_discarded,
    idempotency_key_conflict_names_the_existing_task,
);

async fn linear_task_runs_in_order_with_results_and_full_audit(store: Arc<dyn Store>) {
    let task = create(&store, LINEAR).await;
    assert_eq!(task.status, TaskState::StepsInProcess);
    assert_eq!(task.step_counts.get(StepState::Enqueued), 1);
    assert_eq!(task.step_counts.get(StepState::Pending), 2);
    // The created record is built without reading it back: it is what the store holds.
    let stored = store.get_task(task.task_uuid).await.unwrap().unwrap();
    assert_eq!(stored, task);
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let now = at(10 * i as i64 + 1);
        let claimed = claim(&store, "w1", now).await;
        assert_eq!(claimed.len(), 1, "only {name} is ready");
        let c = &claimed[0];
        assert_eq!(c.step.name, *name);
        assert_eq!(c.lease.attempt, 1);
        assert_eq!(c.context, json!({"n": 1}));
        if *name == "b" {
            assert_eq!(c.parent_results["a"], json!({"from": "a"}));
        }
        assert!(claim(&store, "w2", now).await.is_empty());
        let out = succeed(&store, &c.lease, json!({"from": name}), now).await;
        assert_eq!(out, RecordOutcome::Completed);
    }
    let done = store.get_task(task.task_uuid).await.unwrap().unwrap();
    assert_eq!(done.status, TaskState::Complete);
    assert_eq!(done.completed_at, Some(at(21)));
    assert_eq!(done.step_counts.get(StepState::Complete), 3);
    let steps = store.list_steps(task.task_uuid).await.unwrap();
    assert_eq!(steps[2].depends_on, vec!["b".to_owned()]);
    assert_eq!(steps[2].results, Some(json!({"from": "c"})));
    let audit = store.audit_trail(task.task_uuid, None).await.unwrap();
    // Per step: created, enqueued, in_progress, complete. Task: created, in process, complete.
    assert_eq!(audit.len(), 3 * 4 + 3);
    let task_path: Vec<(Option<&str>, &str)> = audit
        .iter()
        .filter(|t| t.step_uuid.is_none())
        .map(|t| (t.from_state.as_deref(), t.to_state.as_str()))
        .collect();
    assert_eq!(
        task_path,
        [
            (None, "pending"),
            (Some("pending"), "steps_in_process"),
            (Some("steps_in_process"), "complete")
        ]
    );
    let step_a = store
        .audit_trail(task.task_uuid, Some(steps[0].step_uuid))
        .await
        .unwrap();
    let path: Vec<&str> = step_a.iter().map(|t| t.to_state.as_str()).collect();
    assert_eq!(path, ["pending", "enqueued", "in_progress", "complete"]);
    assert_eq!(step_a[2].actor, "w1");
    assert_eq!(step_a[1].from_state.as_deref(), Some("pending"));
}

async fn diamond_join_waits_for_both_branches(store: Arc<dyn Store>) {
    let task = create(&store, DIAMOND).await;
    let a = claim(&store, "w", at(1)).await;
    succeed(&store, &a[0].lease, json!(1), at(1)).await;
    let bc = claim(&store, "w", at(2)).await;
    let names: Vec<&str> = bc.iter().map(|c| c.step.name.as_str()).collect();
    assert_eq!(names, ["b", "c"]);
    succeed(&store, &bc[0].lease, json!(2), at(3)).await;
    assert!(claim(&store, "w", at(4)).await.is_empty(), "d waits for c");
    succeed(&store, &bc[1].lease, json!(3), at(5)).await;
    let d = claim(&store, "w", at(6)).await;
    assert_eq!(d[0].step.name, "d");
    assert_eq!(d[0].parent_results.len(), 2);
    assert_eq!(d[0].parent_results["c"], json!(3));
    succeed(&store, &d[0].lease, json!(4), at(7)).await;
    assert_eq!(status(&store, task.task_uuid).await, "complete");
}

async fn retryable_failures_back_off_and_complete_on_third_attempt(store: Arc<dyn Store>) {
    let task = create(&store, SINGLE).await;
    let c1 = claim(&store, "w", at(0)).await.remove(0);
    let out = fail(&store, &c1.lease, true, at(0)).await;
    assert_eq!(
        out,
        RecordOutcome::RetryScheduled {
            retry_at: at(100),
            delay_ms: 100
        }
    );
    assert_eq!(status(&store, task.task_uuid).await, "waiting_for_retry");
    assert_eq!(store.next_retry_at().await.unwrap(), Some(at(100)));
    assert_eq!(store.enqueue_due_retries(at(99)).await.unwrap(), 0);
    assert!(claim(&store, "w", at(99)).await.is_empty());
    assert_eq!(store.enqueue_due_retries(at(100)).await.unwrap(), 1);
    assert_eq!(status(&store, task.task_uuid).await, "steps_in_process");
    let c2 = claim(&store, "w", at(101)).await.remove(0);
    assert_eq!(c2.lease.attempt, 2);
    let out = fail(&store, &c2.lease, true, at(101)).await;
    assert_eq!(
        out,
        RecordOutcome::RetryScheduled {
            retry_at: at(301),
            delay_ms: 200
        }
    );
    store.enqueue_due_retries(at(301)).await.unwrap();
    let c3 = claim(&store, "w", at(302)).await.remove(0);
    assert_eq!(c3.lease.attempt, 3);
    assert_eq!(
        succeed(&store, &c3.lease, json!("ok"), at(303)).await,
        RecordOutcome::Completed
    );
    assert_eq!(status(&store, task.task_uuid).await, "complete");
    let step = &store.list_steps(task.task_uuid).await.unwrap()[0];
    assert_eq!(step.attempts, 3);
    let audit = store
        .audit_trail(task.task_uuid, Some(step.step_uuid))
        .await
        .unwrap();
    let retries: Vec<&str> = audit
        .iter()
        .filter_map(|t| t.reason.as_deref())
        .filter(|r| r.contains("retry in"))
        .collect();
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert!(retries[1].contains("retry in 200 ms"), "{retries:?}");
}

async fn permanent_failure_blocks_task_opens_dlq_and_manual_completion_resumes(
    store: Arc<dyn Store>,
) {
    let task = create(&store, LINEAR).await;
    let a = claim(&store, "w", at(0)).await.remove(0);
    assert_eq!(
        fail(&store, &a.lease, false, at(1)).await,
        RecordOutcome::FailedPermanently
    );
    assert_eq!(status(&store, task.task_uuid).await, "blocked_by_failures");
    let dlq = store
        .list_dlq(&DlqFilter {
            task_uuid: Some(task.task_uuid),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].dlq_reason.as_str(), "max_retries_exceeded");
    assert_eq!(dlq[0].step_uuid, Some(a.step.step_uuid));
    assert_eq!(dlq[0].task_snapshot["status"], "blocked_by_failures");

    let action = ManualAction::CompleteManually {
        result: json!({"fixed": true}),
        reason: "patched".into(),
    };
    let step = store
        .manual_step_action(task.task_uuid, a.step.step_uuid, &action, "bob", at(2))
        .await
        .unwrap();
    assert_eq!(step.status, StepState::Complete);
    assert_eq!(status(&store, task.task_uuid).await, "steps_in_process");
    let b = claim(&store, "w", at(3)).await.remove(0);
    assert_eq!(b.parent_results["a"], json!({"fixed": true}));
    succeed(&store, &b.lease, json!(1), at(4)).await;
    let c = claim(&store, "w", at(5)).await.remove(0);
    let resolve = ManualAction::ResolveManually {
        reason: "skip".into(),
    };
    let err = store
        .manual_step_action(task.task_uuid, c.step.step_uuid, &resolve, "bob", at(6))
        .await;
    assert!(
        matches!(err, Err(StoreError::Conflict(ref m)) if m.contains("in_progress")),
        "{err:?}"
    );
    fail(&store, &c.lease, false, at(7)).await;
    store
        .manual_step_action(task.task_uuid, c.step.step_uuid, &resolve, "bob", at(8))
        .await
        .unwrap();
    assert_eq!(status(&store, task.task_uuid).await, "complete");
    let audit = store
        .audit_trail(task.task_uuid, Some(c.step.step_uuid))
        .await
        .unwrap();
    let last = audit.last().unwrap();
    assert_eq!(
        (last.to_state.as_str(), last.actor.as_str()),
        ("resolved_manually", "bob")
    );
    assert_eq!(last.reason.as_deref(), Some("skip"));
    let dlq = store
        .list_dlq(&DlqFilter {
            task_uuid: Some(task.task_uuid),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        dlq.iter()
            .all(|e| e.resolution_status == ResolutionStatus::ManuallyResolved)
    );
}

async fn reset_for_retry_runs_a_failed_step_again(store: Arc<dyn Store>) {
    let task = create(&store, SINGLE).await;
    let c = claim(&store, "w", at(0)).await.remove(0);
    fail(&store, &c.lease, false, at(1)).await;
    let reset = ManualAction::ResetForRetry {
        reason: "try again".into(),
    };
    let step = store
        .manual_step_action(task.task_uuid, c.step.step_uuid, &reset, "op", at(2))
        .await
        .unwrap();
    assert_eq!((step.status, step.attempts), (StepState::Enqueued, 0));
    let again = claim(&store, "w", at(3)).await.remove(0);
    assert_eq!(again.lease.attempt, 1);
    succeed(&store, &again.lease, json!(1), at(4)).await;
    assert_eq!(status(&store, task.task_uuid).await, "complete");
}

async fn cancel_is_atomic_and_refused_twice_and_late_results_are_discarded(store: Arc<dyn Store>) {
    let task = create(&store, DIAMOND).await;
    let a = claim(&store, "w", at(0)).await.remove(0);
    let cancelled = store
        .cancel_task(task.task_uuid, "carol", Some("no longer needed"), at(1))
        .await
        .unwrap();
    assert_eq!(cancelled.status, TaskState::Cancelled);
    assert_eq!(cancelled.step_counts.get(StepState::Cancelled), 4);
    let again = store
        .cancel_task(task.task_uuid, "carol", None, at(2))
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict(ref m)) if m.contains("already cancelled")),
        "{again:?}"
    );
    assert_eq!(
        succeed(&store, &a.lease, json!(1), at(3)).await,
        RecordOutcome::Discarded
    );
    assert!(claim(&store, "w", at(4)).await.is_empty());
    let audit = store.audit_trail(task.task_uuid, None).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(
        (last.to_state.as_str(), last.actor.as_str()),
        ("cancelled", "carol")
    );
}

async fn idempotency_key_conflict_names_the_existing_task(store: Arc<dyn Store>) {
    let first = store
        .create_task(new_task(SINGLE, json!({}), Some("k1")), t0())
        .await
        .unwrap();
    let err = store
        .create_task(new_task(SINGLE, json!({}), Some("k1")), t0())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateIdempotencyKey { existing } if existing == first.task_uuid),
        "{err:?}"
    );
    store
        .create_task(new_task(SINGLE, json!({}), Some("k2")), t0())
        .await
        .unwrap();
    store
        .create_task(new_task(LINEAR, json!({}), Some("k1")), t0())
        .await
        .unwrap();
}
