//! Routes every Tasker server has: public `/health`, `/health/live`, `/health/ready` and
//! `/metrics`, which answer status and check results only; `/health/detailed` with the role's
//! details (worker id, namespaces, handlers, running steps), guarded by the role's config
//! permission; and `/config` (registered only when `web.config_endpoint_enabled`, guarded by
//! the same permission).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use tasker_auth::{Authenticator, Authorized, RequiredPermission};
use tasker_config::RedactedView;

/// A readiness probe (store reachable, key set loaded, ...): `Ok(details)` or `Err(details)`.
pub type Readiness =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Value, Value>> + Send>> + Send + Sync>;

/// State of the common routes.
#[derive(Clone)]
pub struct CommonState {
    /// The server's authenticator.
    pub auth: Arc<Authenticator>,
    /// Prometheus exposition.
    pub metrics: PrometheusHandle,
    /// The redacted effective configuration.
    pub config_view: Arc<RedactedView>,
    /// Readiness probe.
    pub readiness: Readiness,
    /// Extra fields of `/health/detailed` (role, worker id, ...).
    pub details: Arc<dyn Fn() -> Value + Send + Sync>,
    /// The OpenAPI document served at `/api-docs/openapi.json`.
    pub openapi: Arc<Value>,
}

impl FromRef<CommonState> for Arc<Authenticator> {
    fn from_ref(state: &CommonState) -> Self {
        state.auth.clone()
    }
}

/// The common routes; `P` is the permission `/config` and `/health/detailed` require.
pub fn common_routes<P: RequiredPermission>(
    state: CommonState,
    config_endpoint_enabled: bool,
) -> Router {
    let mut router = Router::new()
        .route("/health", get(health))
        .route("/health/detailed", get(health_detailed::<P>))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/api-docs/openapi.json", get(openapi));
    if config_endpoint_enabled {
        router = router.route("/config", get(config::<P>));
    }
    router.with_state(state)
}

async fn health(State(state): State<CommonState>) -> Response {
    health_report(&state, json!({})).await
}

async fn health_detailed<P: RequiredPermission>(
    _auth: Authorized<P>,
    State(state): State<CommonState>,
) -> Response {
    health_report(&state, (state.details)()).await
}

/// `status` and `checks` added to `body`; 503 when a check fails.
async fn health_report(state: &CommonState, mut body: Value) -> Response {
    let ready = (state.readiness)().await;
    let healthy = ready.is_ok();
    if let Value::Object(map) = &mut body {
        map.insert(
            "status".into(),
            json!(if healthy { "healthy" } else { "degraded" }),
        );
        map.insert("checks".into(), ready.unwrap_or_else(|e| e));
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn live() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

async fn ready(State(state): State<CommonState>) -> Response {
    let result = (state.readiness)()
        .await
        .map(|checks| with_jwks(checks, &state))
        .map_err(|checks| with_jwks(checks, &state));
    match result {
        Ok(checks) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "checks": checks})),
        )
            .into_response(),
        Err(checks) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "checks": checks})),
        )
            .into_response(),
    }
}

/// Adds the JWKS state (loaded, key count) to the checks; a JWKS still loading does not make
/// the server unready, since API keys keep working.
fn with_jwks(mut checks: Value, state: &CommonState) -> Value {
    if let (Some((loaded, keys)), Value::Object(map)) = (state.auth.jwks_status(), &mut checks) {
        map.insert("jwks".into(), json!({"loaded": loaded, "keys": keys}));
    }
    checks
}

async fn openapi(State(state): State<CommonState>) -> Json<Value> {
    Json(state.openapi.as_ref().clone())
}

async fn metrics(State(state): State<CommonState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn config<P: RequiredPermission>(
    _auth: Authorized<P>,
    State(state): State<CommonState>,
) -> Json<RedactedView> {
    Json(state.config_view.as_ref().clone())
}
