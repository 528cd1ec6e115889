//! Who may use the admin API: a bearer token (`[compactor.admin] token` or `token_file`)
//! guards every endpoint that changes a table, and the read endpoints too when
//! `protect_reads` is set.
//!
//! The token is compared in constant time (its length aside) and never logged or echoed.
//! Without a configured token the changing endpoints answer `403 admin_disabled` and say how
//! to enable them. A browser may hold the token in the [`TOKEN_COOKIE`] cookie, which counts
//! for reads only: a change always needs the `Authorization` header, so another site cannot
//! make a visitor's browser start one.

use std::borrow::Cow;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use common::config::Secret;
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The cookie the web page keeps the token in, for reads when `protect_reads` is set.
pub(crate) const TOKEN_COOKIE: &str = "signaldb_compactor_token";

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// It only reads: open unless `protect_reads`.
    Read,
    /// It changes or starts work on a table: always the token.
    Change,
}

/// The admin API's access rules.
#[derive(Clone)]
pub(crate) struct Access {
    token: Option<Secret>,
    protect_reads: bool,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("protect_reads", &self.protect_reads)
            .finish()
    }
}

impl Access {
    /// Access with `token` (none: every change is refused) and reads protected or open.
    pub(crate) fn new(token: Option<Secret>, protect_reads: bool) -> Self {
        Self { token, protect_reads }
    }

    /// Whether the changing endpoints can be used at all.
    pub(crate) fn changes_enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Whether reads need the token.
    pub(crate) fn reads_protected(&self) -> bool {
        self.protect_reads
    }

    /// Whether a request with `headers` (and `method`) may do what `need` says.
    pub(crate) fn check(
        &self,
        need: Need,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        if need == Need::Read && !self.protect_reads {
            return Ok(());
        }
        let Some(token) = &self.token else {
            return Err(ApiError::admin_disabled(
                "changing tables through the admin API is disabled: no admin token is \
                 configured; set [compactor.admin] token or token_file \
                 (SIGNALDB_COMPACTOR_ADMIN_TOKEN or SIGNALDB_COMPACTOR_ADMIN_TOKEN_FILE) and \
                 send it as `Authorization: Bearer <token>`",
            ));
        };
        let offered = match bearer(headers)? {
            Some(offered) => Cow::Borrowed(offered),
            // A cookie only ever counts for reads.
            None if need == Need::Read && *method == Method::GET => match cookie(headers) {
                Some(offered) => offered,
                None => return Err(missing()),
            },
            None => return Err(missing()),
        };
        if bool::from(offered.as_bytes().ct_eq(token.expose().as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::forbidden("the bearer token is not the configured admin token"))
        }
    }
}

/// The `401` of a request without credentials.
fn missing() -> ApiError {
    ApiError::unauthorized(
        "this endpoint needs the admin token: send `Authorization: Bearer <token>`",
    )
}

/// The token of an `Authorization: Bearer` header; `None` without the header, `401` when it
/// is not a bearer credential.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let malformed = || {
        ApiError::unauthorized(
            "the Authorization header must be `Bearer <token>` (a visible ASCII token)",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(Some(token))
}

/// The token of the [`TOKEN_COOKIE`] cookie, when sent: its value percent-decoded, as the
/// page stores it with `encodeURIComponent` (a token may hold `;`, `,` or `"`, which a cookie
/// value cannot).
fn cookie(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == TOKEN_COOKIE)
        .and_then(|(_, value)| percent_decoded(value))
        .filter(|value| !value.is_empty())
}

/// `value` with its `%XX` escapes decoded; `None` when an escape is malformed or the bytes
/// are not UTF-8.
fn percent_decoded(value: &str) -> Option<Cow<'_, str>> {
    if !value.contains('%') {
        return Some(Cow::Borrowed(value));
    }
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok().map(Cow::Owned)
}

/// The middleware that refuses a request `access` does not allow: `GET` and `HEAD` read,
/// every other method changes.
pub(crate) async fn require(
    State(access): State<std::sync::Arc<Access>>,
    request: Request,
    next: Next,
) -> Response {
    let need = match *request.method() {
        Method::GET | Method::HEAD => Need::Read,
        _ => Need::Change,
    };
    match access.check(need, request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, StatusCode};

    use super::*;

    const TOKEN: &str = "0123456789abcdef0123";

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn status(result: Result<(), ApiError>) -> Option<(StatusCode, &'static str)> {
        result.err().map(|e| (e.status(), e.code()))
    }

    #[test]
    fn changes_need_a_configured_token_and_the_right_bearer() {
        let none = Access::new(None, false);
        let get = Method::GET;
        assert_eq!(
            status(none.check(Need::Change, &Method::POST, &HeaderMap::new())),
            Some((StatusCode::FORBIDDEN, "admin_disabled"))
        );
        assert_eq!(status(none.check(Need::Read, &get, &HeaderMap::new())), None);

        let access = Access::new(Some(Secret::new(TOKEN)), false);
        let post = Method::POST;
        let auth = |v: &str| headers(&[(header::AUTHORIZATION, v)]);
        assert_eq!(
            status(access.check(Need::Change, &post, &auth(&format!("Bearer {TOKEN}")))),
            None
        );
        assert_eq!(
            status(access.check(Need::Change, &post, &auth(&format!("bearer  {TOKEN}")))),
            None
        );
        let unauthorized = Some((StatusCode::UNAUTHORIZED, "unauthorized"));
        assert_eq!(status(access.check(Need::Change, &post, &HeaderMap::new())), unauthorized);
        assert_eq!(status(access.check(Need::Change, &post, &auth(TOKEN))), unauthorized);
        assert_eq!(status(access.check(Need::Change, &post, &auth("Basic abc"))), unauthorized);
        assert_eq!(status(access.check(Need::Change, &post, &auth("Bearer "))), unauthorized);
        let forbidden = Some((StatusCode::FORBIDDEN, "forbidden"));
        let wrong = auth(&format!("Bearer {TOKEN}x"));
        assert_eq!(status(access.check(Need::Change, &post, &wrong)), forbidden);
        assert_eq!(status(access.check(Need::Change, &post, &auth("Bearer short"))), forbidden);
        // Reads stay open.
        assert_eq!(status(access.check(Need::Read, &get, &HeaderMap::new())), None);
    }

    #[test]
    fn a_cookie_counts_for_protected_reads_only() {
        let access = Access::new(Some(Secret::new(TOKEN)), true);
        let jar = headers(&[(header::COOKIE, &format!("theme=dark; {TOKEN_COOKIE}={TOKEN}"))]);
        assert_eq!(status(access.check(Need::Read, &Method::GET, &jar)), None);
        assert_eq!(
            status(access.check(Need::Read, &Method::GET, &HeaderMap::new())),
            Some((StatusCode::UNAUTHORIZED, "unauthorized"))
        );
        assert_eq!(
            status(access.check(Need::Change, &Method::POST, &jar)),
            Some((StatusCode::UNAUTHORIZED, "unauthorized"))
        );
        // The page stores the token percent-encoded.
        let odd = "0123456789;abc,def\"%";
        let encoded = "0123456789%3Babc%2Cdef%22%25";
        let access = Access::new(Some(Secret::new(odd)), true);
        let jar = headers(&[(header::COOKIE, &format!("{TOKEN_COOKIE}={encoded}"))]);
        assert_eq!(status(access.check(Need::Read, &Method::GET, &jar)), None);
        let bad = headers(&[(header::COOKIE, &format!("{TOKEN_COOKIE}=abc%2"))]);
        assert_eq!(
            status(access.check(Need::Read, &Method::GET, &bad)),
            Some((StatusCode::UNAUTHORIZED, "unauthorized"))
        );
        let wrong = headers(&[(header::COOKIE, &format!("{TOKEN_COOKIE}=nope"))]);
        assert_eq!(
            status(access.check(Need::Read, &Method::GET, &wrong)),
            Some((StatusCode::FORBIDDEN, "forbidden"))
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        let access = Access::new(Some(Secret::new(TOKEN)), false);
        assert!(!format!("{access:?}").contains(TOKEN));
    }
}
