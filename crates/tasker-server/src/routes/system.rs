//! Handler listings and analytics.

use axum::extract::State;
use tasker_auth::{Authorized, perm};
use tasker_http::{ApiError, ApiJson, ApiPath, ApiQuery};
use tasker_proto::ErrorBody;
use tasker_proto::api::{
    BottleneckQuery, BottlenecksView, HandlerNamespace, PerformanceQuery, PerformanceView,
};
use utoipa_axum::routes;

use super::{Api, AppState, fail};

type Reply<T> = Result<ApiJson<T>, ApiError>;

/// This module's routes.
pub(super) fn routes(api: Api) -> Api {
    api.routes(routes!(handlers))
        .routes(routes!(namespace_handlers))
        .routes(routes!(performance))
        .routes(routes!(bottlenecks))
}

/// Handlers and templates per namespace.
#[utoipa::path(get, operation_id = "list_handlers", path = "/v1/handlers", tag = "system", responses((status = 200, body = Vec<HandlerNamespace>)))]
pub(crate) async fn handlers(
    _auth: Authorized<perm::SystemHandlersRead>,
    State(s): State<AppState>,
) -> Reply<Vec<HandlerNamespace>> {
    s.orchestrator
        .list_handlers()
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Handlers and templates of one namespace.
#[utoipa::path(get, operation_id = "get_namespace_handlers", path = "/v1/handlers/{namespace}", tag = "system", params(("namespace" = String, Path, example = "examples")),
    responses((status = 200, body = HandlerNamespace), (status = 404, body = ErrorBody)))]
pub(crate) async fn namespace_handlers(
    _auth: Authorized<perm::SystemHandlersRead>,
    State(s): State<AppState>,
    ApiPath(namespace): ApiPath<String>,
) -> Reply<HandlerNamespace> {
    s.orchestrator
        .namespace_handlers(&namespace)
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Task and step figures over a window.
#[utoipa::path(get, operation_id = "analytics_performance", path = "/v1/analytics/performance", tag = "analytics", params(PerformanceQuery),
    responses((status = 200, body = PerformanceView)))]
pub(crate) async fn performance(
    _auth: Authorized<perm::SystemAnalyticsRead>,
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<PerformanceQuery>,
) -> Reply<PerformanceView> {
    s.orchestrator
        .performance(q.hours)
        .await
        .map(ApiJson)
        .map_err(fail)
}

/// Slowest and most error-prone steps.
#[utoipa::path(get, operation_id = "analytics_bottlenecks", path = "/v1/analytics/bottlenecks", tag = "analytics", params(BottleneckQuery),
    responses((status = 200, body = BottlenecksView)))]
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
