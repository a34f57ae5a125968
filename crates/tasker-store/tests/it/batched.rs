//! Claims and results in batches: one claim takes steps of several tasks with everything their
//! handlers need; one `record_results` call completes successes set-based, routes failures
//! and step-shaping results through the one-by-one rules, and discards stale leases.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tasker_core::store::{
    ClaimRequest, ClaimedStep, Lease, RecordOutcome, StepOutcome, StepReport,
};
use tasker_core::{StepState, Store};
use uuid::Uuid;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_store =>
    one_batch_completes_steps_of_several_tasks_and_enqueues_their_children,
    a_batch_mixing_failures_and_successes_follows_the_single_result_rules,
    batch_copies_recorded_together_release_the_join_once_all_are_done,
    a_result_claims_the_step_it_releases_in_its_own_transaction,
    a_batch_claims_for_its_slots_and_a_stale_result_claims_nothing,
);

fn success(lease: &Lease, v: Value) -> (Lease, StepReport) {
    (
        lease.clone(),
        StepReport {
            outcome: StepOutcome::Success(v),
            started_at: at(1),
            jitter_sample: 0.0,
        },
    )
}

fn failure(lease: &Lease) -> (Lease, StepReport) {
    (
        lease.clone(),
        StepReport {
            outcome: StepOutcome::Failure {
                error: json!({"message": "boom"}),
                retryable: false,
            },
            started_at: at(1),
            jitter_sample: 0.0,
        },
    )
}

/// The claimed step of `task` named `name`.
fn pick<'a>(claimed: &'a [ClaimedStep], task: Uuid, name: &str) -> &'a ClaimedStep {
    claimed
        .iter()
        .find(|c| c.step.task_uuid == task && c.step.name == name)
        .unwrap_or_else(|| panic!("{name} of {task} not claimed"))
}

async fn states(store: &Arc<dyn Store>, task: Uuid) -> BTreeMap<String, StepState> {
    store
        .list_steps(task)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.status))
        .collect()
}

async fn one_batch_completes_steps_of_several_tasks_and_enqueues_their_children(
    store: Arc<dyn Store>,
) {
    let diamond = create(&store, DIAMOND).await.task_uuid;
    let linear = create(&store, LINEAR).await.task_uuid;
    let single = create(&store, SINGLE).await.task_uuid;
    let first = claim(&store, "w1", at(1)).await;
    assert_eq!(
        first.len(),
        3,
        "one claim takes the ready step of each task"
    );
    for c in &first {
        assert_eq!(c.lease.attempt, 1);
        assert_eq!(c.step.status, StepState::InProgress);
        assert_eq!(c.step.attempts, 1);
        assert_eq!(c.context, json!({"n": 1}));
        assert!(c.step.depends_on.is_empty());
        assert!(c.parent_results.is_empty());
    }
    let stale = Lease {
        token: Uuid::new_v4(),
        ..pick(&first, single, "only").lease.clone()
    };
    let reports = vec![
        success(&pick(&first, diamond, "a").lease, json!({"a": 1})),
        success(&stale, json!("stale")),
        success(&pick(&first, linear, "a").lease, json!({"a": 2})),
        success(&pick(&first, single, "only").lease, json!("done")),
    ];
    let outcomes = store.record_results(&reports, at(2)).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            RecordOutcome::Completed,
            RecordOutcome::Discarded,
            RecordOutcome::Completed,
            RecordOutcome::Completed
        ]
    );
    assert_eq!(status(&store, single).await, "complete");
    let only = &store.list_steps(single).await.unwrap()[0];
    assert_eq!(
        only.results,
        Some(json!("done")),
        "the stale report wrote nothing"
    );
    assert_eq!(only.completed_at, Some(at(2)));
    let d = states(&store, diamond).await;
    assert_eq!(d["a"], StepState::Complete);
    assert_eq!(d["b"], StepState::Enqueued);
    assert_eq!(d["c"], StepState::Enqueued);
    assert_eq!(d["d"], StepState::Pending);
    assert_eq!(states(&store, linear).await["b"], StepState::Enqueued);
    // The children of every task in the batch were enqueued together, each audited as released
    // by the worker that completed its parent, with its queue time set.
    for (task, name) in [(diamond, "b"), (diamond, "c"), (linear, "b")] {
        let child = store
            .list_steps(task)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap();
        let audit = store
            .audit_trail(task, Some(child.step_uuid))
            .await
            .unwrap();
        let released = audit.last().unwrap();
        assert_eq!(
            (
                released.from_state.as_deref(),
                released.to_state.as_str(),
                released.actor.as_str(),
                released.reason.as_deref(),
                released.at
            ),
            (
                Some("pending"),
                "enqueued",
                "w1",
                Some("dependencies satisfied"),
                at(2)
            ),
            "{name} of {task}"
        );
    }
    let a = &store.list_steps(linear).await.unwrap()[0];
    let audit = store.audit_trail(linear, Some(a.step_uuid)).await.unwrap();
    let reasons: Vec<(String, String)> = audit
        .iter()
        .map(|t| (t.to_state.to_string(), t.reason.clone().unwrap_or_default()))
        .collect();
    assert!(
        reasons.contains(&("in_progress".into(), "claimed for attempt 1".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("complete".into(), "attempt 1 succeeded".into())),
        "{reasons:?}"
    );
    assert!(audit.iter().any(|t| t.actor == "w1"));

    let second = claim(&store, "w2", at(3)).await;
    assert_eq!(second.len(), 3);
    let b = pick(&second, diamond, "b");
    assert_eq!(b.step.depends_on, vec!["a".to_owned()]);
    assert_eq!(b.parent_results["a"], json!({"a": 1}));
    assert_eq!(
        pick(&second, linear, "b").parent_results["a"],
        json!({"a": 2})
    );
    let reports: Vec<_> = second
        .iter()
        .map(|c| success(&c.lease, json!(c.step.name)))
        .collect();
    let outcomes = store.record_results(&reports, at(4)).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == RecordOutcome::Completed));
    assert_eq!(
        states(&store, diamond).await["d"],
        StepState::Enqueued,
        "the join is released once"
    );
    let third = claim(&store, "w3", at(5)).await;
    assert_eq!(third.len(), 2);
    let d = pick(&third, diamond, "d");
    assert_eq!(d.parent_results.len(), 2);
    let reports: Vec<_> = third.iter().map(|c| success(&c.lease, json!(1))).collect();
    store.record_results(&reports, at(6)).await.unwrap();
    assert_eq!(status(&store, diamond).await, "complete");
    assert_eq!(status(&store, linear).await, "complete");
}

async fn a_batch_mixing_failures_and_successes_follows_the_single_result_rules(
    store: Arc<dyn Store>,
) {
    let diamond = create(&store, DIAMOND).await.task_uuid;
    let linear = create(&store, LINEAR).await.task_uuid;
    let first = claim(&store, "w", at(1)).await;
    store
        .record_results(
            &first
                .iter()
                .map(|c| success(&c.lease, json!(0)))
                .collect::<Vec<_>>(),
            at(2),
        )
        .await
        .unwrap();
    let second = claim(&store, "w", at(3)).await;
    assert_eq!(second.len(), 3);
    let reports = vec![
        success(&pick(&second, diamond, "b").lease, json!("b")),
        failure(&pick(&second, diamond, "c").lease),
        success(&pick(&second, linear, "b").lease, json!("b")),
    ];
    let outcomes = store.record_results(&reports, at(4)).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            RecordOutcome::Completed,
            RecordOutcome::FailedPermanently,
            RecordOutcome::Completed
        ]
    );
    assert_eq!(status(&store, diamond).await, "blocked_by_failures");
    let d = states(&store, diamond).await;
    assert_eq!(d["c"], StepState::Error);
    assert_eq!(d["d"], StepState::Pending);
    let dlq = store.dlq_stats(None).await.unwrap();
    assert_eq!(dlq.iter().map(|s| s.total).sum::<u64>(), 1);
    assert_eq!(states(&store, linear).await["c"], StepState::Enqueued);
}

async fn batch_copies_recorded_together_release_the_join_once_all_are_done(store: Arc<dyn Store>) {
    let yaml = "name: batch\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: split, type: batchable, batch: {worker: part}, handler: {callable: h}}\n\
  - {name: part, type: batch_worker, handler: {callable: h}, depends_on: [split]}\n\
  - {name: total, handler: {callable: h}, depends_on: [part]}\n";
    let task = store
        .create_task(new_dynamic_task(yaml, json!({}), 100), t0())
        .await
        .unwrap()
        .task_uuid;
    let split = claim(&store, "w", at(1)).await;
    let cursors: Vec<Value> = (0..12).map(|i| json!({"i": i})).collect();
    // A batchable's result shapes the task: it takes the one-by-one path even in a batch.
    let outcomes = store
        .record_results(
            &[success(&split[0].lease, json!({"batches": cursors}))],
            at(2),
        )
        .await
        .unwrap();
    assert_eq!(outcomes, vec![RecordOutcome::Completed]);
    let copies = claim(&store, "w", at(3)).await;
    assert_eq!(copies.len(), 10, "the claim helper asks for ten");
    let reports: Vec<_> = copies
        .iter()
        .map(|c| success(&c.lease, c.step.batch.clone().unwrap()["index"].clone()))
        .collect();
    store.record_results(&reports, at(4)).await.unwrap();
    assert_eq!(states(&store, task).await["total"], StepState::Pending);
    let rest = claim(&store, "w", at(5)).await;
    assert_eq!(rest.len(), 2);
    let reports: Vec<_> = rest
        .iter()
        .map(|c| success(&c.lease, c.step.batch.clone().unwrap()["index"].clone()))
        .collect();
    store.record_results(&reports, at(6)).await.unwrap();
    let total = claim(&store, "w", at(7)).await;
    assert_eq!(total.len(), 1);
    let want: Vec<Value> = (0..12).map(|i| json!(i)).collect();
    assert_eq!(total[0].parent_results["part"], Value::Array(want));
}

fn claim_request(worker: &str, limit: u32) -> ClaimRequest {
    ClaimRequest {
        worker_id: worker.into(),
        namespaces: vec![],
        limit,
        lease: chrono::Duration::seconds(30),
    }
}

/// The audit rows of `step`, as (from, to, actor, reason).
async fn audit_of(
    store: &Arc<dyn Store>,
    task: Uuid,
    step: Uuid,
) -> Vec<(Option<String>, String, String, Option<String>)> {
    store
        .audit_trail(task, Some(step))
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.from_state, t.to_state, t.actor, t.reason))
        .collect()
}

/// A linear task's result claims the step it enqueues, with a lease of the reporting worker,
/// everything the handler needs, and the same audit rows as a claim of its own; the next
/// result records under that lease.
async fn a_result_claims_the_step_it_releases_in_its_own_transaction(store: Arc<dyn Store>) {
    let task = create(&store, LINEAR).await.task_uuid;
    let a = claim(&store, "w1", at(1)).await.remove(0);
    assert_eq!(a.step.name, "a");
    let (outcomes, claimed) = store
        .record_results_and_claim(
            &[success(&a.lease, json!({"a": 1}))],
            &claim_request("w1", 4),
            at(2),
        )
        .await
        .unwrap();
    assert_eq!(outcomes, vec![RecordOutcome::Completed]);
    assert_eq!(claimed.len(), 1, "the released child is claimed at once");
    let b = &claimed[0];
    assert_eq!(
        (b.step.name.as_str(), b.step.status, b.step.attempts),
        ("b", StepState::InProgress, 1)
    );
    assert_eq!((b.lease.worker_id.as_str(), b.lease.attempt), ("w1", 1));
    assert_eq!(b.lease.expires_at, at(2) + chrono::Duration::seconds(30));
    assert_eq!(b.parent_results.get("a"), Some(&json!({"a": 1})));
    assert_eq!(b.context, json!({"n": 1}));
    let trail: Vec<(Option<String>, String)> = audit_of(&store, task, b.step.step_uuid)
        .await
        .into_iter()
        .map(|(from, to, ..)| (from, to))
        .collect();
    assert_eq!(
        trail,
        vec![
            (None, "pending".to_owned()),
            (Some("pending".to_owned()), "enqueued".to_owned()),
            (Some("enqueued".to_owned()), "in_progress".to_owned())
        ]
    );
    assert_eq!(
        audit_of(&store, task, b.step.step_uuid).await[2]
            .3
            .as_deref(),
        Some("claimed for attempt 1")
    );
    // Nobody else can claim it, and its own lease records its result.
    assert!(claim(&store, "w2", at(3)).await.is_empty());
    assert_eq!(
        succeed(&store, &b.lease, json!({"b": 2}), at(4)).await,
        RecordOutcome::Completed
    );
    assert_eq!(states(&store, task).await["c"], StepState::Enqueued);
}

/// A batch of successes claims up to the limit (the released children of several tasks in
/// queue order); a result whose lease is stale records nothing and claims nothing, and a zero
/// limit claims nothing.
async fn a_batch_claims_for_its_slots_and_a_stale_result_claims_nothing(store: Arc<dyn Store>) {
    let diamond = create(&store, DIAMOND).await.task_uuid;
    let linear = create(&store, LINEAR).await.task_uuid;
    let first = claim(&store, "w1", at(1)).await;
    assert_eq!(first.len(), 2);
    let reports = vec![
        success(&pick(&first, diamond, "a").lease, json!(1)),
        success(&pick(&first, linear, "a").lease, json!(2)),
    ];
    let (outcomes, claimed) = store
        .record_results_and_claim(&reports, &claim_request("w1", 2), at(2))
        .await
        .unwrap();
    assert_eq!(outcomes, vec![RecordOutcome::Completed; 2]);
    assert_eq!(claimed.len(), 2, "the limit bounds the claim");
    assert!(claimed.iter().all(|c| c.lease.worker_id == "w1"));
    // Three children were released: the one left is claimable by anyone.
    let rest = claim(&store, "w2", at(3)).await;
    assert_eq!(rest.len(), 1);
    let mut names: Vec<(Uuid, String)> = claimed
        .iter()
        .chain(&rest)
        .map(|c| (c.step.task_uuid, c.step.name.clone()))
        .collect();
    names.sort();
    let mut want = vec![
        (diamond, "b".to_owned()),
        (diamond, "c".to_owned()),
        (linear, "b".to_owned()),
    ];
    want.sort();
    assert_eq!(names, want);

    let single = create(&store, SINGLE).await.task_uuid;
    let only = claim(&store, "w3", at(4)).await.remove(0);
    assert_eq!(only.step.task_uuid, single);
    let other = create(&store, SINGLE).await.task_uuid;
    let stale = Lease {
        token: Uuid::new_v4(),
        ..only.lease.clone()
    };
    let (outcomes, claimed) = store
        .record_results_and_claim(
            &[success(&stale, json!("x"))],
            &claim_request("w3", 5),
            at(5),
        )
        .await
        .unwrap();
    assert_eq!(outcomes, vec![RecordOutcome::Discarded]);
    assert!(claimed.is_empty(), "a discarded result claims nothing");
    assert_eq!(states(&store, other).await["only"], StepState::Enqueued);
    let (outcomes, claimed) = store
        .record_results_and_claim(
            &[success(&only.lease, json!("y"))],
            &claim_request("w3", 0),
            at(6),
        )
        .await
        .unwrap();
    assert_eq!(outcomes, vec![RecordOutcome::Completed]);
    assert!(claimed.is_empty(), "a zero limit claims nothing");
    assert_eq!(states(&store, other).await["only"], StepState::Enqueued);
    // A result that releases nothing still claims for its slot (on PostgreSQL after its
    // commit, so as not to hold its task's lock longer).
    let held = claim(&store, "w4", at(7)).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].step.task_uuid, other);
    let later = create(&store, SINGLE).await.task_uuid;
    let (outcomes, claimed) = store
        .record_results_and_claim(
            &[success(&held[0].lease, json!("z"))],
            &claim_request("w4", 3),
            at(8),
        )
        .await
        .unwrap();
    assert_eq!(outcomes, vec![RecordOutcome::Completed]);
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (
            claimed[0].step.task_uuid,
            claimed[0].lease.worker_id.as_str()
        ),
        (later, "w4")
    );
    assert_eq!(status(&store, other).await, "complete");
}
