//! Watching the warehouse's HTTP requests: which S3 operations failed in a way object_store
//! retries (a 5xx such as 503 SlowDown, 429, 408, a refused, reset or timed-out connection, a
//! response body cut mid-way).
//!
//! object_store retries inside its client and says so only in a log line. [`ObservedConnector`]
//! sits between it and the real HTTP client, so every failed attempt reaches a
//! [`StorageObserver`] (the compactor counts them as `compactor_storage_retries_total`).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use http_body_util::BodyExt;
use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService, ReqwestConnector,
};

use super::counted::RequestObserver;

/// The warehouse's observer: told of every request it makes (as a [`RequestObserver`]) and of
/// each request attempt that failed with an error object_store retries.
pub trait StorageObserver: RequestObserver + Send + Sync + Debug {
    /// An attempt of `operation` (see [`operation_of`]) failed retryably; object_store tries
    /// again unless its retry budget (`[storage] max_retries`, `retry_timeout_secs`) is spent.
    fn retryable_failure(&self, operation: &'static str);
}

/// Every name [`operation_of`] gives.
pub const OPERATIONS: &[&str] = &[
    "get",
    "head",
    "list",
    "put",
    "put_part",
    "copy",
    "create_multipart",
    "complete_multipart",
    "abort_multipart",
    "delete",
    "other",
];

/// The S3 operation a request performs, named after object_store's API.
pub fn operation_of(method: &str, query: Option<&str>, copies: bool) -> &'static str {
    let has =
        |key: &str| query.is_some_and(|q| q.split('&').any(|p| p.split('=').next() == Some(key)));
    match method {
        "GET" if has("list-type") || has("prefix") => "list",
        "GET" => "get",
        "HEAD" => "head",
        "PUT" if has("partNumber") => "put_part",
        "PUT" if copies => "copy",
        "PUT" => "put",
        "POST" if has("uploads") => "create_multipart",
        "POST" if has("uploadId") => "complete_multipart",
        "POST" if has("delete") => "delete",
        "DELETE" if has("uploadId") => "abort_multipart",
        "DELETE" => "delete",
        _ => "other",
    }
}

/// Whether object_store retries a response with this status.
fn retryable_status(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

/// Whether object_store may retry a transport error of this kind (timeouts and interruptions
/// only for idempotent requests, which is every request the warehouse makes but the final
/// multipart completion).
fn retryable_error(kind: HttpErrorKind) -> bool {
    !matches!(kind, HttpErrorKind::Decode | HttpErrorKind::Unknown)
}

/// An object_store [`HttpConnector`] that reports failed attempts to a [`StorageObserver`].
#[derive(Debug)]
pub struct ObservedConnector {
    observer: Arc<dyn StorageObserver>,
}

impl ObservedConnector {
    /// A connector using object_store's own reqwest client, reporting to `observer`.
    pub fn new(observer: Arc<dyn StorageObserver>) -> Self {
        Self { observer }
    }
}

impl HttpConnector for ObservedConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(ObservedService { inner, observer: Arc::clone(&self.observer) }))
    }
}

/// The HTTP service [`ObservedConnector`] hands out.
#[derive(Debug)]
struct ObservedService {
    inner: HttpClient,
    observer: Arc<dyn StorageObserver>,
}

#[async_trait]
impl HttpService for ObservedService {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let operation = operation_of(
            req.method().as_str(),
            req.uri().query(),
            req.headers().contains_key("x-amz-copy-source"),
        );
        match self.inner.execute(req).await {
            Ok(response) if retryable_status(response.status().as_u16()) => {
                self.observer.retryable_failure(operation);
                Ok(response)
            }
            // A body cut mid-way fails once its headers are in: object_store retries the rest
            // of a GET, so that counts as a retried attempt too.
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let observer = Arc::clone(&self.observer);
                let body = body.map_err(move |e| {
                    observer.retryable_failure(operation);
                    e
                });
                Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
            }
            Err(e) => {
                if retryable_error(e.kind()) {
                    self.observer.retryable_failure(operation);
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_after_the_operation_they_perform() {
        let cases = [
            ("GET", None, false, "get"),
            ("GET", Some("list-type=2&prefix=a%2F"), false, "list"),
            ("HEAD", None, false, "head"),
            ("PUT", None, false, "put"),
            ("PUT", None, true, "copy"),
            ("PUT", Some("partNumber=2&uploadId=x"), false, "put_part"),
            ("POST", Some("uploads"), false, "create_multipart"),
            ("POST", Some("uploadId=x"), false, "complete_multipart"),
            ("POST", Some("delete"), false, "delete"),
            ("DELETE", Some("uploadId=x"), false, "abort_multipart"),
            ("DELETE", None, false, "delete"),
            ("PATCH", None, false, "other"),
        ];
        for (method, query, copies, expected) in cases {
            assert_eq!(operation_of(method, query, copies), expected, "{method} {query:?}");
            assert!(OPERATIONS.contains(&expected), "{expected}");
        }
    }

    #[test]
    fn only_what_object_store_retries_counts() {
        assert!(retryable_status(503) && retryable_status(500) && retryable_status(429));
        assert!(retryable_status(408));
        assert!(!retryable_status(404) && !retryable_status(403) && !retryable_status(200));
        assert!(retryable_error(HttpErrorKind::Connect) && retryable_error(HttpErrorKind::Timeout));
        assert!(
            !retryable_error(HttpErrorKind::Decode) && !retryable_error(HttpErrorKind::Unknown)
        );
    }
}
