//! What the admin API reads from a request, each refused with a JSON `4xx` that names the
//! parameter at fault: a table's path ([`TablePath`]), a run id ([`RunPath`]), the query
//! string ([`ApiQuery`]) and a bounded JSON body ([`JsonBody`]). A refusal quotes what it
//! refuses cut short ([`shown`], [`cut`]): a hostile request never floods its answer.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use common::TableKind;
use common::ids::{InvalidId, validate_id};
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
                .map_err(|e| ApiError::bad_request(cut(&e.body_text())))?;
        table_id(&tenant, &dataset, &table).map(TablePath)
    }
}

/// The table `tenant`, `dataset`, `table` names: `400` for a malformed id, `404` for a table
/// name the compactor does not know.
pub(crate) fn table_id(tenant: &str, dataset: &str, table: &str) -> Result<TableId, ApiError> {
    checked_id("tenant", tenant)?;
    checked_id("dataset", dataset)?;
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

/// Checks that `id`, the request's `what` (`tenant`, `dataset`), follows the id rule: `400`
/// otherwise, quoting it cut short.
pub(crate) fn checked_id(what: &str, id: &str) -> Result<(), ApiError> {
    validate_id(id).map_err(|e| {
        let why = match e {
            InvalidId::Empty => "is empty",
            InvalidId::TooLong(_) => "is longer than 64 characters",
            InvalidId::BadCharacter(_) => {
                "has a character other than a-z, 0-9, `_` and `-`, or starts with `_` or `-`"
            }
        };
        ApiError::bad_request(format!(
            "{what} {} {why}: ids must match [a-z0-9][a-z0-9_-]{{0,63}}",
            shown(id)
        ))
    })
}

/// A message of another library's making (a rejected path, query or body) cut to a few
/// hundred characters: some quote the input whole.
pub(crate) fn cut(message: &str) -> String {
    const MAX: usize = 256;
    let mut out: String = message.chars().take(MAX).collect();
    if message.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// The run id of a path `/runs/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunPath(pub RunId);

impl<S: Send + Sync> FromRequestParts<S> for RunPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(cut(&e.body_text())))?;
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
            .map_err(|e| ApiError::bad_request(cut(&e.body_text())))
    }
}

/// The query string of an endpoint that takes no parameter, as [`ApiQuery<NoQuery>`]: any
/// parameter is unknown, a `400` naming it, as on the endpoints that take some.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoQuery {}

/// Largest body the admin API reads (`[compactor.admin] max_body_bytes`), kept in the
/// request's extensions by the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimit(pub u64);

/// An optional JSON body as `T`: an empty body is `T::default()`; a body needs
/// `Content-Type: application/json`, at most [`BodyLimit`] bytes, and is one JSON object with
/// only `T`'s fields.
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
        let invalid = |e: serde_json::Error| {
            ApiError::bad_request(cut(&format!("the request body is not valid: {e}")))
        };
        // An object, nothing else: serde would take a struct from an array too (`[]` as
        // `{}`, `[true]` as its first field), which no client means.
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes).map_err(invalid)?;
        T::deserialize(serde_json::Value::Object(object)).map(JsonBody).map_err(invalid)
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

    #[test]
    fn refusals_never_quote_a_long_input_whole() {
        let long = "a".repeat(10_000);
        for (tenant, dataset) in [(long.as_str(), "prod"), ("acme", long.as_str())] {
            let err = table_id(tenant, dataset, "logs").unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST);
            assert!(err.message().len() < 300, "{}", err.message());
            assert!(err.message().contains("longer than 64 characters"), "{err}");
        }
        let err = checked_id("tenant", "a\nb").unwrap_err();
        assert!(err.message().starts_with("tenant \"a\\nb\" has a character"), "{err}");
        assert_eq!(checked_id("dataset", "").unwrap_err().message().split(' ').nth(2), Some("is"));
        assert!(cut(&long).chars().count() <= 257);
        assert_eq!(cut("short"), "short");
    }

    /// A body like the API's: one optional flag.
    #[derive(Debug, Default, PartialEq, Eq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Flag {
        #[serde(default)]
        on: bool,
    }

    async fn body(content_type: Option<&str>, body: &'static [u8]) -> Result<Flag, StatusCode> {
        let mut request = Request::builder().method("POST").uri("/x");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(axum::body::Body::from(body)).unwrap();
        JsonBody::<Flag>::from_request(request, &()).await.map(|b| b.0).map_err(|e| e.status())
    }

    #[tokio::test]
    async fn a_body_is_one_json_object_of_known_fields() {
        let json = Some("application/json");
        assert_eq!(body(None, b"").await, Ok(Flag { on: false }));
        assert_eq!(body(json, b" \n").await, Ok(Flag { on: false }));
        assert_eq!(body(json, br#"{"on": true}"#).await, Ok(Flag { on: true }));
        assert_eq!(body(Some("application/json; charset=utf-8"), b"{}").await, Ok(Flag::default()));
        for refused in
            [&b"[]"[..], b"[true]", b"null", b"true", b"{\"on\": 1}", b"{\"off\": 1}", b"{"]
        {
            assert_eq!(body(json, refused).await, Err(StatusCode::BAD_REQUEST), "{refused:?}");
        }
        assert_eq!(body(Some("text/plain"), b"{}").await, Err(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        assert_eq!(body(None, b"{}").await, Err(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }

    #[test]
    fn an_endpoint_without_parameters_refuses_any() {
        let query = |q: &str| {
            let uri: axum::http::Uri = format!("/api/v1/leases{q}").parse().unwrap();
            Query::<NoQuery>::try_from_uri(&uri).map(|Query(q)| q)
        };
        assert_eq!(query("").unwrap(), NoQuery {});
        assert_eq!(query("?").unwrap(), NoQuery {});
        assert!(query("?verbose=1").is_err());
        assert!(query("?verbose").is_err());
    }
}
