//! The admin API under `/api/v1/` and the web page at `/`, on the metrics port: operators ask
//! the running service about every table and tell it to compact, apply retention or clean
//! orphans on one table now, through the same passes, leases and fencing as the schedulers.
//!
//! - `tables.rs`: the status of the fleet's tables, one table's detail, its dry-run plan;
//! - `trigger.rs` + `runs.rs`: runs started on a table, followed and cancelled by id;
//! - `history.rs`: the run history and the leases;
//! - `page.rs`: the server-rendered page;
//! - `auth.rs`, `extract.rs`, `limits.rs`, `error.rs`: the edge: the token, what a request
//!   may carry and how much, and the JSON error every refusal is;
//! - `openapi.rs`: the OpenAPI document, generated from the handlers and their types, served
//!   at `/api/v1/openapi.json`.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware;
use common::config::AdminConfig;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::assembly::Assembly;
use crate::health::Health;

mod auth;
mod error;
mod extract;
mod history;
mod limits;
mod openapi;
mod page;
mod runs;
mod tables;
mod trigger;

use auth::Access;
use error::ApiError;
use extract::BodyLimit;
use limits::RequestLimit;
use runs::TriggeredRuns;

/// What the admin handlers share.
pub(crate) struct AdminContext {
    /// The process's assembly: the jobs a run starts, the catalog, the configuration.
    pub(crate) assembly: Arc<Assembly>,
    /// The token rules.
    pub(crate) access: Arc<Access>,
    /// The runs started through the API.
    pub(crate) runs: Arc<TriggeredRuns>,
    /// The readiness of the catalog and the object store, for the page.
    pub(crate) health: Arc<Health>,
}

impl AdminContext {
    /// The admin context of `assembly` under `config`; its runs are cancelled by `shutdown`.
    pub(crate) fn new(
        assembly: Arc<Assembly>,
        health: Arc<Health>,
        config: &AdminConfig,
        shutdown: CancellationToken,
    ) -> Self {
        let access = Arc::new(Access::new(config.token().cloned(), config.protect_reads));
        let clock = Arc::clone(assembly.clock());
        let runs = Arc::new(TriggeredRuns::new(config.max_concurrent_runs, shutdown, clock));
        Self { assembly, access, runs, health }
    }

    /// Cancels the runs in flight and waits for them to stop at their safe points.
    pub(crate) async fn stop(&self) {
        self.runs.stop().await;
    }
}

/// The API routes and the page, each request bounded by `config`'s limits and checked
/// against its token rules, and the OpenAPI document of the API.
pub(crate) fn router(cx: Arc<AdminContext>, config: &AdminConfig) -> Router {
    let (api, doc) = api_routes().with_state(Arc::clone(&cx)).split_for_parts();
    let doc = Arc::new(openapi::finish(doc));
    let api = api.route(openapi::PATH, openapi::route(doc));
    let pages = page::router(Arc::clone(&cx));
    Router::new()
        .merge(api)
        .merge(pages)
        .layer(middleware::from_fn_with_state(Arc::clone(&cx.access), auth::require))
        .layer(axum::Extension(BodyLimit(config.max_body_bytes)))
        .layer(middleware::from_fn_with_state(
            Arc::new(RequestLimit::new(config.max_concurrent_requests)),
            limits::bounded,
        ))
}

/// Every API route, documented.
fn api_routes() -> OpenApiRouter<Arc<AdminContext>> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(tables::list))
        .routes(routes!(tables::detail))
        .routes(routes!(tables::plan))
        .routes(routes!(trigger::compact))
        .routes(routes!(trigger::retention))
        .routes(routes!(trigger::orphans))
        .routes(routes!(history::runs))
        .routes(routes!(trigger::follow, trigger::cancel))
        .routes(routes!(history::leases))
}

/// The answer to a path nothing serves.
pub(crate) async fn not_found(request: Request) -> ApiError {
    let path = extract::shown(request.uri().path());
    ApiError::not_found(format!("nothing is served at {path}"))
}

/// The answer to a method a path does not serve.
pub(crate) async fn method_not_allowed(request: Request) -> ApiError {
    let path = extract::shown(request.uri().path());
    ApiError::method_not_allowed(format!("{} is not served at {path}", request.method()))
}
