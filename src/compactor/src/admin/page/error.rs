//! A page's failure: the status code and message of the API's error for the same request,
//! answered as a small HTML page instead of JSON.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::respond::html;
use crate::admin::error::ApiError;

/// A page request that failed: a malformed id (`400`), no such table (`404`), the catalog
/// unreachable (`503`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    /// `400`: a malformed query parameter or path segment.
    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        Self { status: e.status(), message: e.message().to_string() }
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "admin/error.html")]
struct ErrorPage<'a> {
    /// `404`, say.
    code: u16,
    /// `Not Found`, say.
    reason: &'a str,
    /// What was wrong.
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let reason = self.status.canonical_reason().unwrap_or("Error");
        let page = ErrorPage { code: self.status.as_u16(), reason, message: &self.message };
        html(self.status, &page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_page_names_what_was_wrong_escaped() {
        let message = "no table <script>alert(1)</script>.prod.logs is in the catalog";
        let page = ErrorPage { code: 404, reason: "Not Found", message };
        let body = page.render().unwrap();
        assert!(body.contains("404 Not Found"), "{body}");
        assert!(
            body.contains("no table &#60;script&#62;alert(1)&#60;/script&#62;.prod.logs"),
            "{body}"
        );
        assert!(!body.contains("<script>alert"), "{body}");
    }
}
