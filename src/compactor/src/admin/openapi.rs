//! The OpenAPI document of the admin API: its paths and schemas come from the handlers'
//! `#[utoipa::path]` and the types' `ToSchema`, so the document and the routes are the same
//! list; this module adds what is the API's as a whole (title, version, the bearer scheme)
//! and the document's own route, which no handler's annotation can describe.

use std::sync::Arc;

use axum::Json;
use axum::routing::{MethodRouter, get};
use utoipa::OpenApi;
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, Ref, ResponseBuilder,
};

/// Where the document is served.
pub(crate) const PATH: &str = "/api/v1/openapi.json";

/// The document's frame, before the routes add their paths.
#[derive(OpenApi)]
#[openapi(
    // Types only a query parameter names: no handler's body brings them in.
    components(schemas(super::tables::HealthFilter)),
    tags(
        (name = "tables", description = "The tables in the catalog: status, detail, dry-run plans"),
        (name = "runs", description = "Runs started on a table, followed and cancelled; the run history"),
        (name = "fleet", description = "The compactor instances and the leases they hold"),
        (name = "meta", description = "This document"),
    )
)]
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
    doc.paths.add_path_operation(PATH, vec![HttpMethod::Get], own_operation());
    doc
}

/// `GET /api/v1/openapi.json`, described like the handlers' routes.
fn own_operation() -> utoipa::openapi::path::Operation {
    let json = |schema: utoipa::openapi::RefOr<utoipa::openapi::Schema>| {
        ContentBuilder::new().schema(Some(schema)).build()
    };
    let document = ResponseBuilder::new()
        .description("This document (OpenAPI 3.1)")
        .content("application/json", json(ObjectBuilder::new().into()))
        .build();
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content("application/json", json(Ref::from_schema_name("ErrorBody").into()))
            .build()
    };
    OperationBuilder::new()
        .tag("meta")
        .operation_id(Some("openapi"))
        .summary(Some("The OpenAPI document of the admin API"))
        .response("200", document)
        .response("401", error("The token is missing (with `protect_reads`)"))
        .response("403", error("The token is wrong (with `protect_reads`)"))
        .build()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_describes_its_own_route_with_the_error_body() {
        let (_, doc) = super::super::api_routes().split_for_parts();
        let doc = serde_json::to_value(finish(doc)).unwrap();
        let own = &doc["paths"][PATH]["get"];
        assert_eq!(own["operationId"], "openapi", "{own}");
        let error = &own["responses"]["401"]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(error, "#/components/schemas/ErrorBody");
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object(), "the body it names exists");
        // Every schema a `$ref` names is in the document.
        let text = doc.to_string();
        for name in text.split("\"#/components/schemas/").skip(1) {
            let name = name.split('"').next().unwrap();
            assert!(doc["components"]["schemas"][name].is_object(), "{name} is named, not defined");
        }
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }
}
