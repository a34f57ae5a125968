//! Releasing a lease at shutdown (the step is claimable at once, the attempt does not count)
//! and purging finished tasks (only finished ones, only before the cutoff, never with a pending
//! DLQ entry, every row of theirs gone, in batches).

use std::sync::Arc;

use chrono::Duration;
use serde_json::json;
use tasker_core::store::{
    DlqFilter, DlqUpdate, ManualAction, PurgeCount, RecordOutcome, ResolutionStatus,
};
use tasker_core::{StepState, Store};
use uuid::Uuid;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_store =>
    a_released_lease_is_claimable_at_once_and_its_attempt_does_not_count,
    purge_deletes_only_old_finished_tasks_without_pending_dlq_entries,
);

async fn a_released_lease_is_claimable_at_once_and_its_attempt_does_not_count(
    store: Arc<dyn Store>,
) {
    let task = create(&store, SINGLE).await;
    let leaving = claim(&store, "leaving", at(0)).await.remove(0);
    assert_eq!(leaving.lease.attempt, 1);
    assert!(
        store
            .release_lease(&leaving.lease, at(1_000))
            .await
            .unwrap()
    );
    let step = &store.list_steps(task.task_uuid).await.unwrap()[0];
    assert_eq!(step.status, StepState::Enqueued);
    assert_eq!(step.attempts, 0, "the released attempt does not count");
    assert!(
        !store
            .release_lease(&leaving.lease, at(1_001))
            .await
            .unwrap(),
        "a lease is released once"
    );
    assert!(!store.renew_lease(&leaving.lease, at(2_000)).await.unwrap());
    // Claimable at once: well before the 30 s lease would have expired.
    let staying = claim(&store, "staying", at(1_002)).await.remove(0);
    assert_eq!(staying.lease.attempt, 1);
    assert_eq!(
        succeed(&store, &leaving.lease, json!("late"), at(1_003)).await,
        RecordOutcome::Discarded
    );
    assert!(
        !store
            .release_lease(&leaving.lease, at(1_004))
            .await
            .unwrap(),
        "an old lease cannot release the new holder's step"
    );
    assert_eq!(
        succeed(&store, &staying.lease, json!("done"), at(1_005)).await,
        RecordOutcome::Completed
    );
    assert_eq!(status(&store, task.task_uuid).await, "complete");
    let step = &store.list_steps(task.task_uuid).await.unwrap()[0];
    assert_eq!(step.attempts, 1);
    let audit = store
        .audit_trail(task.task_uuid, Some(step.step_uuid))
        .await
        .unwrap();
    let path: Vec<(&str, &str)> = audit
        .iter()
        .map(|t| (t.to_state.as_str(), t.actor.as_str()))
        .collect();
    assert_eq!(
        path[path.len() - 4..],
        [
            ("in_progress", "leaving"),
            ("enqueued", "leaving"),
            ("in_progress", "staying"),
            ("complete", "staying")
        ],
        "{audit:#?}"
    );
    let release = &audit[audit.len() - 3];
    assert_eq!(
        release.reason.as_deref(),
        Some("lease released by worker leaving during attempt 1; the attempt does not count")
    );
    assert_eq!(release.at, at(1_000));
}

/// Runs every step of `task` to success at `now` (claims until none is left).
async fn finish(store: &Arc<dyn Store>, now: chrono::DateTime<chrono::Utc>) {
    loop {
        let claimed = claim(store, "w", now).await;
        if claimed.is_empty() {
            return;
        }
        for c in claimed {
            assert_eq!(
                succeed(store, &c.lease, json!("ok"), now).await,
                RecordOutcome::Completed
            );
        }
    }
}

/// A task whose only step failed permanently and was then resolved by hand: the task is
/// complete, and so is its DLQ entry (`manually_resolved`), which is returned.
async fn resolved_after_dlq(
    store: &Arc<dyn Store>,
    now: chrono::DateTime<chrono::Utc>,
) -> (Uuid, Uuid) {
    let task = create(store, SINGLE).await;
    let c = claim(store, "w", now).await.remove(0);
    assert_eq!(
        fail(store, &c.lease, false, now).await,
        RecordOutcome::FailedPermanently
    );
    let action = ManualAction::ResolveManually {
        reason: "fixed by hand".into(),
    };
    store
        .manual_step_action(task.task_uuid, c.step.step_uuid, &action, "op", now)
        .await
        .unwrap();
    assert_eq!(status(store, task.task_uuid).await, "complete");
    let entry = store
        .list_dlq(&DlqFilter {
            task_uuid: Some(task.task_uuid),
            limit: 10,
            ..DlqFilter::default()
        })
        .await
        .unwrap()
        .remove(0);
    (task.task_uuid, entry.dlq_entry_uuid)
}

async fn purge_deletes_only_old_finished_tasks_without_pending_dlq_entries(store: Arc<dyn Store>) {
    let day = |n: i64| at(0) + Duration::days(n);
    // Purged: a diamond completed on day 1 (one step retried once, so two results), a task
    // cancelled on day 2, a task resolved by hand on day 2 whose DLQ entry was resolved on day 3.
    let diamond = create(&store, DIAMOND).await.task_uuid;
    let first = claim(&store, "w", day(1)).await.remove(0);
    assert!(matches!(
        fail(&store, &first.lease, true, day(1)).await,
        RecordOutcome::RetryScheduled { .. }
    ));
    store
        .enqueue_due_retries(day(1) + Duration::hours(1))
        .await
        .unwrap();
    finish(&store, day(1) + Duration::hours(1)).await;
    assert_eq!(status(&store, diamond).await, "complete");
    let cancelled = create(&store, SINGLE).await.task_uuid;
    store
        .cancel_task(cancelled, "op", Some("not needed"), day(2))
        .await
        .unwrap();
    let (resolved, entry) = resolved_after_dlq(&store, day(2)).await;
    let update = DlqUpdate {
        resolution_status: Some(ResolutionStatus::ManuallyResolved),
        notes: Some("done".into()),
        resolver: "op".into(),
    };
    store
        .update_dlq_entry(entry, &update, day(3))
        .await
        .unwrap();
    // Kept: a finished task whose DLQ entry an operator reopened (pending), a task still
    // running, a task that finished after the cutoff.
    let (pending_dlq, reopened) = resolved_after_dlq(&store, day(1)).await;
    let reopen = DlqUpdate {
        resolution_status: Some(ResolutionStatus::Pending),
        notes: Some("look again".into()),
        resolver: "op".into(),
    };
    store
        .update_dlq_entry(reopened, &reopen, day(2))
        .await
        .unwrap();
    let running = create(&store, SINGLE).await.task_uuid;
    claim(&store, "w", day(1)).await;
    let recent = create(&store, SINGLE).await.task_uuid;
    finish(&store, day(20)).await;
    assert_eq!(status(&store, running).await, "steps_in_process");

    let cutoff = day(10);
    let planned = store.purgeable_tasks(cutoff).await.unwrap();
    assert_eq!(planned.tasks, 3, "{planned:?}");
    assert_eq!(planned.steps, 4 + 1 + 1, "{planned:?}");
    assert_eq!(planned.results, 5 + 1, "{planned:?}");
    assert_eq!(planned.dlq_entries, 1, "{planned:?}");
    let mut expected_transitions = 0;
    for task in [diamond, cancelled, resolved] {
        expected_transitions += store.audit_trail(task, None).await.unwrap().len() as u64;
    }
    assert_eq!(planned.transitions, expected_transitions);
    assert_eq!(
        store.purgeable_tasks(cutoff).await.unwrap(),
        planned,
        "a dry run deletes nothing"
    );

    let one = store.purge_finished_tasks(cutoff, 1).await.unwrap();
    assert_eq!(one.tasks, 1, "a batch holds at most `limit` tasks");
    assert_eq!(store.get_task(diamond).await.unwrap(), None, "oldest first");
    let rest = tasker_store::purge_finished(store.as_ref(), cutoff, 1, std::time::Duration::ZERO)
        .await
        .unwrap();
    let mut total = one;
    total.add(rest);
    assert_eq!(total, planned);
    assert_eq!(
        store.purgeable_tasks(cutoff).await.unwrap(),
        PurgeCount::default()
    );

    for gone in [diamond, cancelled, resolved] {
        assert_eq!(store.get_task(gone).await.unwrap(), None);
        assert!(store.list_steps(gone).await.unwrap().is_empty());
        assert!(store.audit_trail(gone, None).await.unwrap().is_empty());
        let entries = store
            .list_dlq(&DlqFilter {
                task_uuid: Some(gone),
                limit: 10,
                ..DlqFilter::default()
            })
            .await
            .unwrap();
        assert!(entries.is_empty());
    }
    for kept in [pending_dlq, running, recent] {
        assert!(store.get_task(kept).await.unwrap().is_some(), "{kept} kept");
        assert!(!store.list_steps(kept).await.unwrap().is_empty());
        assert!(!store.audit_trail(kept, None).await.unwrap().is_empty());
    }
    let pending = store
        .list_dlq(&DlqFilter {
            task_uuid: Some(pending_dlq),
            limit: 10,
            ..DlqFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].resolution_status, ResolutionStatus::Pending);
    // The running task stays even with a cutoff in the far future; the others then go.
    let later = store.purge_finished_tasks(day(1000), 100).await.unwrap();
    assert_eq!(later.tasks, 1, "only the recent task: {later:?}");
    assert!(store.get_task(running).await.unwrap().is_some());
    assert!(store.get_task(pending_dlq).await.unwrap().is_some());
}
