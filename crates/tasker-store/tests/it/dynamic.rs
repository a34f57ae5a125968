//! Dynamic workflows through the store: decisions create only the chosen branches (and never
//! the steps below an unchosen one), convergences join whichever parents exist and wait for
//! pending decisions, nested decisions, batch copies with their cursors and ordered results,
//! zero batches, `fail_fast` and `continue`, bad results failing the step into the DLQ with
//! no copies left behind, and a 10,000-copy fan-out.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use tasker_core::store::{
    ClaimRequest, ClaimedStep, DlqFilter, RecordOutcome, StepOrigin, StepOutcome, StepRecord,
    StepReport,
};
use tasker_core::{StepState, StepType, Store, TaskState};
use uuid::Uuid;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_store =>
    decision_creates_the_chosen_branch_and_never_the_steps_below_the_other,
    convergence_joins_one_two_or_zero_chosen_branches,
    nested_decisions_hold_the_convergence_until_the_inner_one_decides,
    batch_copies_carry_their_cursor_and_dependents_see_results_in_index_order,
    copies_see_their_own_batchable_result_without_the_batches_in_every_claim,
    zero_batches_let_the_dependents_proceed_with_an_empty_array,
    decision_choosing_a_batchable_branch_fans_out,
    bad_dynamic_results_fail_the_step_permanently_and_create_nothing,
    fail_fast_cancels_the_unfinished_copies_and_blocks_the_task,
    continue_runs_the_dependents_with_the_failed_batch_indexes,
    fan_out_of_ten_thousand_copies_completes,
);

const ROUTING: &str = "name: routing\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: start, handler: {callable: h}}\n\
  - {name: route, type: decision, branches: [fast, slow], handler: {callable: h}, depends_on: [start]}\n\
  - {name: fast, handler: {callable: h}, depends_on: [route]}\n\
  - {name: slow, handler: {callable: h}, depends_on: [route]}\n\
  - {name: slow_after, handler: {callable: h}, depends_on: [slow]}\n\
  - {name: join, type: deferred_convergence, handler: {callable: h}, depends_on: [fast, slow_after]}\n";

const NESTED: &str = "name: nested\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: outer, type: decision, branches: [inner, side], handler: {callable: h}}\n\
  - {name: inner, type: decision, branches: [deep], handler: {callable: h}, depends_on: [outer]}\n\
  - {name: side, handler: {callable: h}, depends_on: [outer]}\n\
  - {name: deep, handler: {callable: h}, depends_on: [inner]}\n\
  - {name: join, type: deferred_convergence, handler: {callable: h}, depends_on: [side, deep]}\n";

fn batch_yaml(failure: &str) -> String {
    format!(
        "name: batch\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {{name: split, type: batchable, batch: {{worker: part, failure: {failure}}}, handler: {{callable: h}}}}\n\
  - {{name: part, type: batch_worker, handler: {{callable: h}}, depends_on: [split]}}\n\
  - {{name: total, handler: {{callable: h}}, depends_on: [part]}}\n"
    )
}

const ROUTED_BATCH: &str = "name: routed\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: route, type: decision, branches: [split, skip], handler: {callable: h}}\n\
  - {name: skip, handler: {callable: h}, depends_on: [route]}\n\
  - {name: split, type: batchable, batch: {worker: part}, handler: {callable: h}, depends_on: [route]}\n\
  - {name: part, type: batch_worker, handler: {callable: h}, depends_on: [split]}\n\
  - {name: total, handler: {callable: h}, depends_on: [part]}\n\
  - {name: done, type: deferred_convergence, handler: {callable: h}, depends_on: [total, skip]}\n";

async fn start(store: &Arc<dyn Store>, yaml: &str, max_batches: u32) -> Uuid {
    store
        .create_task(new_dynamic_task(yaml, json!({}), max_batches), t0())
        .await
        .unwrap()
        .task_uuid
}

async fn claim_many(store: &Arc<dyn Store>, now: DateTime<Utc>) -> Vec<ClaimedStep> {
    let req = ClaimRequest {
        worker_id: "w".into(),
        namespaces: vec![],
        limit: 1000,
        lease: Duration::seconds(30),
    };
    store.claim_steps(&req, now).await.unwrap()
}

/// Claims the one ready step, checks its name, and completes it with `result`.
async fn run_one(
    store: &Arc<dyn Store>,
    name: &str,
    result: Value,
    now: DateTime<Utc>,
) -> ClaimedStep {
    let claimed = claim_many(store, now).await;
    let names: Vec<&str> = claimed.iter().map(|c| c.step.name.as_str()).collect();
    assert_eq!(names, [name], "exactly {name} is ready");
    let c = claimed.into_iter().next().unwrap();
    assert_eq!(
        succeed(store, &c.lease, result, now).await,
        RecordOutcome::Completed
    );
    c
}

async fn steps(store: &Arc<dyn Store>, task: Uuid) -> Vec<StepRecord> {
    store.list_steps(task).await.unwrap()
}

async fn names(store: &Arc<dyn Store>, task: Uuid) -> BTreeSet<String> {
    steps(store, task)
        .await
        .into_iter()
        .map(|s| s.name)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

async fn task_state(store: &Arc<dyn Store>, task: Uuid) -> TaskState {
    store.get_task(task).await.unwrap().unwrap().status
}

async fn decision_creates_the_chosen_branch_and_never_the_steps_below_the_other(
    store: Arc<dyn Store>,
) {
    let task = start(&store, ROUTING, 100).await;
    assert_eq!(names(&store, task).await, set(&["start", "route"]));
    run_one(&store, "start", json!({}), at(1)).await;
    run_one(&store, "route", json!({"create": ["fast"]}), at(2)).await;
    let all = steps(&store, task).await;
    let created: BTreeSet<String> = all.iter().map(|s| s.name.clone()).collect();
    assert_eq!(created, set(&["start", "route", "fast", "join"]));
    let fast = all.iter().find(|s| s.name == "fast").unwrap();
    assert_eq!(
        (fast.step_type, fast.origin),
        (StepType::Standard, StepOrigin::Decision)
    );
    let route = all.iter().find(|s| s.name == "route").unwrap();
    assert_eq!(
        (route.step_type, route.origin),
        (StepType::Decision, StepOrigin::Template)
    );
    let join = all.iter().find(|s| s.name == "join").unwrap();
    assert_eq!(join.depends_on, ["fast"]);
    run_one(&store, "fast", json!({"v": "f"}), at(3)).await;
    let join = run_one(&store, "join", json!({}), at(4)).await;
    assert_eq!(join.parent_results.keys().collect::<Vec<_>>(), ["fast"]);
    assert_eq!(join.parent_results["fast"], json!({"v": "f"}));
    assert_eq!(task_state(&store, task).await, TaskState::Complete);
    assert!(!names(&store, task).await.contains("slow_after"));
}

async fn convergence_joins_one_two_or_zero_chosen_branches(store: Arc<dyn Store>) {
    for (chosen, want_parents) in [
        (json!(["slow"]), vec!["slow_after"]),
        (json!(["fast", "slow"]), vec!["fast", "slow_after"]),
        (json!([]), vec![]),
    ] {
        let task = start(&store, ROUTING, 100).await;
        run_one(&store, "start", json!({}), at(1)).await;
        run_one(&store, "route", json!({"create": chosen}), at(2)).await;
        let created = names(&store, task).await;
        // Run whatever becomes ready until the task ends.
        let mut now = 3;
        let mut join_parents = None;
        loop {
            let claimed = claim_many(&store, at(now)).await;
            if claimed.is_empty() {
                break;
            }
            for c in claimed {
                if c.step.name == "join" {
                    join_parents = Some(c.parent_results.keys().cloned().collect::<Vec<_>>());
                }
                let name = c.step.name.clone();
                succeed(&store, &c.lease, json!({ "from": name }), at(now)).await;
            }
            now += 1;
        }
        if want_parents.is_empty() {
            assert!(!created.contains("join"), "no parent exists: {created:?}");
            assert_eq!(created, set(&["start", "route"]));
        } else {
            assert_eq!(join_parents.unwrap(), want_parents, "chose {chosen}");
        }
        assert_eq!(
            task_state(&store, task).await,
            TaskState::Complete,
            "chose {chosen}"
        );
    }
}

async fn nested_decisions_hold_the_convergence_until_the_inner_one_decides(store: Arc<dyn Store>) {
    let task = start(&store, NESTED, 100).await;
    assert_eq!(names(&store, task).await, set(&["outer"]));
    run_one(&store, "outer", json!({"create": ["inner", "side"]}), at(1)).await;
    assert_eq!(
        names(&store, task).await,
        set(&["outer", "inner", "side", "join"])
    );
    let ready = claim_many(&store, at(2)).await;
    let mut ready_names: Vec<&str> = ready.iter().map(|c| c.step.name.as_str()).collect();
    ready_names.sort_unstable();
    assert_eq!(ready_names, ["inner", "side"]);
    let side = ready.iter().find(|c| c.step.name == "side").unwrap();
    succeed(&store, &side.lease, json!({"s": 1}), at(3)).await;
    // `side` is done but `inner` may still create `deep`: the join waits.
    assert!(claim_many(&store, at(4)).await.is_empty());
    let inner = ready.iter().find(|c| c.step.name == "inner").unwrap();
    succeed(&store, &inner.lease, json!({"create": ["deep"]}), at(5)).await;
    let deep = steps(&store, task).await;
    let deep = deep.iter().find(|s| s.name == "deep").unwrap();
    assert_eq!(deep.origin, StepOrigin::Decision);
    run_one(&store, "deep", json!({"d": 2}), at(6)).await;
    let join = run_one(&store, "join", json!({}), at(7)).await;
    assert_eq!(
        join.parent_results,
        [
            ("deep".to_owned(), json!({"d": 2})),
            ("side".to_owned(), json!({"s": 1}))
        ]
        .into()
    );
    assert_eq!(task_state(&store, task).await, TaskState::Complete);

    // The inner decision choosing nothing releases the join with `side` alone.
    let task = start(&store, NESTED, 100).await;
    run_one(
        &store,
        "outer",
        json!({"create": ["inner", "side"]}),
        at(10),
    )
    .await;
    for c in claim_many(&store, at(11)).await {
        let result = if c.step.name == "inner" {
            json!({"create": []})
        } else {
            json!(1)
        };
        succeed(&store, &c.lease, result, at(11)).await;
    }
    let join = run_one(&store, "join", json!({}), at(12)).await;
    assert_eq!(join.parent_results.keys().collect::<Vec<_>>(), ["side"]);
    assert_eq!(
        names(&store, task).await,
        set(&["outer", "inner", "side", "join"])
    );
}

async fn batch_copies_carry_their_cursor_and_dependents_see_results_in_index_order(
    store: Arc<dyn Store>,
) {
    let task = start(&store, &batch_yaml("fail_fast"), 100).await;
    assert_eq!(names(&store, task).await, set(&["split"]));
    let cursors: Vec<Value> = (0..11).map(|i| json!({"page": i})).collect();
    run_one(&store, "split", json!({"batches": cursors}), at(1)).await;
    let all = steps(&store, task).await;
    let copies: Vec<&StepRecord> = all.iter().filter(|s| s.batch_index.is_some()).collect();
    assert_eq!(copies.len(), 11);
    assert_eq!(copies[0].name, "part_00");
    assert_eq!(copies[10].name, "part_10");
    assert!(
        copies
            .iter()
            .all(|c| c.origin == StepOrigin::Batch && c.step_type == StepType::BatchWorker)
    );
    let total = all.iter().find(|s| s.name == "total").unwrap();
    assert_eq!(total.depends_on.len(), 11);
    assert!(
        !all.iter().any(|s| s.name == "part"),
        "the pattern is never created"
    );
    let mut claimed = claim_many(&store, at(2)).await;
    assert_eq!(claimed.len(), 11);
    // Complete them in reverse order: the dependent still sees index order.
    claimed.reverse();
    for c in &claimed {
        let batch = c.step.batch.clone().unwrap();
        let index = batch["index"].as_u64().unwrap();
        assert_eq!(
            batch,
            json!({"index": index, "count": 11, "cursor": {"page": index}})
        );
        succeed(&store, &c.lease, json!({ "index": index }), at(3)).await;
    }
    let total = run_one(&store, "total", json!({}), at(4)).await;
    let want: Vec<Value> = (0..11).map(|i| json!({ "index": i })).collect();
    assert_eq!(total.parent_results["part"], Value::Array(want));
    assert_eq!(total.parent_results.len(), 1);
    assert!(total.failed_batches.is_empty());
    assert_eq!(task_state(&store, task).await, TaskState::Complete);
}

/// A copy's `parent_results` hold its batchable's result without `batches` (its own cursor is
/// in `batch`), read once per batchable and kept: a second claim, and copies of another task
/// claimed with them, still see their own task's result.
async fn copies_see_their_own_batchable_result_without_the_batches_in_every_claim(
    store: Arc<dyn Store>,
) {
    let a = start(&store, &batch_yaml("fail_fast"), 100).await;
    let b = start(&store, &batch_yaml("fail_fast"), 100).await;
    let splits = claim_many(&store, at(1)).await;
    assert_eq!(splits.len(), 2);
    for c in &splits {
        let (source, n) = if c.step.task_uuid == a {
            ("a", 3)
        } else {
            ("b", 1)
        };
        let cursors: Vec<Value> = (0..n).map(|i| json!({ "p": i })).collect();
        let result = json!({"batches": cursors, "source": source});
        assert_eq!(
            succeed(&store, &c.lease, result, at(1)).await,
            RecordOutcome::Completed
        );
    }
    let req = |limit| ClaimRequest {
        worker_id: "w".into(),
        namespaces: vec![],
        limit,
        lease: Duration::seconds(30),
    };
    let first = store.claim_steps(&req(2), at(2)).await.unwrap();
    let rest = store.claim_steps(&req(1000), at(2)).await.unwrap();
    assert_eq!((first.len(), rest.len()), (2, 2));
    for c in first.iter().chain(&rest) {
        let source = if c.step.task_uuid == a { "a" } else { "b" };
        assert!(c.step.task_uuid == a || c.step.task_uuid == b);
        assert_eq!(
            c.parent_results["split"],
            json!({ "source": source }),
            "{} of task {source}",
            c.step.name
        );
        assert!(c.step.batch.as_ref().unwrap()["cursor"]["p"].is_u64());
    }
}

async fn zero_batches_let_the_dependents_proceed_with_an_empty_array(store: Arc<dyn Store>) {
    let task = start(&store, &batch_yaml("fail_fast"), 100).await;
    run_one(&store, "split", json!({"batches": []}), at(1)).await;
    let total = run_one(&store, "total", json!({}), at(2)).await;
    assert_eq!(total.parent_results["part"], json!([]));
    assert_eq!(names(&store, task).await, set(&["split", "total"]));
    assert_eq!(task_state(&store, task).await, TaskState::Complete);
}

async fn decision_choosing_a_batchable_branch_fans_out(store: Arc<dyn Store>) {
    let task = start(&store, ROUTED_BATCH, 100).await;
    assert_eq!(names(&store, task).await, set(&["route"]));
    run_one(&store, "route", json!({"create": ["split"]}), at(1)).await;
    assert_eq!(names(&store, task).await, set(&["route", "split"]));
    run_one(
        &store,
        "split",
        json!({"batches": [{"n": 1}, {"n": 2}]}),
        at(2),
    )
    .await;
    assert_eq!(
        names(&store, task).await,
        set(&["route", "split", "part_0", "part_1", "total", "done"])
    );
    // `done` waits while `total` is still to run; `skip` was not chosen.
    for c in claim_many(&store, at(3)).await {
        let n = c.step.batch.as_ref().unwrap()["cursor"]["n"].clone();
        succeed(&store, &c.lease, json!({ "n": n }), at(3)).await;
    }
    let total = run_one(&store, "total", json!({"sum": 3}), at(4)).await;
    assert_eq!(total.parent_results["part"], json!([{"n": 1}, {"n": 2}]));
    let done = run_one(&store, "done", json!({}), at(5)).await;
    assert_eq!(
        done.parent_results,
        [("total".to_owned(), json!({"sum": 3}))].into()
    );
    assert_eq!(task_state(&store, task).await, TaskState::Complete);
}

async fn bad_dynamic_results_fail_the_step_permanently_and_create_nothing(store: Arc<dyn Store>) {
    let cases: [(&str, Value, &str); 7] = [
        (
            ROUTING,
            json!({"pick": ["fast"]}),
            "decision result must be an object {\"create\": [step names]}",
        ),
        (
            ROUTING,
            json!({"create": "fast"}),
            "decision result `create` must be an array",
        ),
        (
            ROUTING,
            json!({"create": ["fast", "ghost"]}),
            "decision chose `ghost`, which is not one of its branches (fast, slow)",
        ),
        (
            ROUTING,
            json!(["fast"]),
            "decision result must be an object",
        ),
        (
            &batch_yaml("fail_fast"),
            json!({"batches": {"a": 1}}),
            "batchable result `batches` must be an array, got an object",
        ),
        (
            &batch_yaml("fail_fast"),
            json!({"batches": [{}, {}, {}, {}]}),
            "batchable result has 4 batches, more than engine.max_batches (3)",
        ),
        (
            &batch_yaml("fail_fast"),
            json!({"batches": [{}, 7]}),
            "batch cursor 1 must be an object, got a number",
        ),
    ];
    for (yaml, result, message) in cases {
        let task = start(&store, yaml, 3).await;
        let before = names(&store, task).await;
        let mut now = 1;
        let out = loop {
            let claimed = claim_many(&store, at(now)).await;
            let c = &claimed[0];
            let r = if c.step.step_type.creates_steps() {
                result.clone()
            } else {
                json!({})
            };
            let out = succeed(&store, &c.lease, r, at(now)).await;
            now += 1;
            if c.step.step_type.creates_steps() {
                break out;
            }
        };
        assert_eq!(out, RecordOutcome::FailedPermanently, "{result}");
        let all = steps(&store, task).await;
        let failed = all.iter().find(|s| s.status == StepState::Error).unwrap();
        let error = failed.last_error.clone().unwrap();
        assert!(
            error["message"].as_str().unwrap().starts_with(message),
            "{error} / {message}"
        );
        assert_eq!(all.len(), before.len(), "nothing was created for {result}");
        assert_eq!(task_state(&store, task).await, TaskState::BlockedByFailures);
        let dlq = store
            .list_dlq(&DlqFilter {
                task_uuid: Some(task),
                limit: 10,
                ..DlqFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(dlq.len(), 1);
        let notes = dlq[0].notes.clone().unwrap();
        assert!(notes.contains(message), "{notes}");
        assert!(
            notes.starts_with(&format!("step `{}`", failed.name)),
            "{notes}"
        );
    }
}

async fn fail_fast_cancels_the_unfinished_copies_and_blocks_the_task(store: Arc<dyn Store>) {
    let task = start(&store, &batch_yaml("fail_fast"), 100).await;
    run_one(&store, "split", json!({"batches": [{}, {}, {}, {}]}), at(1)).await;
    let claimed = claim_many(&store, at(2)).await;
    assert_eq!(claimed.len(), 4);
    succeed(&store, &claimed[0].lease, json!({}), at(3)).await;
    assert_eq!(
        fail(&store, &claimed[1].lease, false, at(4)).await,
        RecordOutcome::FailedPermanently
    );
    let all = steps(&store, task).await;
    let state = |n: &str| all.iter().find(|s| s.name == n).unwrap().status;
    assert_eq!(state("part_0"), StepState::Complete);
    assert_eq!(state("part_1"), StepState::Error);
    assert_eq!(state("part_2"), StepState::Cancelled);
    assert_eq!(state("part_3"), StepState::Cancelled);
    assert_eq!(state("total"), StepState::Pending);
    assert_eq!(task_state(&store, task).await, TaskState::BlockedByFailures);
    // The cancelled copies' late results are discarded.
    assert_eq!(
        succeed(&store, &claimed[2].lease, json!({}), at(5)).await,
        RecordOutcome::Discarded
    );
    let dlq = store
        .list_dlq(&DlqFilter {
            task_uuid: Some(task),
            limit: 10,
            ..DlqFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(dlq.len(), 1);
}

async fn continue_runs_the_dependents_with_the_failed_batch_indexes(store: Arc<dyn Store>) {
    let task = start(&store, &batch_yaml("continue"), 100).await;
    run_one(&store, "split", json!({"batches": [{}, {}, {}]}), at(1)).await;
    let claimed = claim_many(&store, at(2)).await;
    for c in &claimed {
        let index = c.step.batch_index.unwrap();
        if index == 1 {
            assert_eq!(
                fail(&store, &c.lease, false, at(3)).await,
                RecordOutcome::FailedPermanently
            );
        } else {
            succeed(&store, &c.lease, json!({ "i": index }), at(3)).await;
        }
    }
    let total = run_one(&store, "total", json!({}), at(4)).await;
    assert_eq!(total.parent_results["part"], json!([{"i": 0}, {"i": 2}]));
    assert_eq!(total.failed_batches, [1]);
    assert_eq!(task_state(&store, task).await, TaskState::Complete);
    let dlq = store
        .list_dlq(&DlqFilter {
            task_uuid: Some(task),
            limit: 10,
            ..DlqFilter::default()
        })
        .await
        .unwrap();
    assert!(
        dlq.is_empty(),
        "a tolerated copy failure opens no DLQ entry"
    );
}

async fn fan_out_of_ten_thousand_copies_completes(store: Arc<dyn Store>) {
    const N: usize = 10_000;
    let task = start(&store, &batch_yaml("fail_fast"), N as u32).await;
    let cursors: Vec<Value> = (0..N).map(|i| json!({ "i": i })).collect();
    run_one(&store, "split", json!({ "batches": cursors }), at(1)).await;
    let counts = store.get_task(task).await.unwrap().unwrap().step_counts;
    assert_eq!(counts.total, N as u64 + 2);
    assert_eq!(counts.get(StepState::Enqueued), N as u64);
    let mut done = 0;
    let mut now = 2;
    while done < N {
        let claimed = claim_many(&store, at(now)).await;
        assert!(!claimed.is_empty(), "copies remain after {done}");
        // Alternate rounds record the copies one by one and as one batch, as a worker would.
        if now % 2 == 0 {
            for c in claimed {
                let i = c.step.batch_index.unwrap();
                succeed(&store, &c.lease, json!({ "i": i }), at(now)).await;
                done += 1;
            }
        } else {
            let reports: Vec<_> = claimed
                .iter()
                .map(|c| {
                    let report = StepReport {
                        outcome: StepOutcome::Success(json!({ "i": c.step.batch_index.unwrap() })),
                        started_at: at(now),
                        jitter_sample: 0.0,
                    };
                    (c.lease.clone(), report)
                })
                .collect();
            let outcomes = store.record_results(&reports, at(now)).await.unwrap();
            assert!(outcomes.iter().all(|o| *o == RecordOutcome::Completed));
            done += reports.len();
        }
        now += 1;
    }
    let total = run_one(&store, "total", json!({}), at(now)).await;
    let results = total.parent_results["part"].as_array().unwrap();
    assert_eq!(results.len(), N);
    assert_eq!(results[N - 1], json!({ "i": N - 1 }));
    let names = names(&store, task).await;
    assert!(names.contains("part_0000") && names.contains("part_9999"));
    assert_eq!(task_state(&store, task).await, TaskState::Complete);
}
