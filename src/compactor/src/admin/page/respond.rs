//! The HTML response every page is: its rendered template, with headers that let the
//! browser run nothing but the page's own script and style, and never cache or frame it.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::error;

use crate::log_target;

/// What a page may load: its own script, style and API, nothing inline, no frames.
pub(super) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// `page` rendered, answered with `status`; a template that fails to render is a plain `500`.
pub(super) fn html(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            let pairs = [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "no-referrer"),
                (header::CACHE_CONTROL, "no-store"),
            ];
            for (name, value) in pairs {
                headers.insert(name, HeaderValue::from_static(value));
            }
            response
        }
        Err(e) => {
            error!(target: log_target::SERVICE, error = %e, "The admin page could not be rendered");
            let message = "the page could not be rendered; the compactor's log says why";
            (StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
        }
    }
}
