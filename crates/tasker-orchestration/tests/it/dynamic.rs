//! The dynamic example workflows through the orchestrator and a worker with the built-in
//! handlers: the order-routing decision with its convergence, the batch sum with its copies
//! (the cursor reaching a Rust handler), the run's DAG with the steps not taken, and template
//! validation of the dynamic types.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tasker_core::TaskState;
use tasker_worker::HandlerRegistry;
use uuid::Uuid;

use crate::harness::*;

tasker_testkit::on_each_backend!(crate::harness::with_env =>
    order_routing_creates_the_chosen_branches_and_confirm_joins_them,
    batch_sum_adds_the_copies_of_a_range_split_from_the_context,
    dynamic_template_errors_name_the_step,
);

async fn run(env: &Env, name: &str, context: Value) -> Uuid {
    let task = env
        .orch
        .create_task(request("examples", name, context), "alice", &ALL, None)
        .await
        .unwrap();
    wait_for(env, task.task_uuid, TaskState::Complete).await;
    task.task_uuid
}

/// Node name → (status, origin) of the run's DAG.
async fn dag(env: &Env, task: Uuid) -> (BTreeMap<String, (String, String)>, Vec<(String, String)>) {
    let dag = env.orch.task_dag(task, &ALL).await.unwrap();
    let nodes = dag
        .nodes
        .into_iter()
        .map(|n| (n.name, (n.status, n.origin)))
        .collect();
    let mut edges: Vec<(String, String)> = dag.edges.into_iter().map(|e| (e.from, e.to)).collect();
    edges.sort();
    (nodes, edges)
}

fn node(status: &str, origin: &str) -> (String, String) {
    (status.to_owned(), origin.to_owned())
}

async fn order_routing_creates_the_chosen_branches_and_confirm_joins_them(env: Env) {
    let w = worker(&env, "w1", HandlerRegistry::with_builtins());
    for (shipping, chosen, skipped) in [
        ("express", vec!["ship_express"], vec!["ship_standard"]),
        ("standard", vec!["ship_standard"], vec!["ship_express"]),
        ("split", vec!["ship_express", "ship_standard"], vec![]),
    ] {
        let task = run(&env, "order_routing", json!({ "shipping": shipping })).await;
        let ctx = env.orch.task_context(task, &ALL).await.unwrap();
        assert_eq!(
            ctx.step_results["route"],
            json!({ "create": chosen }),
            "{shipping}"
        );
        let seen: Vec<&String> = ctx.step_results["confirm"]["parent_results"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(seen, chosen, "{shipping}");
        let (nodes, edges) = dag(&env, task).await;
        assert_eq!(nodes["route"], node("complete", "template"));
        assert_eq!(nodes["confirm"], node("complete", "decision"));
        for name in &chosen {
            assert_eq!(nodes[*name], node("complete", "decision"));
            assert!(edges.contains(&((*name).to_owned(), "confirm".to_owned())));
        }
        for name in &skipped {
            assert_eq!(nodes[*name], node("not_created", "decision"));
            assert!(edges.contains(&("route".to_owned(), (*name).to_owned())));
        }
        assert_eq!(nodes.len(), 5);
        let steps = env.orch.list_steps(task, &ALL).await.unwrap();
        let route = steps.iter().find(|s| s.name == "route").unwrap();
        assert_eq!(
            (route.step_type.as_str(), route.origin.as_str()),
            ("decision", "template")
        );
    }
    w.shutdown().await;
}

async fn batch_sum_adds_the_copies_of_a_range_split_from_the_context(env: Env) {
    let w = worker(&env, "w1", HandlerRegistry::with_builtins());
    let task = run(&env, "batch_sum", json!({"from": 1, "to": 100, "parts": 4})).await;
    let ctx = env.orch.task_context(task, &ALL).await.unwrap();
    assert_eq!(ctx.step_results["total"], json!({"value": 5050}));
    assert_eq!(ctx.step_results["sum_part_0"], json!({"value": 325}));
    assert_eq!(ctx.step_results["sum_part_3"], json!({"value": 2200}));
    let steps = env.orch.list_steps(task, &ALL).await.unwrap();
    let copies: Vec<(&str, Option<u32>, &str)> = steps
        .iter()
        .filter(|s| s.origin == "batch")
        .map(|s| (s.name.as_str(), s.batch_index, s.step_type.as_str()))
        .collect();
    assert_eq!(
        copies,
        [
            ("sum_part_0", Some(0), "batch_worker"),
            ("sum_part_1", Some(1), "batch_worker"),
            ("sum_part_2", Some(2), "batch_worker"),
            ("sum_part_3", Some(3), "batch_worker")
        ]
    );
    let (nodes, edges) = dag(&env, task).await;
    assert!(
        !nodes.contains_key("sum_part"),
        "the pattern is replaced by its copies"
    );
    assert_eq!(nodes.len(), 6);
    assert!(edges.contains(&("sum_part_2".to_owned(), "total".to_owned())));
    assert!(edges.contains(&("split".to_owned(), "sum_part_0".to_owned())));

    // No batches: the pattern is a node not taken and the total is 0.
    let task = run(&env, "batch_sum", json!({"from": 1, "to": 100, "parts": 0})).await;
    let ctx = env.orch.task_context(task, &ALL).await.unwrap();
    assert_eq!(ctx.step_results["total"], json!({"value": 0}));
    let (nodes, _) = dag(&env, task).await;
    assert_eq!(nodes["sum_part"], node("not_created", "batch"));
    assert_eq!(nodes.len(), 3);
    w.shutdown().await;
}

async fn dynamic_template_errors_name_the_step(env: Env) {
    let bad = "name: t\nnamespace: ns\nversion: 1.0.0\nsteps:\n\
      - {name: d, type: decision, branches: [ghost], handler: {callable: h}}\n\
      - {name: b, type: batchable, batch: {worker: w}, handler: {callable: h}}\n\
      - {name: w, type: batch_worker, handler: {callable: h}, depends_on: [d]}\n";
    let report = env.orch.validate_template(bad, &ALL).await.unwrap();
    assert!(!report.valid);
    assert_eq!(
        report.errors,
        [
            "step `d`: branch `ghost` is not a step",
            "step `b`: batch worker `w` must depend on `b`"
        ]
    );
    // Nine nested decisions exceed the default engine.max_decision_depth of 8.
    let mut deep = String::from("name: deep\nnamespace: ns\nversion: 1.0.0\nsteps:\n");
    for i in 0..9 {
        let depends = if i == 0 {
            String::new()
        } else {
            format!(", depends_on: [d{}]", i - 1)
        };
        deep.push_str(&format!(
            "  - {{name: d{i}, type: decision, branches: [d{}], handler: {{callable: h}}{depends}}}\n",
            i + 1
        ));
    }
    deep.push_str("  - {name: d9, handler: {callable: h}, depends_on: [d8]}\n");
    let report = env.orch.validate_template(&deep, &ALL).await.unwrap();
    assert_eq!(
        report.errors,
        ["decisions nest 9 deep, more than engine.max_decision_depth (8)"]
    );
    let eight = deep.replace("  - {name: d8, type: decision, branches: [d9], handler: {callable: h}, depends_on: [d7]}\n", "  - {name: d8, handler: {callable: h}, depends_on: [d7]}\n").replace("  - {name: d9, handler: {callable: h}, depends_on: [d8]}\n", "");
    let report = env.orch.validate_template(&eight, &ALL).await.unwrap();
    assert!(report.valid, "{:?}", report.errors);
}
