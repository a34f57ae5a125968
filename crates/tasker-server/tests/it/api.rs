//! The orchestration API over the engine, with auth on: tasks run to completion, reads are
//! guarded by their permissions, failures reach the DLQ and operators resolve them, and bad
//! input gets the right 4xx envelope. Responses are parsed with the typed client, so the wire
//! types and the server stay in step.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tasker_client::{Api, ClientError, Credential, TaskerClient};
use tasker_proto::api::{
    CreateTaskRequest, DlqListQuery, DlqUpdateRequest, ResolutionStatus, StepActionRequest,
    TaskListQuery, TaskView,
};
use tasker_testkit::{TestConfig, Token};
use uuid::Uuid;

use crate::inproc::InProcServer;
use crate::*;

const BROKEN: &str = r#"name: broken
namespace: ops
version: 1.0.0
description: A step that always fails permanently, then an echo.
steps:
  - name: explode
    handler: { callable: builtin.fail, initialization: { times: 100, retryable: false } }
    retry: { retryable: false, max_attempts: 1 }
  - name: after
    handler: { callable: builtin.echo }
    depends_on: [explode]
"#;

async fn server() -> (InProcServer, TestConfig) {
    let config = TestConfig::new();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/tasks");
    config.write("tasks/broken.yaml", BROKEN);
    config.write("tasks/slow.yaml", tasker_testkit::SLOW);
    config.write(
        "base/common.toml",
        &format!(
            "[database]\nurl = \"sqlite://{root}/tasker.db\"\n[templates]\nsearch_paths = [\"{}\", \"{root}/tasks\"]\n[backoff]\nbase_ms = 10\nmax_ms = 50\n",
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

fn client(server: &InProcServer, permissions: &[&str], subject: &str) -> TaskerClient {
    let token = Token::with_permissions(permissions)
        .claim("sub", json!(subject))
        .sign();
    TaskerClient::new(
        &server.base_url,
        Credential::Bearer(token),
        "http://127.0.0.1:1",
        Credential::None,
    )
    .unwrap()
}

fn request(namespace: &str, name: &str, context: Value) -> CreateTaskRequest {
    serde_json::from_value(json!({"namespace": namespace, "name": name, "context": context}))
        .unwrap()
}

async fn wait_for(client: &TaskerClient, task: Uuid, status: &str) -> TaskView {
    tasker_testkit::eventually(
        &format!("task {task} to be {status}"),
        tasker_testkit::HANG_GUARD,
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

fn status_of(err: ClientError) -> (u16, String) {
    match err {
        ClientError::Api { status, code, .. } => (status, code),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn diamond_runs_and_reads_follow_permissions() {
    let (server, _config) = server().await;
    let creator = client(&server, &["tasks:create", "tasks:read"], "alice");
    let task = creator
        .create_task(&request("examples", "diamond_math", json!({"value": 5})))
        .await
        .unwrap();
    assert_eq!(task.created_by, "alice");
    let done = wait_for(&creator, task.task_uuid, "complete").await;
    assert_eq!(done.step_counts.total, 4);
    assert_eq!(done.step_counts.complete, 4);
    assert_eq!(done.completion_percentage, 100.0);
    assert!(done.completed_at.is_some());

    let reader = client(
        &server,
        &["steps:read", "tasks:context_read", "tasks:list"],
        "auditor",
    );
    let steps = reader.list_steps(task.task_uuid).await.unwrap();
    assert_eq!(
        steps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["start", "double", "triple", "join"]
    );
    assert!(
        steps
            .iter()
            .all(|s| s.status == "complete" && s.attempts == 1)
    );
    let join = steps.iter().find(|s| s.name == "join").unwrap();
    assert_eq!(join.results, Some(json!({"value": 25})));
    let audit = reader
        .step_audit(task.task_uuid, join.step_uuid)
        .await
        .unwrap();
    let states: Vec<&str> = audit.iter().map(|t| t.to_state.as_str()).collect();
    assert_eq!(states.first(), Some(&"pending"));
    assert_eq!(states.last(), Some(&"complete"));
    let trail = reader.task_audit(task.task_uuid).await.unwrap();
    let task_states: Vec<&str> = trail
        .iter()
        .filter(|t| t.step_uuid.is_none())
        .map(|t| t.to_state.as_str())
        .collect();
    assert_eq!(task_states.first(), Some(&"pending"));
    assert_eq!(task_states.last(), Some(&"complete"));
    assert_eq!(
        trail
            .iter()
            .filter(|t| t.step_uuid == Some(join.step_uuid))
            .count(),
        audit.len(),
        "the task trail holds every step transition"
    );
    assert_eq!(
        (trail[0].step_uuid, trail[0].to_state.as_str()),
        (None, "pending"),
        "recording order: the task's creation comes first"
    );
    let context = reader.task_context(task.task_uuid).await.unwrap();
    assert_eq!(context.context, json!({"value": 5}));
    assert_eq!(context.step_results["double"], json!({"value": 10}));
    let list = reader
        .list_tasks(&TaskListQuery {
            namespace: Some("examples".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(list.pagination.total_count, 1);
    assert_eq!(list.tasks[0].task_uuid, task.task_uuid);

    let (status, code) = status_of(creator.list_steps(task.task_uuid).await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let (status, _) = status_of(reader.get_task(task.task_uuid).await.unwrap_err());
    assert_eq!(status, 403);
    let (status, code) = status_of(creator.task_audit(task.task_uuid).await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let (status, code) = status_of(reader.task_audit(Uuid::nil()).await.unwrap_err());
    assert_eq!((status, code.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn failures_reach_the_dlq_and_operators_resume_them() {
    let (server, _config) = server().await;
    let admin = client(&server, &["*"], "operator-1");
    let task = admin
        .create_task(&request("ops", "broken", json!({})))
        .await
        .unwrap();
    wait_for(&admin, task.task_uuid, "blocked_by_failures").await;

    let entries = admin.list_dlq(&DlqListQuery::default()).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].task_uuid, task.task_uuid);
    assert_eq!(entries[0].dlq_reason, "max_retries_exceeded");
    assert_eq!(entries[0].resolution_status, "pending");
    assert_eq!(admin.dlq_for_task(task.task_uuid).await.unwrap().len(), 1);
    assert_eq!(
        admin.dlq_investigation_queue().await.unwrap()[0].dlq_entry_uuid,
        entries[0].dlq_entry_uuid
    );
    let stats = admin.dlq_stats().await.unwrap();
    assert_eq!(stats[0].dlq_reason, "max_retries_exceeded");
    assert_eq!(stats[0].total, 1);

    let steps = admin.list_steps(task.task_uuid).await.unwrap();
    let explode = steps.iter().find(|s| s.name == "explode").unwrap();
    assert_eq!(explode.status, "error");
    let action = StepActionRequest::CompleteManually {
        result: json!({"value": "patched"}),
        reason: "fixed upstream".into(),
    };
    let patched = admin
        .step_action(task.task_uuid, explode.step_uuid, &action)
        .await
        .unwrap();
    assert_eq!(patched.status, "complete");
    wait_for(&admin, task.task_uuid, "complete").await;
    let audit = admin
        .step_audit(task.task_uuid, explode.step_uuid)
        .await
        .unwrap();
    let manual = audit.iter().find(|t| t.to_state == "complete").unwrap();
    assert_eq!(manual.actor, "operator-1");
    assert_eq!(manual.reason.as_deref(), Some("fixed upstream"));

    let update = DlqUpdateRequest {
        resolution_status: Some(ResolutionStatus::ManuallyResolved),
        resolution_notes: Some("patched by hand".into()),
    };
    let entry = admin
        .update_dlq_entry(entries[0].dlq_entry_uuid, &update)
        .await
        .unwrap();
    assert_eq!(entry.resolution_status, "manually_resolved");
    assert_eq!(entry.notes.as_deref(), Some("patched by hand"));
    assert_eq!(entry.resolver.as_deref(), Some("operator-1"));
}

#[tokio::test]
async fn bad_input_gets_the_right_4xx_envelope() {
    let (server, _config) = server().await;
    let token = Token::with_permissions(&["*"]).sign();
    let base = server.base_url.clone();
    let send = |method: &'static str, path: &'static str, body: &'static str| {
        let token = token.clone();
        let base = base.clone();
        async move {
            let response = reqwest::Client::new()
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    format!("{base}{path}"),
                )
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap();
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
                body["message"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let cases = [
        (
            "POST",
            "/v1/tasks",
            "{not json",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "POST",
            "/v1/tasks",
            r#"{"namespace": 5, "name": "x"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "POST",
            "/v1/tasks",
            r#"{"namespace": "nope", "name": "missing"}"#,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/v1/tasks",
            r#"{"namespace": "examples", "name": "linear_math", "context": {"value": "five"}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "POST",
            "/v1/tasks",
            r#"{"namespace": "examples", "name": "linear_math", "contxt": {}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "GET",
            "/v1/tasks/not-a-uuid",
            "",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/v1/tasks/6f1d2c3e-0000-4000-8000-000000000001",
            "",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "GET",
            "/v1/tasks?per_page=101",
            "",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/v1/tasks?status=flying",
            "",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/v1/tasks?page=abc",
            "",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "PATCH",
            "/v1/tasks/6f1d2c3e-0000-4000-8000-000000000001/workflow_steps/6f1d2c3e-0000-4000-8000-000000000002",
            r#"{"action_type": "explode", "reason": "x"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable",
        ),
        (
            "GET",
            "/v1/no-such-route",
            "",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got, error, message) = send(method, path, body).await;
        assert_eq!(
            (got, error.as_str()),
            (status, code),
            "{method} {path} {body}: {message}"
        );
        assert!(!message.is_empty(), "{method} {path}: empty message");
    }
    // A bad id is named in the API's own words, without the parser's or framework's text.
    for (path, name) in [
        ("/v1/tasks/not-a-uuid", "task_uuid"),
        (
            "/v1/tasks/6f1d2c3e-0000-4000-8000-000000000001/workflow_steps/x/audit",
            "step_uuid",
        ),
    ] {
        let (status, error, message) = send("GET", path, "").await;
        assert_eq!(
            (status, error.as_str(), message.as_str()),
            (
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("Invalid path: `{name}` must be a UUID").as_str()
            )
        );
    }
    // A repeated idempotency key names the existing task.
    let admin = client(&server, &["*"], "svc");
    let mut first = request("examples", "linear_math", json!({"value": 1}));
    first.idempotency_key = Some("order-42".into());
    let created = admin.create_task(&first).await.unwrap();
    match admin.create_task(&first).await.unwrap_err() {
        ClientError::Api {
            status, message, ..
        } => {
            assert_eq!(status, 409);
            assert!(
                message.contains(&created.task_uuid.to_string()),
                "{message}"
            );
        }
        other => panic!("{other}"),
    }
    // Cancelling twice: the first cancels the running task, the second is a conflict.
    let task = admin
        .create_task(&request("ops", "slow", json!({})))
        .await
        .unwrap();
    let cancelled = admin.cancel_task(task.task_uuid).await.unwrap();
    assert_eq!(
        (cancelled.status.as_str(), cancelled.step_counts.cancelled),
        ("cancelled", 1),
        "{cancelled:?}"
    );
    match admin.cancel_task(task.task_uuid).await.unwrap_err() {
        ClientError::Api {
            status,
            code,
            message,
            ..
        } => {
            assert_eq!((status, code.as_str()), (409, "conflict"));
            assert!(message.contains("already cancelled"), "{message}");
        }
        other => panic!("{other}"),
    }
    assert!(admin.health(Api::Orchestration).await.unwrap()["checks"]["store"] == "ok");
}

#[tokio::test]
async fn request_ids_and_body_limits() {
    let config = TestConfig::new();
    config.write(
        "base/orchestration.toml",
        &auth_config("", "[web]\nmax_body_bytes = 1024\n").replacen(
            "[web]\nconfig_endpoint_enabled = true\n",
            "config_endpoint_enabled = true\n",
            1,
        ),
    );
    let server = InProcServer::start(&config).await;
    let token = Token::with_permissions(&["*"]).sign();
    let http = reqwest::Client::new();
    let response = http.get(server.url("/health")).send().await.unwrap();
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "a UUID request id is generated");
    let response = http
        .get(server.url("/health"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-request-id"],
        "trace-me-123",
        "an incoming request id is propagated"
    );

    let big = format!(
        "{{\"namespace\": \"{}\", \"name\": \"x\"}}",
        "n".repeat(4096)
    );
    for (path, content_type) in [
        ("/v1/tasks", "application/json"),
        ("/v1/templates/validate", "application/yaml"),
    ] {
        let response = http
            .post(server.url(path))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "payload_too_large", "{path}");
    }
}

#[tokio::test]
async fn task_fields_have_limits_far_below_the_body_limit() {
    let (server, _config) = server().await;
    let admin = client(&server, &["*"], "svc");
    let long_namespace = "n".repeat(100_000);
    let cases: Vec<(CreateTaskRequest, &str)> = vec![
        (
            request(&long_namespace, "linear_math", json!({})),
            "namespace is longer than 64 characters",
        ),
        (
            CreateTaskRequest {
                tags: vec!["t".into(); 65],
                ..request("examples", "linear_math", json!({"value": 1}))
            },
            "tags has more than 64 entries",
        ),
        (
            CreateTaskRequest {
                tags: vec!["ok".into(), "x".repeat(129)],
                ..request("examples", "linear_math", json!({"value": 1}))
            },
            "tags[1] is longer than 128 characters",
        ),
        (
            CreateTaskRequest {
                reason: Some("r".repeat(1025)),
                ..request("examples", "linear_math", json!({"value": 1}))
            },
            "reason is longer than 1024 characters",
        ),
    ];
    for (body, expected) in cases {
        match admin.create_task(&body).await.unwrap_err() {
            ClientError::Api {
                status,
                code,
                message,
                ..
            } => {
                assert_eq!(
                    (status, code.as_str(), message.as_str()),
                    (422, "unprocessable", expected)
                );
            }
            other => panic!("{other}"),
        }
    }
    // At the limits, the task is created.
    let fits = CreateTaskRequest {
        tags: vec!["t".repeat(128); 64],
        reason: Some("r".repeat(1024)),
        ..request("examples", "linear_math", json!({"value": 1}))
    };
    assert_eq!(admin.create_task(&fits).await.unwrap().tags.len(), 64);
}
