//! Handler listings and analytics.

use axum::extract::State;
use serde::Deserialize;
use tasker_auth::{Authorized, perm};
use tasker_http::{ApiError, ApiJson, ApiPath, ApiQuery};
use tasker_orchestration::wire::{BottlenecksView, NamespaceHandlers, PerformanceView};
use tasker_proto::ErrorBody;
use tasker_proto::api as doc;
use utoipa::IntoParams;

use super::{AppState, fail};

type Reply<T> = Result<ApiJson<T>, ApiError>;

/// `?hours=` of the performance window.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct WindowQuery {
    /// Window length in hours, 1–720 (default 24).
    #[param(minimum = 1, maximum = 720)]
    hours: Option<u32>,
}

/// `?limit=` of the bottleneck lists.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct BottleneckQuery {
    /// Steps per list (default 10; at most 100 are returned).
    limit: Option<u32>,
}

/// Handlers and templates per namespace.
#[utoipa::path(get, operation_id = "list_handlers", path = "/v1/handlers", tag = "system", responses((status = 200, body = Vec<doc::HandlerNamespace>)))]
pub(crate) async fn handlers(
    _auth: Authorized<perm::SystemHandlersRead>,
    State(s): State<AppState>,
) -> Reply<Vec<NamespaceHandlers>> {
    s.orchestrator
        .list_handlers()
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Handlers and templates of one namespace.
#[utoipa::path(get, operation_id = "get_namespace_handlers", path = "/v1/handlers/{namespace}", tag = "system", params(("namespace" = String, Path, example = "examples")),
    responses((status = 200, body = doc::HandlerNamespace), (status = 404, body = ErrorBody)))]
pub(crate) async fn namespace_handlers(
    _auth: Authorized<perm::SystemHandlersRead>,
    State(s): State<AppState>,
    ApiPath(namespace): ApiPath<String>,
) -> Reply<NamespaceHandlers> {
    s.orchestrator
        .namespace_handlers(&namespace)
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Task and step figures over a window.
#[utoipa::path(get, operation_id = "analytics_performance", path = "/v1/analytics/performance", tag = "analytics", params(WindowQuery),
    responses((status = 200, body = doc::PerformanceView)))]
pub(crate) async fn performance(
    _auth: Authorized<perm::SystemAnalyticsRead>,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<WindowQuery>,
) -> Reply<PerformanceView> {
    s.orchestrator
        .performance(q.hours)
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Slowest and most error-prone steps.
#[utoipa::path(get, operation_id = "analytics_bottlenecks", path = "/v1/analytics/bottlenecks", tag = "analytics", params(BottleneckQuery),
    responses((status = 200, body = doc::BottlenecksView)))]
pub(crate) async fn bottlenecks(
    _auth: Authorized<perm::SystemAnalyticsRead>,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<BottleneckQuery>,
) -> Reply<BottlenecksView> {
    s.orchestrator
        .bottlenecks(q.limit)
        .await
        .map(ApiJson)
        .map_err(fail)
}
