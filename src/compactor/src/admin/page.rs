//! The web page: server-rendered HTML on the metrics port, readable without Grafana.
//!
//! - `/`: the fleet ([`fleet`]): readiness, instances and leases, then every table;
//! - `/tables/{tenant}/{dataset}/{table}`: one table ([`table`]), with its partitions charted
//!   before and after the compaction plan ([`chart`]) and buttons that start runs;
//! - `/assets/admin.js`, `/assets/admin.css`: the page's script and style, compiled in.
//!
//! The pages only read: they render the same data as the API's read endpoints, through
//! [`AdminContext`]. What changes a table is the API's, called by the page's script with the
//! bearer token, never a page route. Templates are askama's (`templates/admin/`), which
//! escape every value as HTML; the responses forbid inline scripts and framing
//! ([`respond`]). Without the token when `protect_reads` is set, a page answers with a token
//! form ([`login`]) where the API answers with its JSON error.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::get;

use super::context::AdminContext;

mod chart;
mod error;
mod fleet;
mod format;
mod login;
mod respond;
mod table;

/// The page's script: sorting, filtering, refreshing, the token and the run buttons.
const SCRIPT: &str = include_str!("../../assets/admin.js");
/// The page's style.
const STYLE: &str = include_str!("../../assets/admin.css");

/// The page's routes: the pages behind the token rules, the assets open to all (the token
/// form needs them).
pub(crate) fn router(cx: Arc<AdminContext>) -> Router {
    let pages = Router::new()
        .route("/", get(fleet::page))
        .route("/tables/{tenant}/{dataset}/{table}", get(table::page))
        .layer(middleware::from_fn_with_state(Arc::clone(&cx.access), login::require))
        .with_state(cx);
    let assets = Router::new()
        .route("/assets/admin.js", get(|| asset("text/javascript; charset=utf-8", SCRIPT)))
        .route("/assets/admin.css", get(|| asset("text/css; charset=utf-8", STYLE)));
    pages.merge(assets)
}

/// An asset's response: its type, and `nosniff` so it is never read as another.
async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

#[cfg(test)]
mod tests;
