//! Signing in with the OIDC provider. `POST /ui/oidc/start` keeps a pending sign-in in the
//! store (its `state`, `nonce` and PKCE verifier sealed under a random id that only the
//! browser's short-lived `tasker_console_oidc` cookie holds) and sends the browser to the
//! provider; `GET /ui/oidc/callback` takes the pending sign-in (once), checks the `state`,
//! exchanges the code, checks the ID token, has the access token verified by the API's
//! authenticator and only then opens a session ending no later than the token.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use maud::html;
use serde::Deserialize;
use tasker_core::store::ConsoleSession;

use super::signin::{open_session, set_cookie, sign_in_page, token_expiry};
use super::{UiQuery, console_path, filled, see_other};
use crate::ConsoleState;
use crate::errors::Refusal;
use crate::form::PlainForm;
use crate::oidc::{OidcClient, OidcError, Pending, printable};
use crate::session::{Credential, SessionId, behind_tls};

/// The console's OIDC client, when `[web.ui]` configures one (a request extension).
#[derive(Clone, Default)]
pub(crate) struct OidcHandle(pub(crate) Option<Arc<OidcClient>>);

/// Cookie of a pending sign-in.
const PENDING_COOKIE: &str = "tasker_console_oidc";
/// Path of that cookie: only the callback receives it.
const CALLBACK_PATH: &str = "/ui/oidc/callback";
/// Derivation purpose of a pending sign-in's store key and seal.
const PENDING: &str = "tasker-console-oidc";
/// Time from the redirect to the provider to its redirect back.
const PENDING_MINUTES: i64 = 10;

#[derive(Deserialize)]
pub(crate) struct StartForm {
    next: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// The configured client, when auth is on (an open console signs no one in).
fn client(s: &ConsoleState, oidc: &OidcHandle) -> Result<Arc<OidcClient>, Refusal> {
    match &oidc.0 {
        Some(client) if s.auth.is_enabled() => Ok(client.clone()),
        _ => Err(Refusal::Status(
            StatusCode::NOT_FOUND,
            "Sign-in with an identity provider is not configured.".to_owned(),
        )),
    }
}

/// `POST /ui/oidc/start`: store the pending sign-in, go to the provider.
pub(crate) async fn start(
    State(s): State<ConsoleState>,
    Extension(oidc): Extension<OidcHandle>,
    headers: HeaderMap,
    PlainForm(f): PlainForm<StartForm>,
) -> Result<Response, Refusal> {
    let client = client(&s, &oidc)?;
    let next = console_path(f.next.as_deref());
    let pending = Pending::new(next.clone());
    let target = match client.authorization_url(&pending).await {
        Ok(url) => url,
        Err(e) => return Ok(refused(&e, &next, &oidc)),
    };
    let id = SessionId::generate();
    let now = Utc::now();
    let sealed = serde_json::to_vec(&pending)
        .ok()
        .and_then(|plain| id.seal_bytes(PENDING, plain))
        .ok_or_else(|| Refusal::bad_request("Cannot seal the sign-in."))?;
    let row = ConsoleSession {
        session_hash: id.lookup_hash_for(PENDING),
        subject: "(OIDC sign-in in progress)".to_owned(),
        sealed_credential: Some(sealed),
        created_at: now,
        expires_at: now + Duration::minutes(PENDING_MINUTES),
    };
    s.orchestrator
        .store()
        .create_console_session(&row)
        .await
        .map_err(|e| Refusal::from(tasker_orchestration::Error::from(e)))?;
    let mut response = see_other(&target);
    let cookie = id.pending_cookie(
        PENDING_COOKIE,
        CALLBACK_PATH,
        PENDING_MINUTES * 60,
        behind_tls(&headers),
    );
    set_cookie(&mut response, &cookie);
    Ok(response)
}

/// `GET /ui/oidc/callback`: finish the sign-in the provider sends the browser back with.
pub(crate) async fn callback(
    State(s): State<ConsoleState>,
    Extension(oidc): Extension<OidcHandle>,
    headers: HeaderMap,
    UiQuery(q): UiQuery<Callback>,
) -> Result<Response, Refusal> {
    let client = client(&s, &oidc)?;
    let tls = behind_tls(&headers);
    let mut response = match finish(&s, &client, &oidc, &headers, q, tls).await {
        Ok(response) => response,
        Err(FinishError::Page(response)) => response,
        Err(FinishError::Refusal(refusal)) => refusal.into_response(),
    };
    set_cookie(&mut response, &clear_pending(tls));
    Ok(response)
}

/// The `Set-Cookie` value removing the pending cookie.
fn clear_pending(tls: bool) -> String {
    format!(
        "{PENDING_COOKIE}=; Path={CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if tls { "; Secure" } else { "" }
    )
}

enum FinishError {
    Page(Response),
    Refusal(Refusal),
}

impl From<Refusal> for FinishError {
    fn from(r: Refusal) -> Self {
        FinishError::Refusal(r)
    }
}

async fn finish(
    s: &ConsoleState,
    client: &OidcClient,
    oidc: &OidcHandle,
    headers: &HeaderMap,
    q: Callback,
    tls: bool,
) -> Result<Response, FinishError> {
    let page = |status: StatusCode, message: &str, next: &str| {
        FinishError::Page(sign_in_page(status, next, Some(message), oidc))
    };
    let start_again = "/ui/tasks";
    let Some(id) = SessionId::from_cookie(headers, PENDING_COOKIE) else {
        return Err(page(
            StatusCode::BAD_REQUEST,
            "This sign-in was not started from this browser, or it has expired; sign in again.",
            start_again,
        ));
    };
    let store = s.orchestrator.store();
    let hash = id.lookup_hash_for(PENDING);
    let now = Utc::now();
    let row = store
        .console_session(&hash, now)
        .await
        .map_err(|e| Refusal::from(tasker_orchestration::Error::from(e)))?;
    // Single use: whatever the answer, this pending sign-in is over.
    store
        .delete_console_session(&hash, now)
        .await
        .map_err(|e| Refusal::from(tasker_orchestration::Error::from(e)))?;
    let pending = row
        .and_then(|r| r.sealed_credential)
        .and_then(|sealed| id.open_bytes(PENDING, &sealed))
        .and_then(|plain| serde_json::from_slice::<Pending>(&plain).ok());
    let Some(pending) = pending else {
        return Err(page(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was already used; sign in again.",
            start_again,
        ));
    };
    let next = pending.next.clone();
    if !pending.state_matches(q.state.as_deref().unwrap_or_default()) {
        tracing::warn!("console OIDC callback with a state that is not its sign-in's");
        return Err(page(
            StatusCode::BAD_REQUEST,
            "The identity provider's answer does not belong to this sign-in (its state does not match); sign in again.",
            &next,
        ));
    }
    if let Err(e) = client.check_response_issuer(q.iss.as_deref()) {
        return Err(page(StatusCode::BAD_REQUEST, &e.to_string(), &next));
    }
    if let Some(error) = q.error {
        return Err(page(
            StatusCode::UNAUTHORIZED,
            &format!(
                "The identity provider did not sign you in: {}.",
                printable(&error)
            ),
            &next,
        ));
    }
    let Some(code) = filled(q.code) else {
        return Err(page(
            StatusCode::BAD_REQUEST,
            "The identity provider's answer has no code.",
            &next,
        ));
    };
    let tokens = client
        .exchange(&code, &pending)
        .await
        .map_err(|e| FinishError::Page(refused(&e, &next, oidc)))?;
    let credential = Credential::Bearer(tokens.access_token.clone());
    let Some(request) = credential.headers(s.auth.api_key_header()) else {
        return Err(page(
            StatusCode::UNAUTHORIZED,
            "The identity provider's access token cannot be sent in a header.",
            &next,
        ));
    };
    // The same check as a pasted bearer token and as every API request.
    let principal = match s.auth.authenticate(&request).await {
        Ok(p) => p,
        Err(e) => {
            return Err(page(
                StatusCode::UNAUTHORIZED,
                &format!("Sign-in failed: the identity provider's access token was refused: {e}"),
                &next,
            ));
        }
    };
    let expiry = match (token_expiry(&tokens.access_token), tokens.expires_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let cookie = open_session(s, Some(credential), &principal.subject, expiry, tls).await?;
    let mut response = continue_page(&next, &principal.subject);
    set_cookie(&mut response, &cookie);
    Ok(response)
}

/// The page after a successful callback. The redirect back from the provider is a
/// navigation started on another site, on which a browser withholds `SameSite=Strict`
/// cookies, also through a redirect; this page's own refresh is a navigation from the
/// console, which carries the new session cookie.
fn continue_page(next: &str, subject: &str) -> Response {
    let next = console_path(Some(next));
    let body = html! {
        h1 { "Signed in" }
        p { "Signed in as " strong { (subject) } "." }
        p { a href=(next) id="continue" { "Continue to the console" } }
    };
    let markup = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content={ "0;url=" (next) };
                title { "Signed in · Tasker" }
                link rel="stylesheet" href="/ui/assets/console.css";
            }
            body { main id="main" .narrow { (body) } }
        }
    };
    (StatusCode::OK, markup).into_response()
}

/// A sign-in page for a failed provider step: 502 when the provider is not usable, 401
/// when its answer was refused.
fn refused(e: &OidcError, next: &str, oidc: &OidcHandle) -> Response {
    let status = match e {
        OidcError::Provider(_) => StatusCode::BAD_GATEWAY,
        OidcError::Rejected(_) => StatusCode::UNAUTHORIZED,
    };
    if let OidcError::Provider(why) = e {
        tracing::warn!(error = %why, "console OIDC sign-in: provider not usable");
    }
    sign_in_page(status, next, Some(&e.to_string()), oidc)
}
