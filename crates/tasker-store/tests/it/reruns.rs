//! Reruns through the store: from a middle step of a completed linear task exactly that step
//! and its descendants run again (counted by claims) with both runs in the audit trail; a
//! blocked task reruns from its failed step; a decision rerun removes the branches it created
//! and creates them again from its new choice; dry runs change nothing; unknown steps and
//! running tasks are refused.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tasker_core::store::{DlqFilter, RerunRequest, ResolutionStatus};
use tasker_core::{Store, StoreError};
use uuid::Uuid;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_store =>
    rerun_from_a_middle_step_runs_exactly_it_and_its_descendants_again,
    a_blocked_task_reruns_from_its_failed_step,
    a_decision_rerun_replaces_the_branches_it_created,
    reruns_of_unknown_steps_and_running_tasks_are_refused,
);

const FOUR: &str = "name: four\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: a, handler: {callable: h}}\n\
  - {name: b, handler: {callable: h}, depends_on: [a]}\n\
  - {name: c, handler: {callable: h}, depends_on: [b]}\n\
  - {name: d, handler: {callable: h}, depends_on: [c]}\n";

/// Runs every ready step until none is left, counting executions per step name.
async fn drain(
    store: &Arc<dyn Store>,
    counts: &mut BTreeMap<String, u32>,
    start: i64,
    result: impl Fn(&str) -> Value,
) -> i64 {
    let mut now = start;
    loop {
        let claimed = claim(store, "w", at(now)).await;
        if claimed.is_empty() {
            return now;
        }
        for c in claimed {
            *counts.entry(c.step.name.clone()).or_default() += 1;
            succeed(store, &c.lease, result(&c.step.name), at(now)).await;
        }
        now += 1;
    }
}

fn rerun(from: &str) -> RerunRequest {
    RerunRequest {
        from_step: from.into(),
        reason: Some("fixed input".into()),
    }
}

fn when(ms: i64) -> DateTime<Utc> {
    at(ms)
}

async fn rerun_from_a_middle_step_runs_exactly_it_and_its_descendants_again(store: Arc<dyn Store>) {
    let task = create(&store, FOUR).await.task_uuid;
    let mut counts = BTreeMap::new();
    let now = drain(&store, &mut counts, 1, |n| json!({"step": n})).await;
    assert_eq!(status(&store, task).await, "complete");
    let dry = store
        .rerun_task(task, &rerun("b"), "erin", true, when(now))
        .await
        .unwrap();
    assert_eq!(dry.reset_steps, ["b", "c", "d"]);
    assert_eq!(
        status(&store, task).await,
        "complete",
        "a dry run changes nothing"
    );
    let done = store
        .rerun_task(task, &rerun("b"), "erin", false, when(now + 1))
        .await
        .unwrap();
    assert_eq!(done.reset_steps, ["b", "c", "d"]);
    assert!(done.removed_steps.is_empty());
    assert_eq!(status(&store, task).await, "steps_in_process");
    let mut again = BTreeMap::new();
    drain(
        &store,
        &mut again,
        now + 2,
        |n| json!({"step": n, "run": 2}),
    )
    .await;
    assert_eq!(status(&store, task).await, "complete");
    let want: BTreeMap<String, u32> = [("b", 1), ("c", 1), ("d", 1)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert_eq!(
        again, want,
        "exactly the rerun step and its descendants ran again"
    );
    let steps = store.list_steps(task).await.unwrap();
    assert_eq!(steps[3].results, Some(json!({"step": "d", "run": 2})));
    assert_eq!(
        steps[0].results,
        Some(json!({"step": "a"})),
        "a kept its result"
    );
    let trail = store
        .audit_trail(task, Some(steps[1].step_uuid))
        .await
        .unwrap();
    let to: Vec<&str> = trail.iter().map(|t| t.to_state.as_str()).collect();
    assert_eq!(
        to,
        [
            "pending",
            "enqueued",
            "in_progress",
            "complete",
            "pending",
            "enqueued",
            "in_progress",
            "complete"
        ],
        "both runs of b are in its audit trail"
    );
    assert_eq!(trail[4].actor, "erin");
    assert_eq!(
        trail[4].reason.as_deref(),
        Some("rerun from `b`: fixed input")
    );
    let task_trail = store.audit_trail(task, None).await.unwrap();
    let task_moves: Vec<&str> = task_trail
        .iter()
        .filter(|t| t.step_uuid.is_none())
        .map(|t| t.to_state.as_str())
        .collect();
    assert_eq!(
        task_moves,
        [
            "pending",
            "steps_in_process",
            "complete",
            "steps_in_process",
            "complete"
        ]
    );
}

async fn a_blocked_task_reruns_from_its_failed_step(store: Arc<dyn Store>) {
    let task = create(&store, LINEAR).await.task_uuid;
    let mut counts = BTreeMap::new();
    drain(&store, &mut counts, 1, |_| json!({})).await;
    assert_eq!(status(&store, task).await, "complete");
    // A second task blocks on b.
    let blocked = create(&store, LINEAR).await.task_uuid;
    let a = claim(&store, "w", at(10)).await;
    succeed(&store, &a[0].lease, json!({}), at(10)).await;
    let b = claim(&store, "w", at(11)).await;
    fail(&store, &b[0].lease, false, at(11)).await;
    assert_eq!(status(&store, blocked).await, "blocked_by_failures");
    let done = store
        .rerun_task(blocked, &rerun("b"), "erin", false, at(12))
        .await
        .unwrap();
    assert_eq!(done.reset_steps, ["b", "c"]);
    let dlq = store
        .list_dlq(&DlqFilter {
            task_uuid: Some(blocked),
            limit: 100,
            ..DlqFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(dlq[0].resolution_status, ResolutionStatus::ManuallyResolved);
    let mut again = BTreeMap::new();
    drain(&store, &mut again, 13, |_| json!({})).await;
    assert_eq!(again.keys().collect::<Vec<_>>(), ["b", "c"]);
    assert_eq!(status(&store, blocked).await, "complete");
}

const ROUTE: &str = "name: route\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: start, handler: {callable: h}}\n\
  - {name: pick, type: decision, branches: [left, right], handler: {callable: h}, depends_on: [start]}\n\
  - {name: left, handler: {callable: h}, depends_on: [pick]}\n\
  - {name: right, handler: {callable: h}, depends_on: [pick]}\n\
  - {name: join, type: deferred_convergence, handler: {callable: h}, depends_on: [left, right]}\n";

async fn a_decision_rerun_replaces_the_branches_it_created(store: Arc<dyn Store>) {
    let task = store
        .create_task(new_dynamic_task(ROUTE, json!({}), 10), t0())
        .await
        .unwrap()
        .task_uuid;
    let mut counts = BTreeMap::new();
    let choice = std::sync::Mutex::new("left");
    let now = drain(&store, &mut counts, 1, |n| match n {
        "pick" => json!({"create": [*choice.lock().unwrap()]}),
        _ => json!({}),
    })
    .await;
    assert_eq!(status(&store, task).await, "complete");
    let names = |steps: Vec<tasker_core::store::StepRecord>| {
        steps.into_iter().map(|s| s.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list_steps(task).await.unwrap()),
        ["start", "pick", "left", "join"]
    );
    let done = store
        .rerun_task(task, &rerun("pick"), "erin", false, at(now))
        .await
        .unwrap();
    assert_eq!(done.reset_steps, ["pick"]);
    assert_eq!(done.removed_steps, ["left", "join"]);
    *choice.lock().unwrap() = "right";
    let mut again = BTreeMap::new();
    drain(&store, &mut again, now + 1, |n| match n {
        "pick" => json!({"create": [*choice.lock().unwrap()]}),
        _ => json!({}),
    })
    .await;
    assert_eq!(again.keys().collect::<Vec<_>>(), ["join", "pick", "right"]);
    assert_eq!(status(&store, task).await, "complete");
    assert_eq!(
        names(store.list_steps(task).await.unwrap()),
        ["start", "pick", "right", "join"]
    );
}

async fn reruns_of_unknown_steps_and_running_tasks_are_refused(store: Arc<dyn Store>) {
    let task = create(&store, LINEAR).await.task_uuid;
    let err = store
        .rerun_task(task, &rerun("ghost"), "erin", false, at(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(ref m) if m.contains("ghost")),
        "{err}"
    );
    let claimed = claim(&store, "w", at(1)).await;
    assert_eq!(status(&store, task).await, "steps_in_process");
    let err = store
        .rerun_task(task, &rerun("a"), "erin", false, at(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref m) if m.contains("steps_in_process")),
        "{err}"
    );
    succeed(&store, &claimed[0].lease, json!({}), at(3)).await;
    let err = store
        .rerun_task(Uuid::new_v4(), &rerun("a"), "erin", false, at(4))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}
