//! Completes a generated OpenAPI document: the common routes with their response bodies, the
//! security schemes (bearer JWT and the configured API key header), on every protected
//! operation its `x-required-permission` and security requirement (taken from the server's
//! route table), and on every operation the error responses the shared layers can produce,
//! all with the `{"error","message"}` envelope. The document is checked against live servers
//! by `.ci/api-fuzz` (schemathesis): every status, content type, header and body a server
//! answers must be the documented one.

use serde_json::{Map, Value, json};
use tasker_proto::Permission;

const ERROR_BODY: &str = "#/components/schemas/ErrorBody";

/// Adds what the handler annotations cannot know. `routes` lists `(method, path, permission)`
/// of every protected operation (see [`crate::required_permissions`]), `/config` included when
/// it is registered.
pub fn finish_openapi(
    mut doc: Value,
    routes: &[(String, String, Permission)],
    api_key_header: &str,
    config_enabled: bool,
    auth_enabled: bool,
) -> Value {
    let paths = doc
        .as_object_mut()
        .map(|d| d.entry("paths").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut);
    if let Some(paths) = paths {
        for (path, operation) in public_operations() {
            paths.insert(path.to_owned(), json!({ "get": operation }));
        }
        let detail = json!({"$ref": "#/components/schemas/HealthDetail"});
        paths.insert(
            "/health/detailed".to_owned(),
            json!({"get": {
                "operationId": "health_detailed",
                "summary": "Health with the role's details (worker id, namespaces, handlers, running steps)",
                "tags": ["health"],
                "responses": {
                    "200": json_response("Healthy", detail.clone()),
                    "503": json_response("Degraded: a check failed", detail),
                }
            }}),
        );
        if config_enabled {
            paths.insert(
                "/config".to_owned(),
                json!({"get": {
                    "operationId": "config",
                    "summary": "Effective configuration, secrets redacted",
                    "tags": ["system"],
                    "responses": {"200": json_response(
                        "The redacted configuration and the list of redacted paths",
                        json!({"$ref": "#/components/schemas/RedactedConfig"}),
                    )}
                }}),
            );
        }
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, operation) in item.iter_mut() {
                let permission = routes
                    .iter()
                    .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && p == path)
                    .map(|(_, _, permission)| *permission);
                secure(operation, permission, auth_enabled);
                if permission.is_some() {
                    document_errors(operation);
                }
            }
        }
    }
    if let Some(doc) = doc.as_object_mut() {
        doc.insert(
            "servers".to_owned(),
            json!([{"url": "/", "description": "The server that serves this document"}]),
        );
        let components = doc.entry("components").or_insert_with(|| json!({}));
        if let Some(components) = components.as_object_mut() {
            components.insert(
                "securitySchemes".to_owned(),
                json!({
                    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                    "api_key": {"type": "apiKey", "in": "header", "name": api_key_header}
                }),
            );
            if let Some(schemas) = components
                .entry("schemas")
                .or_insert_with(|| json!({}))
                .as_object_mut()
            {
                for (name, schema) in common_schemas() {
                    schemas.insert(name.to_owned(), schema);
                }
            }
        }
    }
    doc
}

/// A response with a JSON body.
fn json_response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

/// A response with the error envelope.
fn error_response(description: &str) -> Value {
    json_response(description, json!({"$ref": ERROR_BODY}))
}

/// The public routes every server has, with their bodies.
fn public_operations() -> Vec<(&'static str, Value)> {
    let health = json!({"$ref": "#/components/schemas/HealthReport"});
    let readiness = json!({"$ref": "#/components/schemas/ReadinessReport"});
    vec![
        (
            "/health",
            json!({
                "operationId": "health",
                "summary": "Health: status and check results only",
                "tags": ["health"],
                "responses": {
                    "200": json_response("Healthy", health.clone()),
                    "503": json_response("Degraded: a check failed", health),
                }
            }),
        ),
        (
            "/health/live",
            json!({
                "operationId": "live",
                "summary": "Liveness",
                "tags": ["health"],
                "responses": {"200": json_response("The process serves requests", json!({
                    "title": "LivenessReport",
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string", "enum": ["alive"]}}
                }))}
            }),
        ),
        (
            "/health/ready",
            json!({
                "operationId": "ready",
                "summary": "Readiness (store reachable, JWKS state)",
                "tags": ["health"],
                "responses": {
                    "200": json_response("Ready", readiness.clone()),
                    "503": json_response("Not ready: the store is unreachable", readiness),
                }
            }),
        ),
        (
            "/metrics",
            json!({
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "tags": ["health"],
                "responses": {"200": {
                    "description": "Prometheus text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}}
                }}
            }),
        ),
        (
            "/api-docs/openapi.json",
            json!({
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["health"],
                "responses": {"200": json_response("The OpenAPI 3.1 document", json!({"title": "OpenApiDocument", "type": "object"}))}
            }),
        ),
    ]
}

/// Schemas of the common routes' bodies.
fn common_schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "HealthReport",
            json!({
                "description": "`GET /health` (public): the status and the readiness checks, nothing about the host or its work (`GET /health/detailed` has the role's details).",
                "type": "object",
                "required": ["status", "checks"],
                "additionalProperties": false,
                "properties": {
                    "status": {"type": "string", "enum": ["healthy", "degraded"]},
                    "checks": {"type": "object", "description": "`store` (`ok` or `unreachable`)"}
                }
            }),
        ),
        (
            "HealthDetail",
            json!({
                "description": "`GET /health/detailed` (the role's config permission): the status and checks of `/health` plus the role's details (the worker adds its id, namespaces, concurrency, running steps and handlers; the orchestration server its embedded worker's status).",
                "type": "object",
                "required": ["status", "checks", "role"],
                "properties": {
                    "status": {"type": "string", "enum": ["healthy", "degraded"]},
                    "checks": {"type": "object", "description": "`store` (`ok` or `unreachable`)"},
                    "role": {"type": "string", "enum": ["orchestration", "worker"]},
                    "embedded_worker": {
                        "description": "Orchestration: the embedded worker's status, or null when it runs none",
                        "oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/WorkerStatus"}]
                    },
                    "worker_id": {"type": "string", "description": "Worker: its id"},
                    "namespaces": {"type": "array", "items": {"type": "string"}, "description": "Worker: the namespaces it serves (empty: every namespace)"},
                    "concurrency": {"type": "integer", "minimum": 0, "description": "Worker: steps it runs at once"},
                    "running_steps": {"type": "array", "items": {"$ref": "#/components/schemas/RunningStep"}, "description": "Worker: the steps it runs now"},
                    "handlers": {"type": "array", "items": {"type": "string"}, "description": "Worker: its registered handlers"}
                }
            }),
        ),
        (
            "WorkerStatus",
            json!({
                "description": "An embedded worker's status in `GET /health/detailed` (a worker process reports the same fields at the top level).",
                "type": "object",
                "required": ["worker_id", "namespaces", "concurrency", "running_steps", "handlers"],
                "properties": {
                    "worker_id": {"type": "string", "description": "Its id (the lease holder name)"},
                    "namespaces": {"type": "array", "items": {"type": "string"}, "description": "The namespaces it serves (empty: every namespace)"},
                    "concurrency": {"type": "integer", "minimum": 0, "description": "Steps it runs at once"},
                    "running_steps": {"type": "array", "items": {"$ref": "#/components/schemas/RunningStep"}, "description": "The steps it runs now"},
                    "handlers": {"type": "array", "items": {"type": "string"}, "description": "Its registered handlers"}
                }
            }),
        ),
        (
            "RunningStep",
            json!({
                "description": "A step a worker runs now.",
                "type": "object",
                "required": ["task_uuid", "step_uuid", "name", "handler", "attempt", "started_at"],
                "properties": {
                    "task_uuid": {"type": "string", "format": "uuid"},
                    "step_uuid": {"type": "string", "format": "uuid"},
                    "name": {"type": "string", "description": "Step name"},
                    "handler": {"type": "string", "description": "Handler name"},
                    "attempt": {"type": "integer", "minimum": 0, "description": "Attempt number"},
                    "started_at": {"type": "string", "format": "date-time", "description": "When this worker started it"}
                }
            }),
        ),
        (
            "ReadinessReport",
            json!({
                "description": "`GET /health/ready`: `ready` when the store answers; a JWKS still loading does not make the server unready (API keys keep working).",
                "type": "object",
                "required": ["status", "checks"],
                "properties": {
                    "status": {"type": "string", "enum": ["ready", "not_ready"]},
                    "checks": {
                        "type": "object",
                        "description": "`store` (`ok` or `unreachable`) and, with JWKS verification, `jwks` (`loaded`, `keys`)",
                        "properties": {
                            "store": {"type": "string", "enum": ["ok", "unreachable"]},
                            "jwks": {
                                "type": "object",
                                "required": ["loaded", "keys"],
                                "properties": {
                                    "loaded": {"type": "boolean"},
                                    "keys": {"type": "integer", "minimum": 0}
                                }
                            }
                        }
                    }
                }
            }),
        ),
        (
            "RedactedConfig",
            json!({
                "description": "`GET /config`: the role's effective merged configuration, every secret replaced by `***REDACTED***`.",
                "type": "object",
                "required": ["config", "redacted_paths"],
                "properties": {
                    "config": {"type": "object"},
                    "redacted_paths": {"type": "array", "items": {"type": "string"}}
                }
            }),
        ),
    ]
}

/// Marks an operation with its permission and, when auth is enabled, the credentials it needs
/// and the answers of the auth layer. With auth disabled every route is open, and the document
/// says so (generated clients then need no credentials), while `x-required-permission` still
/// tells what the route would need.
fn secure(operation: &mut Value, permission: Option<Permission>, auth_enabled: bool) {
    let Some(operation) = operation.as_object_mut() else {
        return;
    };
    match permission {
        Some(permission) if !auth_enabled => {
            operation.insert(
                "x-required-permission".to_owned(),
                json!(permission.as_str()),
            );
            operation.insert("security".to_owned(), json!([]));
        }
        Some(permission) => {
            operation.insert(
                "x-required-permission".to_owned(),
                json!(permission.as_str()),
            );
            operation.insert(
                "security".to_owned(),
                json!([{"bearer": []}, {"api_key": []}]),
            );
            if let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            {
                let mut unauthorized = error_response(
                    "Missing or invalid credentials (bad, expired or unknown token or API key, unknown permissions under strict validation)",
                );
                unauthorized["headers"] = json!({"WWW-Authenticate": {
                    "description": "`Bearer realm=\"tasker\"`, with `error=\"invalid_token\"` when a token was sent",
                    "required": true,
                    "schema": {"type": "string"}
                }});
                let mut forbidden =
                    error_response(&format!("Missing required permission: {permission}"));
                forbidden["headers"] = json!({"WWW-Authenticate": {
                    "description": "`Bearer realm=\"tasker\", error=\"insufficient_scope\"`",
                    "required": true,
                    "schema": {"type": "string"}
                }});
                let mut unavailable = error_response(
                    "The identity provider's key set has never loaded (JWKS verification only)",
                );
                unavailable["headers"] = json!({"Retry-After": {
                    "description": "Seconds to wait before retrying",
                    "required": true,
                    "schema": {"type": "string"}
                }});
                if let Some(own) = responses.get("503") {
                    // The operation answers 503 itself (a degraded health report): either body.
                    let own_schema = own["content"]["application/json"]["schema"].clone();
                    unavailable = json_response(
                        &format!(
                            "{} or: the identity provider's key set has never loaded (JWKS verification only; with Retry-After and the error envelope)",
                            own["description"].as_str().unwrap_or("Unavailable")
                        ),
                        json!({"oneOf": [own_schema, {"$ref": ERROR_BODY}]}),
                    );
                    unavailable["headers"] = json!({"Retry-After": {
                        "description": "Seconds to wait before retrying (when the key set is unavailable)",
                        "required": false,
                        "schema": {"type": "string"}
                    }});
                }
                responses.insert("401".to_owned(), unauthorized);
                responses.insert("403".to_owned(), forbidden);
                responses.insert("503".to_owned(), unavailable);
            }
        }
        None => {
            operation.insert("security".to_owned(), json!([]));
        }
    }
}

/// The error responses every API operation can give besides its own: a malformed path,
/// query or body (400), an oversized body (413), a JSON body of the wrong shape (422), and a
/// server fault (500, whose cause is logged, never returned). A response the handler
/// annotation already documents keeps its description.
fn document_errors(operation: &mut Value) {
    let Some(operation) = operation.as_object_mut() else {
        return;
    };
    let has_parameters = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let body_types: Vec<String> = operation
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_object)
        .map(|content| content.keys().cloned().collect())
        .unwrap_or_default();
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut add = |status: &str, description: &str| {
        let entry = responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
        if let Some(entry) = entry.as_object_mut() {
            match entry.get("description").and_then(Value::as_str) {
                Some(text) if !text.is_empty() => {}
                _ => {
                    entry.insert("description".to_owned(), json!(description));
                }
            }
        }
    };
    if has_parameters || !body_types.is_empty() {
        add(
            "400",
            "Malformed path, query or body (the message names the problem)",
        );
    }
    if !body_types.is_empty() {
        add("413", "Request body larger than `web.max_body_bytes`");
    }
    if body_types.iter().any(|t| t == "application/json") {
        add("422", "The JSON body does not have the documented shape");
    }
    add("500", "Internal error (the cause is logged, not returned)");
    fill_descriptions(responses);
}

/// Gives every response without a description the standard reason phrase.
fn fill_descriptions(responses: &mut Map<String, Value>) {
    for (status, response) in responses.iter_mut() {
        let Some(response) = response.as_object_mut() else {
            continue;
        };
        let missing = response
            .get("description")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if missing {
            let text = match status.as_str() {
                "200" => "OK",
                "201" => "Created",
                "400" => "Bad request",
                "404" => "Not found",
                "409" => "Conflict",
                "422" => "Unprocessable",
                _ => "Response",
            };
            response.insert("description".to_owned(), json!(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        let get = json!({"parameters": [{"name": "task_uuid", "in": "path"}],
            "responses": {"200": {"description": ""}, "404": {"description": "", "content": {"application/json": {"schema": {"$ref": ERROR_BODY}}}}}});
        let post = json!({"requestBody": {"content": {"application/json": {}}},
            "responses": {"201": {"description": "Created"}}});
        let validate = json!({"requestBody": {"content": {"application/yaml": {}}},
            "responses": {"200": {"description": ""}}});
        let list = json!({"responses": {"200": {"description": ""}}});
        json!({"paths": {
            "/v1/things/{task_uuid}": {"get": get},
            "/v1/things": {"post": post, "get": list},
            "/v1/validate": {"post": validate},
        }})
    }

    fn finished() -> Value {
        finish_openapi(
            doc(),
            &[
                ("GET", "/v1/things/{task_uuid}", Permission::TasksRead),
                ("POST", "/v1/things", Permission::TasksCreate),
                ("GET", "/v1/things", Permission::TasksList),
                ("POST", "/v1/validate", Permission::TemplatesValidate),
                ("GET", "/config", Permission::SystemConfigRead),
                ("GET", "/health/detailed", Permission::SystemConfigRead),
            ]
            .map(|(m, p, permission)| (m.to_owned(), p.to_owned(), permission)),
            "X-API-Key",
            true,
            true,
        )
    }

    fn statuses(doc: &Value, path: &str, method: &str) -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn protected_operations_document_every_error_the_layers_can_answer() {
        let doc = finished();
        assert_eq!(
            statuses(&doc, "/v1/things/{task_uuid}", "get"),
            ["200", "400", "401", "403", "404", "500", "503"]
        );
        assert_eq!(
            statuses(&doc, "/v1/things", "post"),
            ["201", "400", "401", "403", "413", "422", "500", "503"]
        );
        assert_eq!(
            statuses(&doc, "/v1/things", "get"),
            ["200", "401", "403", "500", "503"]
        );
        // A YAML body cannot be a JSON body of the wrong shape.
        assert_eq!(
            statuses(&doc, "/v1/validate", "post"),
            ["200", "400", "401", "403", "413", "500", "503"]
        );
        assert_eq!(
            statuses(&doc, "/config", "get"),
            ["200", "401", "403", "500", "503"]
        );
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    assert!(
                        response["description"]
                            .as_str()
                            .is_some_and(|d| !d.is_empty()),
                        "{method} {path} {status} has no description"
                    );
                    let protected = operation.get("x-required-permission").is_some();
                    if protected && (status.starts_with('4') || status.starts_with('5')) {
                        let schema = &response["content"]["application/json"]["schema"];
                        let envelope = schema["$ref"] == ERROR_BODY
                            || schema["oneOf"]
                                .as_array()
                                .is_some_and(|s| s.iter().any(|s| s["$ref"] == ERROR_BODY));
                        assert!(
                            envelope,
                            "{method} {path} {status} is not the error envelope"
                        );
                    }
                }
            }
        }
        let unauthorized = &doc["paths"]["/v1/things"]["get"]["responses"]["401"];
        assert_eq!(
            unauthorized["headers"]["WWW-Authenticate"]["required"],
            true
        );
        let forbidden = &doc["paths"]["/v1/things"]["get"]["responses"]["403"];
        assert_eq!(forbidden["headers"]["WWW-Authenticate"]["required"], true);
        let unavailable = &doc["paths"]["/v1/things"]["get"]["responses"]["503"];
        assert_eq!(unavailable["headers"]["Retry-After"]["required"], true);
    }

    #[test]
    fn detailed_health_is_protected_and_its_503_is_either_body() {
        let doc = finished();
        assert_eq!(
            statuses(&doc, "/health/detailed", "get"),
            ["200", "401", "403", "500", "503"]
        );
        let operation = &doc["paths"]["/health/detailed"]["get"];
        assert_eq!(operation["x-required-permission"], "system:config_read");
        let unavailable = &operation["responses"]["503"];
        assert_eq!(
            unavailable["content"]["application/json"]["schema"]["oneOf"],
            json!([{"$ref": "#/components/schemas/HealthDetail"}, {"$ref": ERROR_BODY}])
        );
        assert_eq!(unavailable["headers"]["Retry-After"]["required"], false);
        let public = &doc["components"]["schemas"]["HealthReport"];
        assert_eq!(public["additionalProperties"], false);
        let fields: Vec<&String> = public["properties"].as_object().unwrap().keys().collect();
        assert_eq!(fields, ["checks", "status"]);
    }

    #[test]
    fn public_routes_document_their_bodies_and_need_no_credentials() {
        let doc = finished();
        for (path, _) in public_operations() {
            let operation = &doc["paths"][path]["get"];
            assert_eq!(operation["security"], json!([]), "{path}");
            assert!(operation.get("x-required-permission").is_none(), "{path}");
            let ok = &operation["responses"]["200"]["content"];
            assert!(ok.is_object(), "{path} documents no body");
        }
        assert_eq!(
            doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]["text/plain"]["schema"]
                ["type"],
            "string"
        );
        for path in ["/health", "/health/ready"] {
            assert!(
                doc["paths"][path]["get"]["responses"]["503"].is_object(),
                "{path} answers 503 when the store is unreachable"
            );
        }
        for schema in [
            "HealthReport",
            "WorkerStatus",
            "RunningStep",
            "HealthDetail",
            "ReadinessReport",
            "RedactedConfig",
        ] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
        let without_config = finish_openapi(doc_without_config(), &[], "X-API-Key", false, true);
        assert!(without_config["paths"]["/config"].is_null());
    }

    fn doc_without_config() -> Value {
        json!({"paths": {}})
    }

    #[test]
    fn with_auth_disabled_no_operation_asks_for_credentials() {
        let routes = [("GET", "/v1/things", Permission::TasksList)]
            .map(|(m, p, permission)| (m.to_owned(), p.to_owned(), permission));
        let doc = finish_openapi(doc(), &routes, "X-API-Key", false, false);
        let list = &doc["paths"]["/v1/things"]["get"];
        assert_eq!(list["security"], json!([]));
        assert_eq!(list["x-required-permission"], "tasks:list");
        assert_eq!(statuses(&doc, "/v1/things", "get"), ["200", "500"]);
        assert_eq!(doc["servers"][0]["url"], "/");
    }
}
