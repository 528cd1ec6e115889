//! The OpenAPI document of the admin API: its paths and schemas come from the handlers'
//! `#[utoipa::path]` and the types' `ToSchema`, so the document and the routes are the same
//! list; this module adds what is the API's as a whole (title, version, the bearer scheme).

use std::sync::Arc;

use axum::Json;
use axum::routing::{MethodRouter, get};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder};

/// Where the document is served.
pub(crate) const PATH: &str = "/api/v1/openapi.json";

/// The document's frame, before the routes add their paths.
#[derive(OpenApi)]
#[openapi(tags(
    (name = "tables", description = "The tables in the catalog: status, detail, dry-run plans"),
    (name = "runs", description = "Runs started on a table, followed and cancelled; the run history"),
    (name = "fleet", description = "The compactor instances and the leases they hold"),
))]
struct ApiDoc;

/// The frame of the document.
pub(crate) fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document with its title, version and the bearer scheme changing endpoints need.
pub(crate) fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    doc.info = InfoBuilder::new()
        .title("SignalDB Compactor admin API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Every table's status, dry-run plans, runs started on one table now, the run \
             history and the leases. Endpoints that change a table need \
             `Authorization: Bearer <token>` ([compactor.admin] token or token_file); read \
             endpoints need it too when [compactor.admin] protect_reads is set. Every error \
             is a JSON `ErrorBody`.",
        ))
        .build();
    let bearer = SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
    let components = doc.components.take().unwrap_or_else(|| ComponentsBuilder::new().build());
    let mut components = components;
    components.add_security_scheme("bearer", bearer);
    doc.components = Some(components);
    doc
}

/// The route serving `doc`.
pub(crate) fn route<S: Clone + Send + Sync + 'static>(
    doc: Arc<utoipa::openapi::OpenApi>,
) -> MethodRouter<S> {
    get(move || {
        let doc = Arc::clone(&doc);
        async move { Json(doc.as_ref().clone()) }
    })
}
