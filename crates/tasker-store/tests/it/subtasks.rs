//! Child tasks through the store: a subtask step creates its child (context from `context` and
//! `context_from`, the parent's creator) in the transaction that makes it wait; the child's
//! completion completes the step with the child's results; a failing child blocks the parent
//! with a DLQ entry naming it; cancelling the parent cancels its descendants; an unknown
//! template or too deep a nesting fails the step permanently.

use std::sync::Arc;

use serde_json::json;
use tasker_core::store::{DlqFilter, StepRecord, TaskFilter, TaskRecord};
use tasker_core::{StepState, Store, TaskState, parse_template};
use uuid::Uuid;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_store =>
    a_parent_completes_with_its_childs_results,
    a_failing_child_blocks_the_parent_naming_it,
    cancelling_the_parent_cancels_its_descendants,
    an_unknown_child_template_or_deep_nesting_fails_the_step,
);

const CHILD: &str = "name: child\nnamespace: kids\nversion: 1.0.0\n\
input_schema: {type: object, required: [amount]}\nsteps:\n\
  - {name: work, handler: {callable: h}}\n";

const PARENT: &str = "name: parent\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: quote, handler: {callable: h}}\n\
  - {name: delegate, type: subtask, depends_on: [quote], subtask: {namespace: kids, name: child, \
     context: {fixed: 1}, context_from: {amount: parent_results.quote.total, who: context.user}}}\n\
  - {name: after, handler: {callable: h}, depends_on: [delegate]}\n";

/// Nests itself: each level's subtask creates the next.
const NESTING: &str = "name: nest\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
  - {name: down, type: subtask, subtask: {namespace: ns, name: nest}}\n";

async fn register(store: &Arc<dyn Store>, yaml: &str) {
    store
        .upsert_template(&parse_template(yaml).unwrap(), t0())
        .await
        .unwrap();
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

async fn children(store: &Arc<dyn Store>, parent: Uuid) -> Vec<TaskRecord> {
    store
        .list_tasks(&TaskFilter {
            parent_task_uuid: Some(parent),
            limit: 100,
            ..TaskFilter::default()
        })
        .await
        .unwrap()
        .0
}

/// A parent whose `quote` step ran: `delegate` waits for its child.
async fn started(store: &Arc<dyn Store>) -> (Uuid, TaskRecord) {
    register(store, CHILD).await;
    let parent = store
        .create_task(new_dynamic_task(PARENT, json!({"user": "ann"}), 10), t0())
        .await
        .unwrap()
        .task_uuid;
    let quote = claim(store, "w", at(1)).await;
    assert_eq!(quote[0].step.name, "quote");
    succeed(store, &quote[0].lease, json!({"total": 42}), at(1)).await;
    let delegate = step_named(store, parent, "delegate").await;
    assert_eq!(delegate.status, StepState::Waiting);
    let kids = children(store, parent).await;
    assert_eq!(kids.len(), 1, "one child created with the step");
    (parent, kids.into_iter().next().unwrap())
}

async fn a_parent_completes_with_its_childs_results(store: Arc<dyn Store>) {
    let (parent, child) = started(&store).await;
    let delegate = step_named(&store, parent, "delegate").await;
    assert_eq!(child.parent_task_uuid, Some(parent));
    assert_eq!(child.parent_step_uuid, Some(delegate.step_uuid));
    assert_eq!(child.created_by, "alice", "the parent's creator");
    assert_eq!(
        child.context,
        json!({"fixed": 1, "amount": 42, "who": "ann"})
    );
    assert_eq!(
        (child.namespace.as_str(), child.name.as_str()),
        ("kids", "child")
    );
    let work = claim(&store, "w", at(2)).await;
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].step.task_uuid, child.task_uuid);
    succeed(&store, &work[0].lease, json!({"done": true}), at(2)).await;
    assert_eq!(status(&store, child.task_uuid).await, "complete");
    let delegate = step_named(&store, parent, "delegate").await;
    assert_eq!(delegate.status, StepState::Complete);
    assert_eq!(
        delegate.results,
        Some(
            json!({"task_uuid": child.task_uuid, "status": "complete", "results": {"work": {"done": true}}})
        )
    );
    let after = claim(&store, "w", at(3)).await;
    assert_eq!(after[0].step.name, "after");
    assert_eq!(
        after[0].parent_results["delegate"]["results"]["work"]["done"],
        true
    );
    succeed(&store, &after[0].lease, json!({}), at(3)).await;
    assert_eq!(status(&store, parent).await, "complete");
}

async fn a_failing_child_blocks_the_parent_naming_it(store: Arc<dyn Store>) {
    let (parent, child) = started(&store).await;
    let work = claim(&store, "w", at(2)).await;
    fail(&store, &work[0].lease, false, at(2)).await;
    assert_eq!(status(&store, child.task_uuid).await, "blocked_by_failures");
    let delegate = step_named(&store, parent, "delegate").await;
    assert_eq!(delegate.status, StepState::Error);
    let message = format!(
        "child task {} (kids/child) ended blocked_by_failures",
        child.task_uuid
    );
    assert_eq!(delegate.last_error.unwrap()["message"], message.as_str());
    assert_eq!(status(&store, parent).await, "blocked_by_failures");
    let dlq = store
        .list_dlq(&DlqFilter {
            task_uuid: Some(parent),
            limit: 100,
            ..DlqFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(
        dlq[0].notes.as_deref(),
        Some(format!("step `delegate`: {message}").as_str())
    );
}

async fn cancelling_the_parent_cancels_its_descendants(store: Arc<dyn Store>) {
    register(&store, NESTING).await;
    let task = new_dynamic_task(NESTING, json!({}), 10);
    assert_eq!(
        task.plan.as_ref().unwrap().max_subtask_depth,
        8,
        "the default"
    );
    let root = store.create_task(task, t0()).await.unwrap().task_uuid;
    // engine.max_subtask_depth stops the chain: root plus 8 levels of children.
    let mut chain = vec![root];
    loop {
        let kids = children(&store, *chain.last().unwrap()).await;
        match kids.as_slice() {
            [] => break,
            [one] => chain.push(one.task_uuid),
            _ => panic!("one child per level"),
        }
    }
    assert_eq!(chain.len(), 9, "root and 8 nested children");
    let deepest = step_named(&store, chain[8], "down").await;
    assert_eq!(deepest.status, StepState::Error);
    assert!(
        deepest.last_error.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("engine.max_subtask_depth (8)")
    );
    store.cancel_task(root, "dave", None, at(1)).await.unwrap();
    // The failure travelled up: every level's step failed naming its child.
    let top = step_named(&store, root, "down").await;
    assert_eq!(top.status, StepState::Error);
    assert!(
        top.last_error.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "child task {} (ns/nest) ended blocked_by_failures",
                chain[1]
            ))
    );
    for t in &chain {
        let task = store.get_task(*t).await.unwrap().unwrap();
        assert_eq!(task.status, TaskState::Cancelled, "task {t}");
    }
}

async fn an_unknown_child_template_or_deep_nesting_fails_the_step(store: Arc<dyn Store>) {
    // The child template is not registered.
    let parent = store
        .create_task(new_dynamic_task(PARENT, json!({"user": "ann"}), 10), t0())
        .await
        .unwrap()
        .task_uuid;
    let quote = claim(&store, "w", at(1)).await;
    succeed(&store, &quote[0].lease, json!({"total": 42}), at(1)).await;
    let delegate = step_named(&store, parent, "delegate").await;
    assert_eq!(delegate.status, StepState::Error);
    assert_eq!(
        delegate.last_error.unwrap()["message"],
        "cannot start the child task: child template kids/child is not registered"
    );
    assert_eq!(status(&store, parent).await, "blocked_by_failures");
    assert!(children(&store, parent).await.is_empty());
    // A context that misses the child's input_schema fails the same way.
    register(&store, CHILD).await;
    let parent = store
        .create_task(new_dynamic_task(PARENT, json!({"user": "ann"}), 10), t0())
        .await
        .unwrap()
        .task_uuid;
    let quote = claim(&store, "w", at(2)).await;
    succeed(&store, &quote[0].lease, json!({"no_total": 1}), at(2)).await;
    let delegate = step_named(&store, parent, "delegate").await;
    assert_eq!(delegate.status, StepState::Error);
    let message = delegate.last_error.unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("nothing at `parent_results.quote.total`"),
        "{message}"
    );
}
