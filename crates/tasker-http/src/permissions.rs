//! The route → permission table of a role, derived from its handlers: every operation of the
//! role's OpenAPI document is called once on the role's router with a [`PermissionProbe`], and
//! the permission its `Authorized<P>` extractor names is recorded. Routes without the
//! extractor are public. Nothing is listed by hand, so a new route cannot be forgotten.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tasker_auth::PermissionProbe;
use tasker_proto::Permission;
use tower::ServiceExt as _;

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];
const PREFIX: &str = "Missing required permission: ";

/// `(method, path template, permission)` of every protected operation in `doc`.
pub fn required_permissions(
    router: &Router,
    doc: &utoipa::openapi::OpenApi,
) -> Vec<(String, String, Permission)> {
    let mut table = Vec::new();
    for (path, item) in &doc.paths.paths {
        let item = serde_json::to_value(item).unwrap_or_default();
        for method in METHODS.iter().filter(|m| item.get(**m).is_some()) {
            if let Some(permission) = probe(router, method, path) {
                table.push((method.to_uppercase(), path.clone(), permission));
            }
        }
    }
    table
}

/// Calls one operation with the probe; its extractor answers before anything else runs.
fn probe(router: &Router, method: &str, template: &str) -> Option<Permission> {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).ok()?;
    let mut request = Request::builder()
        .method(method)
        .uri(concrete(template))
        .body(Body::empty())
        .ok()?;
    request.extensions_mut().insert(PermissionProbe);
    let response = futures::executor::block_on(router.clone().oneshot(request)).ok()?;
    if response.status() != StatusCode::FORBIDDEN {
        return None;
    }
    let body =
        futures::executor::block_on(axum::body::to_bytes(response.into_body(), 4096)).ok()?;
    let body: serde_json::Value = serde_json::from_slice(&body).ok()?;
    body["message"].as_str()?.strip_prefix(PREFIX)?.parse().ok()
}

/// A path matching `template`: `{..._uuid}` segments become a nil UUID, others `x`.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment.strip_prefix('{') {
            Some(name) if name.ends_with("_uuid}") => "00000000-0000-0000-0000-000000000000",
            Some(_) => "x",
            None => segment,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::extract::FromRef;
    use tasker_auth::{Authenticator, Authorized, perm};
    use utoipa::OpenApi as _;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;

    use super::*;

    #[derive(Clone)]
    struct State(Arc<Authenticator>);

    impl FromRef<State> for Arc<Authenticator> {
        fn from_ref(state: &State) -> Self {
            state.0.clone()
        }
    }

    /// Guarded.
    #[utoipa::path(get, path = "/v1/things/{thing_uuid}", responses((status = 200)))]
    async fn guarded(_auth: Authorized<perm::DlqStats>) -> &'static str {
        "secret"
    }

    /// Open.
    #[utoipa::path(get, path = "/open", responses((status = 200)))]
    async fn open() -> &'static str {
        "open"
    }

    #[derive(utoipa::OpenApi)]
    struct Doc;

    #[test]
    fn the_table_names_each_guarded_operation_and_skips_public_ones() {
        let (router, doc) = OpenApiRouter::with_openapi(Doc::openapi())
            .routes(routes!(guarded))
            .routes(routes!(open))
            .with_state(State(Arc::new(Authenticator::disabled())))
            .split_for_parts();
        // Auth is disabled: the probe still reads the permission from the signature.
        assert_eq!(
            required_permissions(&router, &doc),
            [(
                "GET".to_owned(),
                "/v1/things/{thing_uuid}".to_owned(),
                Permission::DlqStats
            )]
        );
    }

    #[test]
    fn templates_become_matching_paths() {
        assert_eq!(
            concrete("/v1/tasks/{task_uuid}/workflow_steps/{step_uuid}"),
            "/v1/tasks/00000000-0000-0000-0000-000000000000/workflow_steps/00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(concrete("/v1/handlers/{namespace}"), "/v1/handlers/x");
    }
}
