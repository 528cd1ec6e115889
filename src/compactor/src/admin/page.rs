//! The web page: server-rendered HTML at `/`, readable without Grafana.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;

use super::AdminContext;

/// The page's routes.
pub(crate) fn router(cx: Arc<AdminContext>) -> Router {
    Router::new().route("/", get(index)).with_state(cx)
}

/// `GET /`: every table.
async fn index(State(cx): State<Arc<AdminContext>>) -> Html<String> {
    let report = cx.status(&crate::job::Scope::default()).await;
    Html(format!(
        "<!doctype html><title>SignalDB Compactor</title><p>{} tables</p>",
        report.tables.len()
    ))
}
