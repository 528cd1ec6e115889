//! The `[storage]` section: where the warehouse lives and how to reach S3.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::secret::{Secret, redact_uri};

/// `[storage]`: the object store holding every table's data and metadata.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Warehouse location: `file://PATH` (a relative `PATH` is relative to the working
    /// directory, `file:///abs` is absolute) or `s3://BUCKET/PREFIX`.
    /// Env `SIGNALDB_STORAGE_DSN`, default `"file://.data/storage"`.
    pub dsn: String,
    /// Retries of a failed object-store request (5xx, 429 SlowDown, a timeout or a reset
    /// connection), with exponential backoff; `0` never retries.
    /// Env `SIGNALDB_STORAGE_MAX_RETRIES`, default `10`.
    pub max_retries: usize,
    /// Seconds after a request's first attempt past which it is not retried again; at least 1.
    /// Env `SIGNALDB_STORAGE_RETRY_TIMEOUT_SECS`, default `180`.
    pub retry_timeout_secs: u64,
    /// Seconds one object-store request may take, body included, before it counts as failed
    /// (and is retried); at least 1. Env `SIGNALDB_STORAGE_REQUEST_TIMEOUT_SECS`, default `30`.
    pub request_timeout_secs: u64,
    /// Seconds to open a connection to the object store; at least 1.
    /// Env `SIGNALDB_STORAGE_CONNECT_TIMEOUT_SECS`, default `5`.
    pub connect_timeout_secs: u64,
    /// Object-store requests in flight at once, over every job and table of the process
    /// (separate from `[compactor] max_concurrent_jobs`, the rewrites in flight); at least 1.
    /// Env `SIGNALDB_STORAGE_MAX_CONCURRENT_REQUESTS`, default `32`.
    pub max_concurrent_requests: usize,
    /// `[storage.s3]`: settings used when `dsn` is an `s3://` location.
    pub s3: S3Config,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            dsn: "file://.data/storage".to_string(),
            max_retries: 10,
            retry_timeout_secs: 180,
            request_timeout_secs: 30,
            connect_timeout_secs: 5,
            max_concurrent_requests: 32,
            s3: S3Config::default(),
        }
    }
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let StorageConfig {
            dsn,
            max_retries,
            retry_timeout_secs,
            request_timeout_secs,
            connect_timeout_secs,
            max_concurrent_requests,
            s3,
        } = self;
        f.debug_struct("StorageConfig")
            .field("dsn", &redact_uri(dsn))
            .field("max_retries", max_retries)
            .field("retry_timeout_secs", retry_timeout_secs)
            .field("request_timeout_secs", request_timeout_secs)
            .field("connect_timeout_secs", connect_timeout_secs)
            .field("max_concurrent_requests", max_concurrent_requests)
            .field("s3", s3)
            .finish()
    }
}

impl StorageConfig {
    /// `dsn` parsed into a file path or an S3 bucket and prefix.
    pub fn location(&self) -> Result<StorageLocation, InvalidUri> {
        StorageLocation::parse(&self.dsn)
    }
}

/// `[storage.s3]`: S3 connection settings. Each unset value falls back to the standard AWS
/// variables (`AWS_ENDPOINT_URL`, `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`); a set value wins over them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint URL of an S3-compatible server, e.g. `http://127.0.0.1:9000`.
    /// Env `SIGNALDB_STORAGE_S3_ENDPOINT`, default unset (`AWS_ENDPOINT_URL`, else AWS).
    pub endpoint: Option<String>,
    /// Region name. Env `SIGNALDB_STORAGE_S3_REGION`, default unset (`AWS_REGION` or
    /// `AWS_DEFAULT_REGION`).
    pub region: Option<String>,
    /// Access key id. Env `SIGNALDB_STORAGE_S3_ACCESS_KEY_ID`, default unset
    /// (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<Secret>,
    /// Secret access key. Env `SIGNALDB_STORAGE_S3_SECRET_ACCESS_KEY`, default unset
    /// (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<Secret>,
    /// Session token of temporary credentials. Env `SIGNALDB_STORAGE_S3_SESSION_TOKEN`,
    /// default unset (`AWS_SESSION_TOKEN`).
    pub session_token: Option<Secret>,
    /// `true` permits a plain `http://` endpoint; `false` leaves that to `AWS_ALLOW_HTTP`.
    /// Env `SIGNALDB_STORAGE_S3_ALLOW_HTTP`, default `false`.
    pub allow_http: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let S3Config {
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            session_token,
            allow_http,
        } = self;
        f.debug_struct("S3Config")
            .field("endpoint", &endpoint.as_deref().map(redact_uri))
            .field("region", region)
            .field("access_key_id", access_key_id)
            .field("secret_access_key", secret_access_key)
            .field("session_token", session_token)
            .field("allow_http", allow_http)
            .finish()
    }
}

/// A URI or DSN that cannot be used; the message never contains a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidUri(pub String);

/// Where the warehouse lives, parsed from `storage.dsn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// A local directory; relative paths are relative to the working directory.
    File {
        /// The directory, as written after `file://`.
        path: PathBuf,
    },
    /// A bucket of an S3-compatible object store.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket, without leading or trailing `/`; may be empty.
        prefix: String,
    },
}

impl StorageLocation {
    /// Parses `file://PATH` or `s3://BUCKET[/PREFIX]`.
    pub fn parse(dsn: &str) -> Result<StorageLocation, InvalidUri> {
        let shown = redact_uri(dsn);
        let Some((scheme, rest)) = dsn.split_once("://") else {
            return Err(InvalidUri(format!(
                "`{shown}` is not a storage DSN: expected file://PATH or s3://BUCKET/PREFIX"
            )));
        };
        match scheme {
            "file" => {
                if rest.is_empty() {
                    return Err(InvalidUri(format!("`{shown}` names no directory after file://")));
                }
                Ok(StorageLocation::File { path: PathBuf::from(rest) })
            }
            "s3" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                check_bucket(bucket).map_err(|why| InvalidUri(format!("`{shown}`: {why}")))?;
                Ok(StorageLocation::S3 {
                    bucket: bucket.to_string(),
                    prefix: prefix.trim_matches('/').to_string(),
                })
            }
            other => Err(InvalidUri(format!(
                "`{shown}` has unsupported scheme `{other}`: expected file:// or s3://"
            ))),
        }
    }
}

/// Checks an S3 bucket name: 3 to 63 characters of `a-z`, `0-9`, `.`, `-`.
fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.contains('@') {
        return Err("credentials do not belong in the DSN; set them in [storage.s3]".into());
    }
    if !(3..=63).contains(&bucket.len()) {
        return Err(format!("bucket name `{bucket}` must be 3 to 63 characters long"));
    }
    let ok = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !ok {
        return Err(format!("bucket name `{bucket}` may only contain a-z, 0-9, `.` and `-`"));
    }
    Ok(())
}

/// Checks an S3 endpoint: an `http://` or `https://` URL with a host.
pub(crate) fn check_endpoint(endpoint: &str) -> Result<(), InvalidUri> {
    let shown = redact_uri(endpoint);
    let url = url::Url::parse(endpoint)
        .map_err(|e| InvalidUri(format!("`{shown}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(InvalidUri(format!(
            "`{shown}` must be an http:// or https:// URL with a host"
        )));
    }
    Ok(())
}
