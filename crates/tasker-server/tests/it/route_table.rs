//! Every protected route, read from the server's own OpenAPI document: 401 without
//! credentials, 403 naming the permission with every other permission, and past auth with
//! exactly its permission. The document must carry exactly the product's permission table.

use std::collections::BTreeSet;

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use tasker_proto::Permission;
use tasker_testkit::Token;

use crate::*;

/// The product's orchestration route table.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("post", "/v1/tasks/{task_uuid}/rerun", "steps:resolve"),
    (
        "post",
        "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/signal",
        "steps:resolve",
    ),
    ("post", "/v1/schedules", "schedules:write"),
    ("get", "/v1/schedules", "schedules:read"),
    ("get", "/v1/schedules/{schedule_uuid}", "schedules:read"),
    ("patch", "/v1/schedules/{schedule_uuid}", "schedules:write"),
    ("delete", "/v1/schedules/{schedule_uuid}", "schedules:write"),
    (
        "get",
        "/v1/schedules/{schedule_uuid}/runs",
        "schedules:read",
    ),
    (
        "post",
        "/v1/schedules/{schedule_uuid}/trigger",
        "schedules:write",
    ),
    ("post", "/v1/tasks", "tasks:create"),
    ("get", "/v1/tasks", "tasks:list"),
    ("get", "/v1/tasks/{task_uuid}", "tasks:read"),
    ("delete", "/v1/tasks/{task_uuid}", "tasks:cancel"),
    ("get", "/v1/tasks/{task_uuid}/context", "tasks:context_read"),
    ("get", "/v1/tasks/{task_uuid}/workflow_steps", "steps:read"),
    (
        "get",
        "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}",
        "steps:read",
    ),
    (
        "get",
        "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/audit",
        "steps:read",
    ),
    ("get", "/v1/tasks/{task_uuid}/audit", "steps:read"),
    ("get", "/v1/tasks/{task_uuid}/dag", "steps:read"),
    (
        "get",
        "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}/logs",
        "steps:read",
    ),
    (
        "patch",
        "/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}",
        "steps:resolve",
    ),
    ("get", "/v1/dlq", "dlq:read"),
    ("get", "/v1/dlq/task/{task_uuid}", "dlq:read"),
    ("get", "/v1/dlq/investigation-queue", "dlq:read"),
    ("get", "/v1/dlq/staleness", "dlq:read"),
    ("patch", "/v1/dlq/entry/{dlq_entry_uuid}", "dlq:update"),
    ("get", "/v1/dlq/stats", "dlq:stats"),
    ("get", "/v1/templates", "templates:read"),
    (
        "get",
        "/v1/templates/{namespace}/{name}/{version}",
        "templates:read",
    ),
    ("post", "/v1/templates/validate", "templates:validate"),
    ("get", "/v1/handlers", "system:handlers_read"),
    ("get", "/v1/handlers/{namespace}", "system:handlers_read"),
    ("get", "/v1/analytics/performance", "system:analytics_read"),
    ("get", "/v1/analytics/bottlenecks", "system:analytics_read"),
    ("get", "/config", "system:config_read"),
    ("get", "/health/detailed", "system:config_read"),
];

const PUBLIC: &[&str] = &[
    "/health",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/api-docs/openapi.json",
];

/// `(method, path, permission)` of every operation in the document carrying a permission.
pub(crate) fn protected_operations(doc: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            match operation
                .get("x-required-permission")
                .and_then(Value::as_str)
            {
                Some(permission) => out.push((method.clone(), path.clone(), permission.to_owned())),
                None => assert!(
                    PUBLIC.contains(&path.as_str()),
                    "{method} {path} has no x-required-permission"
                ),
            }
        }
    }
    out
}

fn concrete(path: &str) -> String {
    path.replace("{task_uuid}", "6f1d2c3e-0000-4000-8000-000000000001")
        .replace("{step_uuid}", "6f1d2c3e-0000-4000-8000-000000000002")
        .replace("{dlq_entry_uuid}", "6f1d2c3e-0000-4000-8000-000000000003")
        .replace("{namespace}", "examples")
        .replace("{name}", "linear_math")
        .replace("{version}", "1.0.0")
}

pub(crate) async fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = Client::new().request(method, format!("{base}{}", concrete(path)));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

/// Walks every protected operation of a running server's document.
pub(crate) async fn walk(base: &str, operations: &[(String, String, String)]) {
    for (method, path, permission) in operations {
        let (status, body) = call(base, method, path, None, "{}").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without credentials: {body}"
        );
        assert_eq!(body["message"], "Missing authentication credentials");

        let others: Vec<&str> = Permission::ALL
            .iter()
            .map(|p| p.as_str())
            .filter(|p| p != permission)
            .collect();
        let token = Token::with_permissions(&others).sign();
        // A malformed body must not matter: authorization comes first.
        let (status, body) = call(base, method, path, Some(&token), "{not json").await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{method} {path} with every other permission: {body}"
        );
        assert_eq!(
            body["message"],
            format!("Missing required permission: {permission}")
        );

        let token = Token::with_permissions(&[permission]).sign();
        let (status, body) = call(base, method, path, Some(&token), "{}").await;
        assert!(
            status != StatusCode::UNAUTHORIZED
                && status != StatusCode::FORBIDDEN
                && !status.is_server_error(),
            "{method} {path} with {permission}: {status} {body}"
        );
        assert!(
            status.is_success() || body["error"].is_string(),
            "{method} {path}: error without envelope: {body}"
        );
    }
}

#[tokio::test]
async fn every_orchestration_route_is_protected_by_its_documented_permission() {
    let (server, _config) = start(SERVER, "orchestration", &auth_config("", ""));
    let doc: Value = get(&server, "/api-docs/openapi.json", &[])
        .await
        .json()
        .await
        .unwrap();
    let operations = protected_operations(&doc);
    let found: BTreeSet<(String, String, String)> = operations.iter().cloned().collect();
    let expected: BTreeSet<(String, String, String)> = EXPECTED
        .iter()
        .map(|(m, p, q)| (m.to_string(), p.to_string(), q.to_string()))
        .collect();
    assert_eq!(
        found, expected,
        "the document's permission table differs from the product's"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["name"],
        "X-API-Key"
    );
    walk(&server.base_url, &operations).await;
}

#[tokio::test]
async fn openapi_names_the_configured_api_key_header() {
    let (server, _config) = start(
        SERVER,
        "orchestration",
        &auth_config("api_key_header = \"X-Tasker-Key\"", ""),
    );
    let doc: Value = get(&server, "/api-docs/openapi.json", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["name"],
        "X-Tasker-Key"
    );
    assert_eq!(
        doc["paths"]["/v1/tasks"]["post"]["security"],
        serde_json::json!([{"bearer": []}, {"api_key": []}])
    );
    assert_eq!(
        doc["paths"]["/health"]["get"]["security"],
        serde_json::json!([])
    );
    assert!(
        doc["paths"]["/v1/tasks"]["post"]["requestBody"].is_object(),
        "request schemas are documented"
    );
}

/// What `.ci/api-fuzz` (schemathesis) found missing from both servers' documents: every
/// operation has a unique `operationId`; every error a protected operation can answer (a
/// malformed path, query or body, credentials, permission, an oversized body, a fault) is
/// documented with the error envelope; states are closed enums; request bodies are as strict
/// as the server (closed step-action variants, a DLQ update needs a field).
#[tokio::test]
async fn openapi_documents_every_answer_of_both_servers() {
    let worker = crate::worker_binary_path();
    for (binary, role) in [(SERVER, "orchestration"), (worker.as_str(), "worker")] {
        let (server, _config) = start(binary, role, &auth_config("", ""));
        let doc: Value = get(&server, "/api-docs/openapi.json", &[])
            .await
            .json()
            .await
            .unwrap();
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str();
                assert!(
                    id.is_some_and(|id| ids.insert(id.to_owned())),
                    "{role}: {method} {path} has no operationId or shares {id:?}"
                );
                let responses = operation["responses"].as_object().unwrap();
                assert!(
                    responses.contains_key("200") || responses.contains_key("201"),
                    "{role}: {method} {path}"
                );
                if operation.get("x-required-permission").is_none() {
                    continue;
                }
                let mut expected = vec!["401", "403", "500"];
                let parameters = operation["parameters"].as_array().map_or(0, Vec::len);
                let body = operation["requestBody"]["content"].as_object();
                if parameters > 0 || body.is_some() {
                    expected.push("400");
                }
                if path.contains("{") {
                    expected.push("404");
                }
                if let Some(body) = body {
                    expected.push("413");
                    if body.contains_key("application/json") {
                        expected.push("422");
                    }
                }
                for status in expected {
                    assert_eq!(
                        responses
                            .get(status)
                            .map(|r| &r["content"]["application/json"]["schema"]["$ref"]),
                        Some(&Value::from("#/components/schemas/ErrorBody")),
                        "{role}: {method} {path} does not document {status} with the envelope"
                    );
                }
            }
        }
        for path in ["/health", "/health/ready"] {
            assert!(
                doc["paths"][path]["get"]["responses"]["503"].is_object(),
                "{role}: {path}"
            );
        }
        if role != "orchestration" {
            continue;
        }
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["TaskView"]["properties"]["status"]["$ref"],
            "#/components/schemas/TaskStatus"
        );
        assert_eq!(schemas["TaskStatus"]["enum"].as_array().unwrap().len(), 8);
        assert_eq!(
            schemas["StepView"]["properties"]["status"]["$ref"],
            "#/components/schemas/StepStatus"
        );
        assert_eq!(
            schemas["DlqEntryView"]["properties"]["resolution_status"]["$ref"],
            "#/components/schemas/ResolutionStatus"
        );
        assert_eq!(
            schemas["CreateTaskRequest"]["properties"]["context"]["type"],
            "object"
        );
        for variant in schemas["StepActionRequest"]["oneOf"].as_array().unwrap() {
            assert_eq!(variant["additionalProperties"], false, "{variant}");
        }
        assert_eq!(schemas["DlqUpdateRequest"]["minProperties"], 1);
        assert!(schemas["DlqUpdateRequest"].get("maxProperties").is_none());
    }
}
