//! Signing in and out. The pasted API key or bearer token is verified by the API's
//! authenticator; on success a session is stored (the credential sealed, see `session`) and
//! the browser gets only the session id. With auth disabled the sign-in page opens an
//! anonymous session at once. Signing in with an OIDC provider is in `oidc`; it ends in
//! [`open_session`] too.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use maud::html;
use serde::Deserialize;
use tasker_core::store::ConsoleSession;

use super::{console_path, see_other};
use crate::ConsoleState;
use crate::errors::Refusal;
use crate::form::{CsrfForm, PlainForm};
use crate::guard::SignedIn;
use crate::layout;
use crate::session::{Credential, SessionId, behind_tls, clear_cookie};
use axum::extract::State;

use super::UiQuery;
use super::oidc::OidcHandle;
use axum::Extension;

#[derive(Debug, Deserialize)]
pub(crate) struct SignInQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    credential: String,
    next: Option<String>,
}

/// `GET /ui/login`: the form, or straight in when auth is disabled.
pub(crate) async fn form(
    State(s): State<ConsoleState>,
    Extension(oidc): Extension<OidcHandle>,
    headers: HeaderMap,
    UiQuery(q): UiQuery<SignInQuery>,
) -> Result<Response, Refusal> {
    let next = console_path(q.next.as_deref());
    if !s.auth.is_enabled() {
        return start(&s, None, "anonymous", None, &next, behind_tls(&headers)).await;
    }
    Ok(sign_in_page(StatusCode::OK, &next, None, &oidc))
}

/// `POST /ui/login`: verify the credential, open a session, go to `next`.
pub(crate) async fn sign_in(
    State(s): State<ConsoleState>,
    Extension(oidc): Extension<OidcHandle>,
    headers: HeaderMap,
    PlainForm(f): PlainForm<SignInForm>,
) -> Result<Response, Refusal> {
    let next = console_path(f.next.as_deref());
    let secret = f.credential.trim().to_owned();
    let credential = match (f.kind.as_str(), secret.is_empty()) {
        (_, true) => {
            return Ok(sign_in_page(
                StatusCode::BAD_REQUEST,
                &next,
                Some("Paste an API key or a bearer token."),
                &oidc,
            ));
        }
        ("bearer", false) => Credential::Bearer(secret),
        _ => Credential::ApiKey(secret),
    };
    let Some(request) = credential.headers(s.auth.api_key_header()) else {
        return Ok(sign_in_page(
            StatusCode::BAD_REQUEST,
            &next,
            Some("The credential contains characters no header can carry."),
            &oidc,
        ));
    };
    let principal = match s.auth.authenticate(&request).await {
        Ok(p) => p,
        Err(e) => {
            return Ok(sign_in_page(
                StatusCode::UNAUTHORIZED,
                &next,
                Some(&format!("Sign-in failed: {e}")),
                &oidc,
            ));
        }
    };
    let token_expiry = match &credential {
        Credential::Bearer(token) => token_expiry(token),
        Credential::ApiKey(_) => None,
    };
    let tls = behind_tls(&headers);
    start(
        &s,
        Some(credential),
        &principal.subject,
        token_expiry,
        &next,
        tls,
    )
    .await
}

/// `POST /ui/logout`: end the session and forget the cookie.
pub(crate) async fn sign_out(
    State(s): State<ConsoleState>,
    session: SignedIn,
    headers: HeaderMap,
    CsrfForm(_): CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<Response, Refusal> {
    s.orchestrator
        .store()
        .delete_console_session(&session.id.lookup_hash(), Utc::now())
        .await
        .map_err(|e| Refusal::from(tasker_orchestration::Error::from(e)))?;
    let mut response = see_other("/ui/login");
    set_cookie(&mut response, &clear_cookie(behind_tls(&headers)));
    Ok(response)
}

/// Stores a new session ending at the earlier of the configured length and the token's
/// expiry, and answers with its cookie and a redirect to `next`.
async fn start(
    s: &ConsoleState,
    credential: Option<Credential>,
    subject: &str,
    token_expiry: Option<DateTime<Utc>>,
    next: &str,
    tls: bool,
) -> Result<Response, Refusal> {
    let cookie = open_session(s, credential, subject, token_expiry, tls).await?;
    let mut response = see_other(next);
    set_cookie(&mut response, &cookie);
    Ok(response)
}

/// Stores a new session ending at the earlier of the configured length and the token's
/// expiry, removes every expired one (in open mode too, where nobody signs out), and returns
/// the `Set-Cookie` value of the new session.
pub(crate) async fn open_session(
    s: &ConsoleState,
    credential: Option<Credential>,
    subject: &str,
    token_expiry: Option<DateTime<Utc>>,
    tls: bool,
) -> Result<String, Refusal> {
    let now = Utc::now();
    let longest = now + Duration::hours(i64::try_from(s.ui.session_hours).unwrap_or(12));
    let expires_at = token_expiry.map_or(longest, |t| t.min(longest));
    let id = SessionId::generate();
    let sealed_credential = match &credential {
        Some(c) => Some(
            id.seal(c)
                .ok_or_else(|| Refusal::bad_request("Cannot seal the credential."))?,
        ),
        None => None,
    };
    let session = ConsoleSession {
        session_hash: id.lookup_hash(),
        subject: subject.to_owned(),
        sealed_credential,
        created_at: now,
        expires_at,
    };
    let store = s.orchestrator.store();
    store
        .create_console_session(&session)
        .await
        .map_err(|e| Refusal::from(tasker_orchestration::Error::from(e)))?;
    // The sweep: no session has the empty hash, so this removes only the expired ones.
    store
        .delete_console_session("", now)
        .await
        .map_err(|e| Refusal::from(tasker_orchestration::Error::from(e)))?;
    tracing::info!(subject, expires_at = %expires_at, "console session started");
    Ok(id.cookie((expires_at - now).num_seconds().max(1), tls))
}

/// Adds a `Set-Cookie` header (a response may set several).
pub(crate) fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The `exp` of an already verified JWT.
pub(crate) fn token_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

/// The sign-in page: the provider's button when OIDC is configured, then the paste form.
pub(crate) fn sign_in_page(
    status: StatusCode,
    next: &str,
    error: Option<&str>,
    oidc: &OidcHandle,
) -> Response {
    let body = html! {
        h1 { "Sign in to Tasker" }
        @if let Some(error) = error {
            p.error role="alert" id="signin-error" { (error) }
        }
        @if let Some(client) = &oidc.0 {
            form.stack method="post" action="/ui/oidc/start" {
                input type="hidden" name="next" value=(next);
                button.primary type="submit" id="oidc-signin" {
                    "Sign in with " (client.provider_name())
                }
            }
            p.muted { "Or paste a credential:" }
        }
        form.stack method="post" action="/ui/login" {
            input type="hidden" name="next" value=(next);
            label { "Credential type"
                select name="kind" id="kind" {
                    option value="api_key" { "API key" }
                    option value="bearer" { "Bearer token (JWT)" }
                }
            }
            label { "API key or token"
                input type="password" name="credential" id="credential" autocomplete="off" required;
            }
            button.primary type="submit" id="signin" { "Sign in" }
        }
        p.muted { "The credential stays on the server; your browser keeps only a session cookie." }
    };
    (status, layout::bare("Sign in", body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::filled;

    #[test]
    fn the_expiry_of_a_token_is_read_from_its_claims() {
        let claims =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":2000000000}"#);
        let token = format!("h.{claims}.s");
        assert_eq!(token_expiry(&token).unwrap().timestamp(), 2_000_000_000);
        assert_eq!(token_expiry("not-a-token"), None);
    }

    #[test]
    fn filled_drops_empty_fields() {
        assert_eq!(filled(Some("  ".into())), None);
        assert_eq!(filled(Some(" a ".into())), Some("a".into()));
    }
}
