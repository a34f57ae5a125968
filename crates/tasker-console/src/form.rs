//! Form posts: the `Origin` header must name this server, the body must be a small
//! `application/x-www-form-urlencoded` form (400 or 413 pages otherwise, read before nothing
//! else and never a 5xx), and it must carry the session's CSRF token (403 otherwise).

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::errors::Refusal;
use crate::guard::SessionCsrf;

/// Largest accepted form body.
pub(crate) const MAX_FORM_BYTES: usize = 16 * 1024;

/// A form checked for origin, size, shape and CSRF token. Runs after a [`crate::guard::Viewer`]
/// (which authorizes and leaves the session's token in the request).
#[derive(Debug)]
pub(crate) struct CsrfForm<T>(pub(crate) T);

/// A form checked for origin, size and shape only: the sign-in form, posted before a session
/// exists.
#[derive(Debug)]
pub(crate) struct PlainForm<T>(pub(crate) T);

#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    csrf: String,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for CsrfForm<T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let expected = req
            .extensions()
            .get::<SessionCsrf>()
            .map(|t| t.0.clone())
            .ok_or_else(|| Refusal::forbidden("No console session"))?;
        let body = read_form(req).await?;
        let token: Token = parse(&body)?;
        if !bool::from(token.csrf.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(Refusal::forbidden(
                "The form's CSRF token is missing or wrong; reload the page and try again.",
            ));
        }
        parse(&body).map(CsrfForm)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for PlainForm<T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let body = read_form(req).await?;
        parse(&body).map(PlainForm)
    }
}

/// Checks the origin and content type, then reads at most [`MAX_FORM_BYTES`].
async fn read_form(req: Request) -> Result<Vec<u8>, Refusal> {
    check_origin(req.headers())?;
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(Refusal::bad_request(
            "Expected a form (application/x-www-form-urlencoded).",
        ));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_FORM_BYTES) {
        return Err(too_large());
    }
    axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| too_large())
}

fn too_large() -> Refusal {
    Refusal::Status(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("The form is larger than {MAX_FORM_BYTES} bytes."),
    )
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| Refusal::bad_request(format!("The form is malformed: {e}.")))
}

/// A POST must come from a page of this server: its `Origin` must be `http(s)://` + the
/// request's `Host`. Browsers send `Origin` on every POST; a missing one is refused too.
pub(crate) fn check_origin(headers: &HeaderMap) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let same = match (host, origin) {
        (Some(host), Some(origin)) => origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host)),
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(Refusal::forbidden(
            "The request's Origin is not this server; forms are accepted from the console's own pages only.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_the_servers_own_origin_is_accepted() {
        assert!(check_origin(&headers("127.0.0.1:8080", Some("http://127.0.0.1:8080"))).is_ok());
        assert!(check_origin(&headers("tasker.example", Some("https://tasker.example"))).is_ok());
        assert!(check_origin(&headers("127.0.0.1:8080", Some("http://evil.example"))).is_err());
        assert!(check_origin(&headers("127.0.0.1:8080", Some("null"))).is_err());
        assert!(check_origin(&headers("127.0.0.1:8080", None)).is_err());
    }
}
