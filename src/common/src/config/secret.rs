//! Secret values and redaction of credentials embedded in URIs.
//!
//! Configuration is printed by `check-config` and logged at startup; neither may ever show a
//! credential. [`Secret`] hides its content from `Debug`, `Display` and `Serialize`, and
//! [`redact_uri`] masks the password of any `scheme://user:password@host` string.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// What a redacted value prints as.
pub const REDACTED: &str = "***";

/// A credential read from configuration; `Debug`, `Display` and `Serialize` all give
/// [`REDACTED`], so a serialized config never carries the credential.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for handing to the client that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{REDACTED:?}")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// Query parameters whose values are credentials.
const SECRET_PARAMS: [&str; 6] =
    ["password", "pass", "secret", "token", "access_key", "secret_access_key"];

/// `uri` with the password of its user info and any credential query parameter replaced by
/// [`REDACTED`]; every other character is kept as written.
///
/// `postgres://app:hunter2@db/signaldb?sslmode=require&password=x` becomes
/// `postgres://app:***@db/signaldb?sslmode=require&password=***`. Strings without `://` are
/// returned unchanged.
pub fn redact_uri(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_string();
    };
    let (scheme, rest) = uri.split_at(scheme_end + 3);
    // The user info ends at the last `@` before any query or fragment; a password with an
    // unescaped `/` is still masked whole.
    let before_query = rest.find(['?', '#']).unwrap_or(rest.len());
    let (userinfo, host_and_tail) = match rest[..before_query].rfind('@') {
        Some(at) => rest.split_at(at),
        None => ("", rest),
    };
    let userinfo = match userinfo.find(':') {
        Some(colon) => format!("{}:{REDACTED}", &userinfo[..colon]),
        None => userinfo.to_string(),
    };
    let host_end = host_and_tail.find(['/', '?', '#']).unwrap_or(host_and_tail.len());
    let (host, tail) = host_and_tail.split_at(host_end);
    format!("{scheme}{userinfo}{host}{}", redact_query(tail))
}

/// `tail` (path, query and fragment) with credential query parameters redacted.
fn redact_query(tail: &str) -> String {
    let Some(q) = tail.find('?') else {
        return tail.to_string();
    };
    let (path, query) = tail.split_at(q + 1);
    let (query, fragment) = match query.find('#') {
        Some(h) => query.split_at(h),
        None => (query, ""),
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.contains(&name.to_ascii_lowercase().as_str()) => {
                format!("{name}={REDACTED}")
            }
            _ => param.to_string(),
        })
        .collect();
    format!("{path}{}{fragment}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_content() {
        let s = Secret::new("hunter2");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "\"***\"");
        assert_eq!(toml::Value::try_from(&s).unwrap().as_str(), Some("***"));
    }

    #[test]
    fn redacts_userinfo_password_and_credential_params() {
        assert_eq!(
            redact_uri("postgres://app:hunter2@db:5432/signaldb"),
            "postgres://app:***@db:5432/signaldb"
        );
        assert_eq!(redact_uri("postgresql://app@db/x"), "postgresql://app@db/x");
        assert_eq!(
            redact_uri("postgres://db/x?user=a&Password=p&sslmode=require#f"),
            "postgres://db/x?user=a&Password=***&sslmode=require#f"
        );
        assert_eq!(redact_uri("s3://k:s@bucket/prefix"), "s3://k:***@bucket/prefix");
        assert_eq!(redact_uri("sqlite://.data/catalog.db"), "sqlite://.data/catalog.db");
        assert_eq!(redact_uri("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(redact_uri("postgres://u:p/w@ss@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_uri("no scheme:pw@host"), "no scheme:pw@host");
    }
}
