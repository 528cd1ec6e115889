//! The admin API's failures: every one a status code, a stable code and a message naming
//! what was wrong, answered as the JSON [`ErrorBody`], never a bare `500` or an HTML page.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// What every failing request is answered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// The failure.
    pub error: ErrorDetail,
}

/// One failure: a stable code a client may branch on and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable, snake_case: `not_found`, `bad_request`, `unauthorized`, `forbidden`,
    /// `admin_disabled`, `conflict`, `payload_too_large`, `unsupported_media_type`,
    /// `too_many_runs`, `busy`, `method_not_allowed`, `unavailable`.
    pub code: String,
    /// What was wrong, naming the parameter, table or run at fault.
    pub message: String,
}

/// A failed request, answered by its [`IntoResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Sent as `Retry-After` (seconds), when waiting helps.
    retry_after: Option<u32>,
    /// Sent as `WWW-Authenticate`, on `401`.
    challenge: bool,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None, challenge: false }
    }

    /// `400`: a malformed parameter, path segment or body.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// `401`: the request carries no usable credentials.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self { challenge: true, ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message) }
    }

    /// `403`: the credentials are wrong.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// `403`: the endpoint changes tables and no admin token is configured.
    pub(crate) fn admin_disabled(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "admin_disabled", message)
    }

    /// `404`: no such table, run or path.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// `405`: the path exists, the method does not.
    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message)
    }

    /// `409`: the request conflicts with work in flight or a finished run.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// `413`: the body is larger than `[compactor.admin] max_body_bytes`.
    pub(crate) fn payload_too_large(limit: u64) -> Self {
        let message = format!(
            "the request body is larger than {limit} bytes ([compactor.admin] max_body_bytes)"
        );
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// `415`: a body that is not JSON.
    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message)
    }

    /// `429`: as many runs as `[compactor.admin] max_concurrent_runs` are in flight.
    pub(crate) fn too_many_runs(limit: usize) -> Self {
        let message = format!(
            "{limit} runs started through the API are in flight \
             ([compactor.admin] max_concurrent_runs); retry when one has finished"
        );
        Self {
            retry_after: Some(5),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_runs", message)
        }
    }

    /// `503`: as many requests as `[compactor.admin] max_concurrent_requests` are served.
    pub(crate) fn busy(limit: usize) -> Self {
        let message = format!(
            "{limit} admin requests are being served ([compactor.admin] \
             max_concurrent_requests); retry shortly"
        );
        Self { retry_after: Some(1), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message) }
    }

    /// `503`: a dependency (the catalog, the state store) cannot answer now.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self {
            retry_after: Some(5),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }

    /// The status code.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    #[cfg(test)]
    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> ErrorBody {
        let detail = ErrorDetail { code: self.code.to_string(), message: self.message.clone() };
        ErrorBody { error: detail }
    }
}

/// `value` quoted for a message, cut short and with control characters escaped, so that a
/// hostile path cannot flood or forge a response or a log line.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 64;
    let mut cut: String = value.chars().take(MAX).collect();
    if value.chars().count() > MAX {
        cut.push('…');
    }
    format!("{cut:?}")
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.challenge {
            let challenge = HeaderValue::from_static("Bearer realm=\"signaldb-compactor\"");
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_json_with_its_code_and_headers() {
        let response = ApiError::too_many_runs(4).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let response = ApiError::unauthorized("no token").into_response();
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let body = ApiError::not_found("no table acme.prod.logs").body();
        assert_eq!(body.error.code, "not_found");
        assert_eq!(body.error.message, "no table acme.prod.logs");
    }

    #[test]
    fn shown_values_are_short_and_escaped() {
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        let long = "x".repeat(1000);
        assert!(shown(&long).len() < 80);
    }
}
