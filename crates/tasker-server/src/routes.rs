//! The orchestration API routes. Each handler declares its permission with `Authorized<P>`.

use std::sync::Arc;

use axum::Router;
use tasker_auth::Authenticator;

/// The orchestration API router (protected routes).
pub(crate) fn router(auth: Arc<Authenticator>) -> Router {
    Router::new().with_state(auth)
}
