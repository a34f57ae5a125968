//! The worker API's routes: the templates this worker serves and their validation against its
//! handler registry. Handlers are forwards with their permission in their signature.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use tasker_auth::{Authenticator, Authorized, perm};
use tasker_core::{Store, TaskTemplate};
use tasker_http::{ApiError, ApiJson, ApiPath};
use tasker_proto::api::{TemplateSummary, TemplateView, ValidationReport};
use tasker_proto::{ErrorBody, Permission, Scope, scoped_label};

use super::views;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Router state of the worker API.
#[derive(Clone)]
pub(crate) struct WorkerState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) namespaces: Vec<String>,
    pub(crate) handlers: Arc<Vec<String>>,
}

impl FromRef<WorkerState> for Arc<Authenticator> {
    fn from_ref(state: &WorkerState) -> Self {
        state.auth.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tasker worker API",
        description = "Templates served by this worker and their validation against its handlers."
    ),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The worker API router and its OpenAPI document.
pub(crate) fn router(state: WorkerState) -> (Router, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(list))
        .routes(routes!(get))
        .routes(routes!(validate))
        .with_state(state)
        .split_for_parts()
}

impl WorkerState {
    fn serves(&self, namespace: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.iter().any(|n| n == namespace)
    }

    async fn template(
        &self,
        namespace: &str,
        name: &str,
        version: &str,
        scope: &Scope,
    ) -> Result<TaskTemplate, ApiError> {
        let records = self
            .store
            .list_templates()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        records
            .into_iter()
            .map(|r| r.template)
            .find(|t| {
                t.namespace == namespace
                    && scope.contains(namespace)
                    && t.name == name
                    && t.version == version
                    && self.serves(namespace)
            })
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "template {namespace}/{name}/{version} not found on this worker"
                ))
            })
    }
}

/// Templates of the namespaces this worker serves.
#[utoipa::path(get, operation_id = "list_templates", path = "/v1/templates", tag = "templates", responses((status = 200, body = Vec<TemplateSummary>)))]
pub(crate) async fn list(
    auth: Authorized<perm::WorkerTemplatesRead>,
    State(s): State<WorkerState>,
) -> Result<ApiJson<Vec<TemplateSummary>>, ApiError> {
    let scope = auth.scope();
    let records = s
        .store
        .list_templates()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(ApiJson(
        records
            .into_iter()
            .map(|r| r.template)
            .filter(|t| s.serves(&t.namespace) && scope.contains(&t.namespace))
            .map(|t| views::template_summary(&t))
            .collect(),
    ))
}

/// One template version in full.
#[utoipa::path(get, operation_id = "get_template", path = "/v1/templates/{namespace}/{name}/{version}", tag = "templates",
    params(("namespace" = String, Path, example = "examples"), ("name" = String, Path, example = "diamond_math"), ("version" = String, Path, example = "1.0.0")),
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    auth: Authorized<perm::WorkerTemplatesRead>,
    State(s): State<WorkerState>,
    ApiPath((namespace, name, version)): ApiPath<(String, String, String)>,
) -> Result<ApiJson<TemplateView>, ApiError> {
    s.template(&namespace, &name, &version, &auth.scope())
        .await
        .map(|t| ApiJson(views::template(t)))
}

/// Checks the template against this worker's handlers.
#[utoipa::path(post, operation_id = "validate_template", path = "/v1/templates/{namespace}/{name}/{version}/validate", tag = "templates",
    params(("namespace" = String, Path, example = "examples"), ("name" = String, Path, example = "diamond_math"), ("version" = String, Path, example = "1.0.0")),
    responses((status = 200, body = ValidationReport), (status = 404, body = ErrorBody)))]
pub(crate) async fn validate(
    auth: Authorized<perm::TemplatesValidate>,
    State(s): State<WorkerState>,
    ApiPath((namespace, name, version)): ApiPath<(String, String, String)>,
) -> Result<ApiJson<ValidationReport>, ApiError> {
    if !auth.scope().contains(&namespace) {
        return Err(ApiError::Forbidden(format!(
            "Missing required permission: {}",
            scoped_label(Permission::TemplatesValidate, &namespace)
        )));
    }
    let template = s.template(&namespace, &name, &version, &Scope::All).await?;
    let errors: Vec<String> = template
        .unknown_handlers(|h| s.handlers.iter().any(|known| known == h))
        .into_iter()
        .map(|handler| format!("handler `{handler}` is not registered on this worker"))
        .collect();
    Ok(ApiJson(ValidationReport {
        valid: errors.is_empty(),
        errors,
    }))
}
