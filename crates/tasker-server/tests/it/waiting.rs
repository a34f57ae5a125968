//! Approvals, reruns and child tasks through the HTTP API (auth on, the example templates):
//! an approval waits until signalled and `by` is the signalling subject; the signal route's
//! 403/404/409/422 answers; a rerun from a middle step re-executes it and its descendants;
//! a child task's parent completes with the child's results and lists it by parent.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasker_client::{ClientError, Credential, TaskerClient};
use tasker_proto::api::{
    CreateTaskRequest, RerunTaskRequest, SignalDecision, SignalStepRequest, StepView,
    TaskListQuery, TaskView,
};
use tasker_testkit::{HANG_GUARD, TestConfig, Token, eventually};
use uuid::Uuid;

use crate::auth_config;
use crate::inproc::InProcServer;

async fn server() -> (InProcServer, TestConfig) {
    let config = TestConfig::new();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/tasks");
    config.write(
        "base/common.toml",
        &format!(
            "[database]\nurl = \"sqlite://{root}/tasker.db\"\n[templates]\nsearch_paths = [\"{}\"]\n",
            examples.display(),
            root = config.root().display()
        ),
    );
    config.write(
        "base/orchestration.toml",
        &auth_config(
            "",
            "[orchestration]\npoll_interval_ms = 50\n[worker]\npoll_interval_ms = 50\n",
        ),
    );
    let server = InProcServer::start(&config).await;
    (server, config)
}

fn token(permissions: &[&str], subject: &str) -> String {
    Token::with_permissions(permissions)
        .claim("sub", json!(subject))
        .sign()
}

fn client(server: &InProcServer, permissions: &[&str], subject: &str) -> TaskerClient {
    TaskerClient::new(
        &server.base_url,
        Credential::Bearer(token(permissions, subject)),
        "http://127.0.0.1:1",
        Credential::None,
    )
    .unwrap()
}

fn create(name: &str, context: Value) -> CreateTaskRequest {
    serde_json::from_value(json!({"namespace": "examples", "name": name, "context": context}))
        .unwrap()
}

async fn wait_for(client: &TaskerClient, task: Uuid, status: &str) -> TaskView {
    eventually(
        &format!("task {task} to be {status}"),
        HANG_GUARD,
        async || {
            let view = client.get_task(task).await.unwrap();
            if view.status == status {
                Ok(view)
            } else {
                Err(view.status)
            }
        },
    )
    .await
}

async fn wait_step(client: &TaskerClient, task: Uuid, name: &str, status: &str) -> StepView {
    eventually(
        &format!("step {name} to be {status}"),
        HANG_GUARD,
        async || {
            let steps = client.list_steps(task).await.unwrap();
            let step = steps.into_iter().find(|s| s.name == name).unwrap();
            if step.status == status {
                Ok(step)
            } else {
                Err(step.status)
            }
        },
    )
    .await
}

fn status_of(err: ClientError) -> (u16, String) {
    match err {
        ClientError::Api {
            status, message, ..
        } => (status, message),
        other => panic!("{other}"),
    }
}

fn approve(reason: &str) -> SignalStepRequest {
    SignalStepRequest {
        decision: SignalDecision::Approve,
        payload: json!({"limit": 500}),
        reason: Some(reason.into()),
    }
}

#[tokio::test]
async fn an_approval_waits_for_its_signal_and_records_who() {
    let (server, _config) = server().await;
    let admin = client(&server, &["*"], "ops");
    let task = admin
        .create_task(&create("approval_payout", json!({"value": 5})))
        .await
        .unwrap();
    let review = wait_step(&admin, task.task_uuid, "review", "waiting").await;
    assert_eq!(review.step_type, "approval");
    assert_eq!(review.handler, "");
    let view = admin.get_task(task.task_uuid).await.unwrap();
    assert_eq!(view.status, "steps_in_process");
    assert_eq!(view.step_counts.waiting, 1);
    assert_eq!(view.step_counts.in_progress, 0);
    let dag = admin.task_dag(task.task_uuid).await.unwrap();
    let node = dag.nodes.iter().find(|n| n.name == "review").unwrap();
    assert_eq!(
        (node.step_type.as_str(), node.status.as_str()),
        ("approval", "waiting")
    );

    // Without steps:resolve: 403; a body that is not approve/reject: 422.
    let reader = client(&server, &["steps:read", "tasks:read"], "reader");
    let (code, _) = status_of(
        reader
            .signal_step(task.task_uuid, review.step_uuid, &approve("x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    let url = server.url(&format!(
        "/v1/tasks/{}/workflow_steps/{}/signal",
        task.task_uuid, review.step_uuid
    ));
    let http = reqwest::Client::new();
    for body in [
        json!({"decision": "maybe"}),
        json!({}),
        json!({"decision": "approve", "by": "mallory"}),
    ] {
        let response = http
            .post(&url)
            .bearer_auth(token(&["*"], "ops"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unprocessable", "{body}");
    }
    // Unknown step: 404; a step that is not waiting: 409.
    let (code, _) = status_of(
        admin
            .signal_step(task.task_uuid, Uuid::now_v7(), &approve("x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 404);
    let compute = wait_step(&admin, task.task_uuid, "compute", "complete").await;
    let (code, message) = status_of(
        admin
            .signal_step(task.task_uuid, compute.step_uuid, &approve("x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409, "{message}");

    let approver = client(&server, &["steps:resolve", "tasks:read"], "bob");
    let step = approver
        .signal_step(task.task_uuid, review.step_uuid, &approve("checked"))
        .await
        .unwrap();
    assert_eq!(step.status, "complete");
    assert_eq!(
        step.results,
        Some(json!({"decision": "approve", "payload": {"limit": 500}, "by": "bob"}))
    );
    wait_for(&admin, task.task_uuid, "complete").await;
    let audit = admin
        .step_audit(task.task_uuid, review.step_uuid)
        .await
        .unwrap();
    let last = audit.last().unwrap();
    assert_eq!(
        (last.to_state.as_str(), last.actor.as_str()),
        ("complete", "bob")
    );
    assert_eq!(last.reason.as_deref(), Some("approved by bob: checked"));
    let (code, _) = status_of(
        approver
            .signal_step(task.task_uuid, review.step_uuid, &approve("again"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409, "a second signal");
}

#[tokio::test]
async fn a_rejected_approval_blocks_the_task_naming_who() {
    let (server, _config) = server().await;
    let admin = client(&server, &["*"], "ops");
    let task = admin
        .create_task(&create("approval_payout", json!({"value": 5})))
        .await
        .unwrap();
    let review = wait_step(&admin, task.task_uuid, "review", "waiting").await;
    let reject = SignalStepRequest {
        decision: SignalDecision::Reject,
        payload: json!({}),
        reason: Some("too much".into()),
    };
    let carol = client(&server, &["steps:resolve"], "carol");
    let step = carol
        .signal_step(task.task_uuid, review.step_uuid, &reject)
        .await
        .unwrap();
    assert_eq!(step.status, "error");
    assert_eq!(
        step.last_error.unwrap()["message"],
        "rejected by carol: too much"
    );
    wait_for(&admin, task.task_uuid, "blocked_by_failures").await;
    let dlq = admin.dlq_for_task(task.task_uuid).await.unwrap();
    assert_eq!(dlq.len(), 1);
    assert_eq!(
        dlq[0].notes.as_deref(),
        Some("step `review`: rejected by carol: too much")
    );
}

#[tokio::test]
async fn a_rerun_from_a_middle_step_runs_it_and_its_descendants_again() {
    let (server, _config) = server().await;
    let admin = client(&server, &["*"], "ops");
    let task = admin
        .create_task(&create("linear_math", json!({"value": 1})))
        .await
        .unwrap();
    wait_for(&admin, task.task_uuid, "complete").await;
    let request = |from: &str| RerunTaskRequest {
        from_step: from.into(),
        reason: Some("again".into()),
        dry_run: false,
    };
    let (code, message) = status_of(
        admin
            .rerun_task(task.task_uuid, &request("ghost"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 404, "{message}");
    let reader = client(&server, &["tasks:read", "steps:read"], "reader");
    let (code, _) = status_of(
        reader
            .rerun_task(task.task_uuid, &request("subtract_one"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 403);
    let rerun = admin
        .rerun_task(task.task_uuid, &request("subtract_one"))
        .await
        .unwrap();
    assert_eq!(rerun.reset_steps, ["subtract_one", "double"]);
    assert!(!rerun.dry_run);
    let done = wait_for(&admin, task.task_uuid, "complete").await;
    assert_eq!(done.step_counts.complete, 4);
    let steps = admin.list_steps(task.task_uuid).await.unwrap();
    let runs = |name: &str| steps.iter().find(|s| s.name == name).unwrap().step_uuid;
    for (name, want) in [
        ("add_two", 1),
        ("multiply_by_three", 1),
        ("subtract_one", 2),
        ("double", 2),
    ] {
        let audit = admin.step_audit(task.task_uuid, runs(name)).await.unwrap();
        let starts = audit.iter().filter(|t| t.to_state == "in_progress").count();
        assert_eq!(starts, want, "{name} executions");
    }
    // A task with a step still waiting is running: 409.
    let waiting = admin
        .create_task(&create("approval_payout", json!({"value": 5})))
        .await
        .unwrap();
    wait_step(&admin, waiting.task_uuid, "review", "waiting").await;
    let (code, _) = status_of(
        admin
            .rerun_task(waiting.task_uuid, &request("compute"))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, 409);
}

#[tokio::test]
async fn a_child_task_completes_its_parent_step_with_its_results() {
    let (server, _config) = server().await;
    let admin = client(&server, &["*"], "ops");
    let parent = admin
        .create_task(&create("child_task_math", json!({"value": 1})))
        .await
        .unwrap();
    let done = wait_for(&admin, parent.task_uuid, "complete").await;
    assert_eq!(done.step_counts.complete, 3);
    let children = admin
        .list_tasks(&TaskListQuery {
            parent_task_uuid: Some(parent.task_uuid),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(children.tasks.len(), 1);
    let child = &children.tasks[0];
    assert_eq!(child.name, "linear_math");
    assert_eq!(child.parent_task_uuid, Some(parent.task_uuid));
    assert_eq!(child.created_by, "ops");
    assert_eq!(child.status, "complete");
    let steps = admin.list_steps(parent.task_uuid).await.unwrap();
    let delegate = steps.iter().find(|s| s.name == "delegate").unwrap();
    assert_eq!(child.parent_step_uuid, Some(delegate.step_uuid));
    let result = delegate.results.clone().unwrap();
    assert_eq!(result["task_uuid"], json!(child.task_uuid));
    assert_eq!(result["status"], "complete");
    // prepare: 1 + 1 = 2; linear_math: ((2 + 2) * 3 - 1) * 2 = 22.
    assert_eq!(result["results"]["double"], json!({"value": 22}));
}
