//! The example workflows run to completion with results flowing to dependents and one audit
//! row per transition.

use serde_json::json;
use tasker_core::{StepState, TaskState};
use tasker_worker::HandlerRegistry;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_env =>
    linear_example_completes_with_results_and_full_audit,
    diamond_example_joins_both_branches,
    fan_out_example_gathers_every_branch,
    retry_example_completes_on_the_third_attempt_with_backoff_recorded,
    unversioned_request_uses_the_highest_version,
);

async fn linear_example_completes_with_results_and_full_audit(env: Env) {
    let w = worker(&env, "w1", HandlerRegistry::with_builtins());
    let task = env
        .orch
        .create_task(
            request("examples", "linear_math", json!({"value": 5})),
            "alice",
            &ALL,
            None,
        )
        .await
        .unwrap();
    assert_eq!(task.created_by, "alice");
    assert_eq!(task.version, "1.0.0");
    let done = wait_for(&env, task.task_uuid, TaskState::Complete).await;
    assert_eq!(done.completion_percentage, 100.0);
    assert_eq!(done.step_counts.complete, 4);
    assert!(done.completed_at.is_some());
    let ctx = env.orch.task_context(task.task_uuid, &ALL).await.unwrap();
    assert_eq!(ctx.context, json!({"value": 5}));
    assert_eq!(ctx.step_results["add_two"], json!({"value": 7}));
    assert_eq!(ctx.step_results["multiply_by_three"], json!({"value": 21}));
    assert_eq!(ctx.step_results["double"], json!({"value": 40}));
    let steps = env.orch.list_steps(task.task_uuid, &ALL).await.unwrap();
    assert_eq!(steps.len(), 4);
    for s in &steps {
        assert_eq!(
            (s.status.as_str(), s.attempts),
            (StepState::Complete.as_str(), 1)
        );
        let audit = env
            .orch
            .step_audit(task.task_uuid, s.step_uuid, &ALL)
            .await
            .unwrap();
        let path: Vec<&str> = audit.iter().map(|t| t.to_state.as_str()).collect();
        assert_eq!(
            path,
            ["pending", "enqueued", "in_progress", "complete"],
            "{}",
            s.name
        );
        assert_eq!(audit[2].actor, "w1");
    }
    let task_rows: Vec<_> = env
        .orch
        .task_audit(task.task_uuid, &ALL)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.step_uuid.is_none())
        .map(|t| t.to_state)
        .collect();
    assert_eq!(task_rows, ["pending", "steps_in_process", "complete"]);
    w.shutdown().await;
}

async fn diamond_example_joins_both_branches(env: Env) {
    let w = worker(&env, "w1", HandlerRegistry::with_builtins());
    let task = env
        .orch
        .create_task(
            request("examples", "diamond_math", json!({"value": 5})),
            "alice",
            &ALL,
            None,
        )
        .await
        .unwrap();
    wait_for(&env, task.task_uuid, TaskState::Complete).await;
    let ctx = env.orch.task_context(task.task_uuid, &ALL).await.unwrap();
    assert_eq!(ctx.step_results["double"], json!({"value": 10}));
    assert_eq!(ctx.step_results["triple"], json!({"value": 15}));
    assert_eq!(ctx.step_results["join"], json!({"value": 25}));
    let join = env
        .orch
        .list_steps(task.task_uuid, &ALL)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(join.depends_on, ["double", "triple"]);
    assert_eq!(
        env.orch
            .task_audit(task.task_uuid, &ALL)
            .await
            .unwrap()
            .len(),
        4 * 4 + 3
    );
    w.shutdown().await;
}

async fn fan_out_example_gathers_every_branch(env: Env) {
    let w = worker(&env, "w1", HandlerRegistry::with_builtins());
    let task = env
        .orch
        .create_task(
            request("examples", "fan_out_math", json!({"value": 2})),
            "alice",
            &ALL,
            None,
        )
        .await
        .unwrap();
    wait_for(&env, task.task_uuid, TaskState::Complete).await;
    let ctx = env.orch.task_context(task.task_uuid, &ALL).await.unwrap();
    assert_eq!(ctx.step_results["gather"], json!({"value": 30}));
    assert_eq!(
        ctx.step_results["report"]["parent_results"]["gather"]["value"],
        30
    );
    assert_eq!(
        env.orch
            .task_audit(task.task_uuid, &ALL)
            .await
            .unwrap()
            .len(),
        8 * 4 + 3
    );
    w.shutdown().await;
}

async fn retry_example_completes_on_the_third_attempt_with_backoff_recorded(env: Env) {
    let w = worker(&env, "w1", HandlerRegistry::with_builtins());
    let task = env
        .orch
        .create_task(
            request("examples", "flaky_retry", json!({})),
            "alice",
            &ALL,
            None,
        )
        .await
        .unwrap();
    wait_for(&env, task.task_uuid, TaskState::Complete).await;
    let flaky = env
        .orch
        .list_steps(task.task_uuid, &ALL)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        (flaky.name.as_str(), flaky.attempts, flaky.max_attempts),
        ("flaky", 3, 3)
    );
    assert_eq!(
        flaky.results,
        Some(json!({"attempt": 3, "failed_before": 2}))
    );
    let audit = env
        .orch
        .step_audit(task.task_uuid, flaky.step_uuid, &ALL)
        .await
        .unwrap();
    let retries: Vec<String> = audit
        .iter()
        .filter(|t| t.to_state == "waiting_for_retry")
        .filter_map(|t| t.reason.clone())
        .collect();
    assert_eq!(retries.len(), 2, "{audit:#?}");
    assert!(
        retries[0].contains("attempt 1 of 3 failed") && retries[0].contains("retry in"),
        "{retries:?}"
    );
    // Base 50 ms doubles: the second delay is at least 100 ms.
    let delay: u64 = retries[1]
        .rsplit("retry in ")
        .next()
        .unwrap()
        .trim_end_matches(" ms")
        .parse()
        .unwrap();
    assert!((100..=110).contains(&delay), "{delay}");
    let task_states: Vec<String> = env
        .orch
        .task_audit(task.task_uuid, &ALL)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.step_uuid.is_none())
        .map(|t| t.to_state)
        .collect();
    assert!(
        task_states.contains(&"waiting_for_retry".to_owned()),
        "{task_states:?}"
    );
    let perf = env.orch.performance(None).await.unwrap();
    assert_eq!(perf.step_failures, 2);
    w.shutdown().await;
}

async fn unversioned_request_uses_the_highest_version(env: Env) {
    let task = env
        .orch
        .create_task(
            request("tests", "versioned", json!({})),
            "alice",
            &ALL,
            None,
        )
        .await
        .unwrap();
    assert_eq!(task.version, "1.10.0");
    assert_eq!(task.step_counts.total, 2);
}
