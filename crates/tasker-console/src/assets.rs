//! The console's stylesheet and its one script, compiled into the binary and served from
//! `/ui/assets/` (no CDN, nothing fetched at build or run time).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::ConsoleState;

const CSS: &str = include_str!("../assets/console.css");
const JS: &str = include_str!("../assets/console.js");

/// `GET /ui/assets/console.css` and `/ui/assets/console.js`.
pub(crate) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route(
            "/ui/assets/console.css",
            get(|| serve(CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/ui/assets/console.js",
            get(|| serve(JS, "text/javascript; charset=utf-8")),
        )
}

async fn serve(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
}
