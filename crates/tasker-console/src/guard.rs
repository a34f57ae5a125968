//! The console's permission check, made part of each handler's signature like the API's
//! `Authorized<P>`: [`Viewer<P>`] loads the session named by the cookie, unseals its
//! credential and asks the API's [`Authenticator`] to authorize it for `P` — the same call,
//! with the same headers, the API extractor makes. Nothing in the pages decides access.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use chrono::Utc;
use tasker_auth::{Principal, RequiredPermission};
use tasker_proto::{Permission, Scope};

use crate::ConsoleState;
use crate::errors::Refusal;
use crate::session::SessionId;

/// The CSRF token of the request's session, left in the request's extensions for the form
/// extractor that runs after the viewer.
#[derive(Debug, Clone)]
pub(crate) struct SessionCsrf(pub(crate) String);

/// A signed-in operator holding `P`'s permission in at least one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Viewer<P> {
    /// The principal the session's credential authenticates as now.
    pub(crate) principal: Arc<Principal>,
    /// What the page chrome shows (subject, CSRF token, open-console notice).
    pub(crate) nav: Nav,
    marker: PhantomData<P>,
}

/// What every page's header needs from the session.
#[derive(Debug, Clone)]
pub(crate) struct Nav {
    /// Who is signed in.
    pub(crate) subject: String,
    /// The session's CSRF token for forms.
    pub(crate) csrf: String,
    /// Auth is disabled: the console is open to anyone who reaches it.
    pub(crate) open: bool,
}

impl<P: RequiredPermission> Viewer<P> {
    /// The namespaces in which the operator holds `P`'s permission.
    pub(crate) fn scope(&self) -> Scope {
        self.principal.scope(P::PERMISSION)
    }

    /// The namespaces in which the operator holds another permission.
    pub(crate) fn scope_of(&self, permission: Permission) -> Scope {
        self.principal.scope(permission)
    }

    /// Whether an action needing `permission` in `namespace` is offered.
    pub(crate) fn can(&self, permission: Permission, namespace: &str) -> bool {
        self.principal.scope(permission).contains(namespace)
    }

    /// Whether the operator holds `permission` in some namespace.
    pub(crate) fn holds(&self, permission: Permission) -> bool {
        self.principal.allows(permission)
    }

    /// The subject recorded as actor.
    pub(crate) fn subject(&self) -> &str {
        &self.principal.subject
    }
}

impl<P: RequiredPermission> FromRequestParts<ConsoleState> for Viewer<P> {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let next = return_path(parts);
        let (id, headers) = session_headers(&parts.headers, state, &next).await?;
        let principal = state
            .auth
            .authorize(&headers, P::PERMISSION)
            .await
            .map_err(|e| Refusal::from_auth(e, &next))?;
        let csrf = id.csrf_token();
        parts.extensions.insert(SessionCsrf(csrf.clone()));
        Ok(Self {
            nav: Nav {
                subject: principal.subject.clone(),
                csrf,
                open: !state.auth.is_enabled(),
            },
            principal,
            marker: PhantomData,
        })
    }
}

/// The session of the request's cookie and the credential headers it stands for (none when
/// auth is disabled). A missing, unknown, expired or foreign session sends the browser to
/// the sign-in page.
async fn session_headers(
    request: &HeaderMap,
    state: &ConsoleState,
    next: &str,
) -> Result<(SessionId, HeaderMap), Refusal> {
    let sign_in = || Refusal::SignIn {
        next: next.to_owned(),
    };
    let id = SessionId::from_headers(request).ok_or_else(sign_in)?;
    let session = state
        .orchestrator
        .store()
        .console_session(&id.lookup_hash(), Utc::now())
        .await
        .map_err(|e| Refusal::from(tasker_orchestration::Error::from(e)))?
        .ok_or_else(sign_in)?;
    let headers = match (&session.sealed_credential, state.auth.is_enabled()) {
        (_, false) => HeaderMap::new(),
        (None, true) => return Err(sign_in()),
        (Some(sealed), true) => id
            .open(sealed)
            .and_then(|c| c.headers(state.auth.api_key_header()))
            .ok_or_else(sign_in)?,
    };
    Ok((id, headers))
}

/// Where to come back to after signing in: this page for a GET, the task list otherwise.
fn return_path(parts: &Parts) -> String {
    if parts.method == axum::http::Method::GET {
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/ui/tasks".to_owned())
    } else {
        "/ui/tasks".to_owned()
    }
}

/// A request's session, found and unexpired, without asking for any permission: what
/// signing out needs. Leaves the CSRF token for the form extractor.
#[derive(Debug)]
pub(crate) struct SignedIn {
    /// The session id (to end it).
    pub(crate) id: SessionId,
}

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let next = return_path(parts);
        let (id, _) = session_headers(&parts.headers, state, &next).await?;
        parts.extensions.insert(SessionCsrf(id.csrf_token()));
        Ok(Self { id })
    }
}
