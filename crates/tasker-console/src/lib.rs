//! Tasker's web console, served by `tasker-server` at `/ui/`: server-rendered pages over the
//! same [`Orchestrator`] methods the API handlers call, with the caller's namespace scope;
//! sign-in with an API key or bearer token, or with an OIDC provider (authorization code +
//! PKCE), each verified by the API's [`Authenticator`];
//! server-side sessions in the store; CSRF tokens and `Origin` checks on every POST; run DAGs
//! drawn as SVG on the server; CSS and one small script embedded in the binary.
//!
//! [`router`] returns the console's routes; the server merges them into its application.

mod assets;
mod chart;
mod dag;
mod errors;
mod form;
mod guard;
mod layout;
mod oidc;
mod pages;
mod run_dag;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use serde_json::Value;
use tasker_auth::Authenticator;
use tasker_config::UiConfig;
use tasker_orchestration::Orchestrator;

/// Everything the console serves from.
#[derive(Clone)]
pub struct ConsoleState {
    /// The orchestration service (the API handlers' service).
    pub orchestrator: Orchestrator,
    /// The API's authenticator.
    pub auth: Arc<Authenticator>,
    /// `[web.ui]`.
    pub ui: UiConfig,
    /// The role's details (embedded worker and its running steps) for the system page.
    pub details: Arc<dyn Fn() -> Value + Send + Sync>,
}

impl FromRef<ConsoleState> for Arc<Authenticator> {
    fn from_ref(state: &ConsoleState) -> Self {
        state.auth.clone()
    }
}

/// The console's routes under `/ui`, or none when `[web.ui] enabled = false`.
pub fn router(state: ConsoleState) -> Router {
    if !state.ui.enabled {
        return Router::new();
    }
    let oidc = pages::oidc::OidcHandle(oidc::OidcClient::from_config(&state.ui).map(Arc::new));
    pages::routes()
        .merge(assets::routes())
        .layer(axum::Extension(oidc))
        .layer(axum::middleware::from_fn(layout::security_headers))
        .with_state(state)
}
