//! The page chrome (header, navigation, sign-out, the open-console notice), the state badge
//! every page uses (a glyph and a word as well as a colour), and the security headers of
//! every console response. Markup comes from `maud`, which escapes every interpolated value.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use maud::{DOCTYPE, Markup, html};

use crate::guard::Nav;

/// `Content-Security-Policy` of every console response: own assets only, no inline script
/// or style, never framed.
pub(crate) const CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// Adds the security headers to every console response, and `Server-Timing: app;dur=MS` (the
/// time spent producing the response, read by the benchmark).
pub(crate) async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/ui/assets/");
    let started = std::time::Instant::now();
    let mut response = next.run(req).await;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let headers = response.headers_mut();
    if let Ok(timing) = HeaderValue::from_str(&format!("app;dur={took:.3}")) {
        headers.insert("server-timing", timing);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A full page: header with navigation and sign-out, then `body`.
pub(crate) fn page(title: &str, nav: &Nav, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, true))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "Tasker" }
                    nav aria-label="Main" {
                        a href="/ui/tasks" { "Tasks" }
                        a href="/ui/dlq" { "DLQ" }
                        a href="/ui/templates" { "Templates" }
                        a href="/ui/schedules" { "Schedules" }
                        a href="/ui/system" { "System" }
                    }
                    div.who {
                        span { "Signed in as " strong { (nav.subject) } }
                        @if !nav.open {
                            form method="post" action="/ui/logout" {
                                input type="hidden" name="csrf" value=(nav.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                @if nav.open {
                    p.notice role="status" {
                        "Authentication is disabled: this console is open to anyone who can reach the server."
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// The `<head>`: title, stylesheet, and the live-update script on full pages.
fn head(title: &str, script: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Tasker" }
            link rel="stylesheet" href="/ui/assets/console.css";
            @if script { script src="/ui/assets/console.js" defer {} }
        }
    }
}

/// A page without navigation (sign-in, errors).
pub(crate) fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, false))
            body { main id="main" .narrow { (body) } }
        }
    }
}

/// The glyph that tells a state by shape, next to its name and colour.
pub(crate) fn glyph(state: &str) -> &'static str {
    match state {
        "complete" => "✓",
        "resolved_manually" | "manually_resolved" => "☑",
        "error" | "blocked_by_failures" | "permanently_failed" => "✗",
        "in_progress" | "steps_in_process" => "▶",
        "enqueued" => "◆",
        "waiting_for_retry" => "↻",
        "waiting" => "⏸",
        "cancelled" => "⊘",
        "paused" => "⏸",
        "not_created" => "∅",
        "active" => "●",
        _ => "○",
    }
}

/// A state as a badge: glyph, name, and a class for its colour.
pub(crate) fn badge(state: &str) -> Markup {
    html! {
        span class={ "badge s-" (state) } { span aria-hidden="true" { (glyph(state)) } " " (state) }
    }
}

/// A JSON value, pretty-printed inside `<pre>` (escaped like every other value).
pub(crate) fn json_block(value: &serde_json::Value) -> Markup {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    html! { pre.json { (text) } }
}

/// Percent-encodes a query parameter value.
pub(crate) fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A time for tables: seconds precision, UTC.
pub(crate) fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}
