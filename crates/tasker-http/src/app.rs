//! The assembly every role shares: a role hands over its own API (router, OpenAPI document and
//! permission table) and its probes, and gets back the whole application (public health,
//! metrics and OpenAPI routes, the opt-in `/config`, the middleware stack); [`listen`] binds and
//! serves it until SIGINT/SIGTERM. Binaries and in-process tests build the same router.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use serde_json::{Value, json};
use tasker_auth::{Authenticator, RequiredPermission};
use tasker_config::{RedactedView, WebConfig};

use crate::common_routes::{CommonState, Readiness, common_routes};
use crate::layers::apply_layers;
use crate::metrics_recorder::metrics_handle;
use crate::openapi::finish_openapi;
use crate::permissions::required_permissions;
use crate::serve::serve;
use crate::termination::shutdown_signal;

/// A role's own protected API.
pub struct RoleApi {
    /// The routes, with their state applied.
    pub router: Router,
    /// The OpenAPI document generated from the handlers.
    pub doc: utoipa::openapi::OpenApi,
}

/// What the common routes of a role need besides its API.
pub struct RoleProbes {
    /// The role's authenticator.
    pub auth: Arc<Authenticator>,
    /// The redacted effective configuration served by `/config`.
    pub config_view: Arc<RedactedView>,
    /// Readiness probe of `/health` and `/health/ready`.
    pub readiness: Readiness,
    /// The role's details served by `/health/detailed` (never by public `/health`).
    pub details: Arc<dyn Fn() -> Value + Send + Sync>,
}

/// The whole application of a role; `P` is the permission `/config` and `/health/detailed`
/// require.
pub fn assemble<P: RequiredPermission>(
    api: RoleApi,
    probes: RoleProbes,
    web: &WebConfig,
) -> Router {
    let header = probes.auth.api_key_header();
    let mut table = required_permissions(&api.router, &api.doc);
    table.push((
        "GET".to_owned(),
        "/health/detailed".to_owned(),
        P::PERMISSION,
    ));
    if web.config_endpoint_enabled {
        table.push(("GET".to_owned(), "/config".to_owned(), P::PERMISSION));
    }
    let doc = serde_json::to_value(&api.doc).unwrap_or_else(|_| json!({}));
    let openapi = finish_openapi(
        doc,
        &table,
        web.auth.api_key_header.as_str(),
        web.config_endpoint_enabled,
        web.auth.enabled,
    );
    let common = CommonState {
        auth: probes.auth,
        metrics: metrics_handle(),
        config_view: probes.config_view,
        readiness: probes.readiness,
        details: probes.details,
        openapi: Arc::new(openapi),
    };
    let router = api
        .router
        .merge(common_routes::<P>(common, web.config_endpoint_enabled));
    apply_layers(
        router,
        header,
        web.max_body_bytes,
        web.request_timeout_seconds,
    )
}

/// A readiness probe from a database ping: `{"store": "ok"}` or `{"store": "unreachable"}`.
pub fn store_readiness<F, Fut>(ping: F) -> Readiness
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let ping = Arc::new(ping);
    Arc::new(move || {
        let ping = ping.clone();
        Box::pin(async move {
            if ping().await {
                Ok(json!({"store": "ok"}))
            } else {
                Err(json!({"store": "unreachable"}))
            }
        })
    })
}

/// Binds `web.bind_address`, prints `NAME listening on http://ADDR` (tests and scripts read
/// it), and serves `router` until SIGINT or SIGTERM.
pub async fn listen(name: &str, web: &WebConfig, router: Router) -> Result<(), String> {
    let bind = web.bind_address();
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(address = %local, "{name} listening");
    println!("{name} listening on http://{local}");
    serve(listener, router, web, shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}
