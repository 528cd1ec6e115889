//! What the admin API reads from a request, each refused with a JSON `4xx` that names the
//! parameter at fault: a table's path ([`TablePath`]), a run id ([`RunPath`]), the query
//! string ([`ApiQuery`]) and a bounded JSON body ([`JsonBody`]).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use common::TableKind;
use common::ids::validate_id;
use common::tables::TableId;
use serde::de::DeserializeOwned;

use super::error::ApiError;
pub(crate) use super::error::shown;
use super::runs::RunId;

/// The table `{tenant}/{dataset}/{table}` of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TablePath(pub TableId);

impl<S: Send + Sync> FromRequestParts<S> for TablePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path((tenant, dataset, table)) =
            Path::<(String, String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::bad_request(e.body_text()))?;
        table_id(&tenant, &dataset, &table).map(TablePath)
    }
}

/// The table `tenant`, `dataset`, `table` names: `400` for a malformed id, `404` for a table
/// name the compactor does not know.
pub(crate) fn table_id(tenant: &str, dataset: &str, table: &str) -> Result<TableId, ApiError> {
    for (what, id) in [("tenant", tenant), ("dataset", dataset)] {
        validate_id(id).map_err(|e| ApiError::bad_request(format!("{what} {}: {e}", shown(id))))?;
    }
    let kind = TableKind::from_name(table).ok_or_else(|| {
        let known: Vec<&str> = TableKind::ALL.iter().map(|k| k.as_str()).collect();
        ApiError::not_found(format!(
            "no table is named {}: the tables are {}",
            shown(table),
            known.join(", ")
        ))
    })?;
    TableId::new(tenant, dataset, kind).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The run id of a path `/runs/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunPath(pub RunId);

impl<S: Send + Sync> FromRequestParts<S> for RunPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        id.parse::<RunId>().map(RunPath).map_err(|e| ApiError::bad_request(e.to_string()))
    }
}

/// The query string as `T`; an unknown or malformed parameter is a `400` naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// Largest body the admin API reads (`[compactor.admin] max_body_bytes`), kept in the
/// request's extensions by the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimit(pub u64);

/// An optional JSON body as `T`: an empty body is `T::default()`; a body needs
/// `Content-Type: application/json`, at most [`BodyLimit`] bytes, and only `T`'s fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let limit = request.extensions().get::<BodyLimit>().map_or(65_536, |l| l.0);
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(ApiError::payload_too_large(limit));
        }
        let json =
            request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| {
                v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json")
            });
        let max = usize::try_from(limit).unwrap_or(usize::MAX);
        let bytes: Bytes = axum::body::to_bytes(request.into_body(), max)
            .await
            .map_err(|_| ApiError::payload_too_large(limit))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(T::default()));
        }
        if json != Some(true) {
            return Err(ApiError::unsupported_media_type(
                "a request body must be JSON, sent with `Content-Type: application/json`",
            ));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn table_paths_are_validated_before_anything_is_read() {
        let id = table_id("acme", "prod", "logs").unwrap();
        assert_eq!((id.tenant.as_str(), id.dataset.as_str()), ("acme", "prod"));
        let code = |t: &str, d: &str, k: &str| table_id(t, d, k).unwrap_err().status();
        assert_eq!(code("..", "prod", "logs"), StatusCode::BAD_REQUEST);
        assert_eq!(code("acme", "../etc", "logs"), StatusCode::BAD_REQUEST);
        assert_eq!(code("Acme", "prod", "logs"), StatusCode::BAD_REQUEST);
        assert_eq!(code("", "prod", "logs"), StatusCode::BAD_REQUEST);
        assert_eq!(code("acme", "prod", "passwd"), StatusCode::NOT_FOUND);
        let err = table_id("acme", "prod", "passwd").unwrap_err();
        assert!(err.message().contains("\"passwd\""), "{err}");
        assert!(err.message().contains("traces"), "{err}");
    }
}
