//! The token form: what a page request gets instead of the API's JSON `401`/`403` when
//! `[compactor.admin] protect_reads` is set and it carries no (right) token. The form's script
//! keeps the token in the [`TOKEN_COOKIE`] cookie (`SameSite=Strict`, path `/`), which counts
//! for reads only, and in the tab's `sessionStorage` for the buttons, then reloads.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::respond::html;
use crate::admin::auth::{Access, Need, TOKEN_COOKIE};

/// The token form.
#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage<'a> {
    /// Why the page is not shown.
    message: &'a str,
    /// The cookie the script sets.
    cookie: &'a str,
}

/// The middleware in front of every page: the request when `access` allows a read, else the
/// token form with the refusal's status (`401` without a token, `403` with a wrong one).
pub(super) async fn require(
    State(access): State<Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    let Err(refused) = access.check(Need::Read, request.method(), request.headers()) else {
        return next.run(request).await;
    };
    let status = refused.status();
    let message = if status == StatusCode::UNAUTHORIZED {
        "This page needs the admin token: [compactor.admin] protect_reads is set."
    } else {
        "The token this browser holds is not the configured admin token."
    };
    let mut response = html(status, &LoginPage { message, cookie: TOKEN_COOKIE });
    if status == StatusCode::UNAUTHORIZED {
        let challenge = HeaderValue::from_static("Bearer realm=\"signaldb-compactor\"");
        response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}
