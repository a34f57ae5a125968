//! Registered templates and template validation.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use tasker_auth::{Authorized, perm};
use tasker_http::{ApiError, ApiJson, ApiPath};
use tasker_proto::ErrorBody;
use tasker_proto::api::{TemplateSummary, TemplateView, ValidationReport};
use utoipa_axum::routes;

use super::{Api, AppState, fail};

type Reply<T> = Result<ApiJson<T>, ApiError>;

/// This module's routes.
pub(super) fn routes(api: Api) -> Api {
    api.routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(validate))
}

/// Every registered template.
#[utoipa::path(get, operation_id = "list_templates", path = "/v1/templates", tag = "templates", responses((status = 200, body = Vec<TemplateSummary>)))]
pub(crate) async fn list(
    auth: Authorized<perm::TemplatesRead>,
    State(s): State<AppState>,
) -> Reply<Vec<TemplateSummary>> {
    s.orchestrator
        .list_templates(&auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// One template version in full.
#[utoipa::path(get, operation_id = "get_template", path = "/v1/templates/{namespace}/{name}/{version}", tag = "templates",
    params(("namespace" = String, Path, example = "examples"), ("name" = String, Path, example = "diamond_math"), ("version" = String, Path, example = "1.0.0")),
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    auth: Authorized<perm::TemplatesRead>,
    State(s): State<AppState>,
    ApiPath((namespace, name, version)): ApiPath<(String, String, String)>,
) -> Reply<TemplateView> {
    s.orchestrator
        .get_template(&namespace, &name, &version, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Validate a template document (YAML or JSON) without registering it.
#[utoipa::path(post, operation_id = "validate_template", path = "/v1/templates/validate", tag = "templates",
    request_body(description = "A template as YAML, or as a JSON document of the same shape",
        content(
            (String = "application/yaml", example = json!("name: hello\nnamespace: examples\nversion: 1.0.0\nsteps:\n  - name: greet\n    handler: { callable: builtin.echo }\n")),
            (serde_json::Value = "application/json", example = json!({"name": "hello", "namespace": "examples", "version": "1.0.0", "steps": [{"name": "greet", "handler": {"callable": "builtin.echo"}}]}))
        )),
    responses((status = 200, body = ValidationReport), (status = 400, body = ErrorBody)))]
pub(crate) async fn validate(
    auth: Authorized<perm::TemplatesValidate>,
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Reply<ValidationReport> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge("Request body too large".into()),
        _ => ApiError::BadRequest("Cannot read the request body".into()),
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("The template must be UTF-8 text".into()))?;
    s.orchestrator
        .validate_template(text, &auth.scope())
        .await
        .map(ApiJson)
        .map_err(fail)
}
