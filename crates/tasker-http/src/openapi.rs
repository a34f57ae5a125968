//! Completes a generated OpenAPI document: the common routes, the security schemes (bearer
//! JWT and the configured API key header), and on every protected operation its
//! `x-required-permission` and security requirement, taken from the server's route table.

use serde_json::{Value, json};
use tasker_proto::Permission;

/// Public routes every server has.
const PUBLIC: &[(&str, &str)] = &[
    ("/health", "Health with the store and auth checks"),
    ("/health/live", "Liveness"),
    ("/health/ready", "Readiness (store reachable, JWKS state)"),
    ("/metrics", "Prometheus metrics"),
    ("/api-docs/openapi.json", "This document"),
];

/// Adds what the handler annotations cannot know. `routes` lists `(method, path, permission)`
/// of every protected operation, `/config` included when it is registered.
pub fn finish_openapi(
    mut doc: Value,
    routes: &[(&str, &str, Permission)],
    api_key_header: &str,
    config_enabled: bool,
) -> Value {
    let paths = doc
        .as_object_mut()
        .map(|d| d.entry("paths").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut);
    if let Some(paths) = paths {
        for (path, summary) in PUBLIC {
            paths.insert(
                (*path).to_owned(),
                json!({"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}}),
            );
        }
        if config_enabled {
            paths.insert(
                "/config".to_owned(),
                json!({"get": {"summary": "Effective configuration, secrets redacted", "responses": {"200": {"description": "The redacted configuration and the list of redacted paths"}}}}),
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
                secure(operation, permission);
            }
        }
    }
    if let Some(doc) = doc.as_object_mut() {
        let components = doc.entry("components").or_insert_with(|| json!({}));
        if let Some(components) = components.as_object_mut() {
            components.insert(
                "securitySchemes".to_owned(),
                json!({
                    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                    "api_key": {"type": "apiKey", "in": "header", "name": api_key_header}
                }),
            );
        }
    }
    doc
}

fn secure(operation: &mut Value, permission: Option<Permission>) {
    let Some(operation) = operation.as_object_mut() else {
        return;
    };
    match permission {
        Some(permission) => {
            operation.insert(
                "x-required-permission".to_owned(),
                json!(permission.as_str()),
            );
            operation.insert(
                "security".to_owned(),
                json!([{"bearer": []}, {"api_key": []}]),
            );
            let error = json!({"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}});
            if let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            {
                let mut unauthorized = error.clone();
                unauthorized["description"] = json!("Missing or invalid credentials");
                let mut forbidden = error;
                forbidden["description"] =
                    json!(format!("Missing required permission: {permission}"));
                responses.insert("401".to_owned(), unauthorized);
                responses.insert("403".to_owned(), forbidden);
            }
        }
        None => {
            operation.insert("security".to_owned(), json!([]));
        }
    }
}
