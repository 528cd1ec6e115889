//! [`Warehouse`]: the object-store handle and location of the Iceberg warehouse, opened from
//! `[storage]`, and the mapping between file locations and object paths in its store.

use std::path::{Component, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::limit::LimitStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use super::counted::{CountedStore, RequestObserver};
use super::observe::{ObservedConnector, StorageObserver};
use crate::config::{InvalidUri, StorageConfig, StorageLocation};

/// The object-store retries `[storage]` asks for: up to `max_retries` per request, backoff from
/// 100 ms doubling to 15 s, none after `retry_timeout_secs`.
fn retry_config(config: &StorageConfig) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: config.max_retries,
        retry_timeout: Duration::from_secs(config.retry_timeout_secs),
    }
}

/// Errors from opening the warehouse or mapping a location onto it.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// `storage.dsn` is neither `file://…` nor `s3://bucket/prefix`.
    #[error("storage.dsn: {reason}")]
    InvalidDsn {
        /// What is wrong with it (names the DSN, credentials redacted).
        reason: String,
    },
    /// A file location cannot be served by this warehouse's object store.
    #[error("location `{location}` is not served by warehouse `{warehouse}`: {reason}")]
    ForeignLocation {
        /// The location asked for.
        location: String,
        /// The warehouse location.
        warehouse: String,
        /// Why it cannot be mapped.
        reason: String,
    },
    /// The object store could not be built or reached.
    #[error("object store for `{warehouse}`: {source}")]
    ObjectStore {
        /// The warehouse location.
        warehouse: String,
        /// The underlying error.
        source: object_store::Error,
    },
    /// A local warehouse directory could not be created or resolved.
    #[error("local warehouse directory `{path}`: {source}")]
    LocalDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Where the warehouse lives: the part of a location URI that selects the object store.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Root {
    /// Local filesystem; object paths are absolute paths without the leading `/`.
    Local,
    /// One S3 bucket; object paths are keys inside it.
    S3 { bucket: String },
}

/// The object store and location of the Iceberg warehouse.
#[derive(Debug, Clone)]
pub struct Warehouse {
    location: String,
    root: Root,
    prefix: Path,
    store: Arc<dyn ObjectStore>,
    max_concurrent_requests: usize,
}

/// `store` as the warehouse serves it: every request counted (for `observer` and the tally
/// in scope), at most `max_requests` in flight.
fn counted_and_limited<T: ObjectStore>(
    store: T,
    max_requests: usize,
    observer: Option<Arc<dyn StorageObserver>>,
) -> Arc<dyn ObjectStore> {
    let limited = Arc::new(LimitStore::new(store, max_requests.max(1)));
    let observer = observer.map(|o| o as Arc<dyn RequestObserver>);
    Arc::new(CountedStore::new(limited, observer))
}

impl Warehouse {
    /// Opens the warehouse configured in `[storage]`.
    ///
    /// A relative `file://` path is resolved against the working directory and created.
    /// For S3, unset `[storage.s3]` values fall back to the standard `AWS_*` variables.
    pub fn open(config: &StorageConfig) -> Result<Self, StorageError> {
        Self::open_observed(config, None)
    }

    /// [`Warehouse::open`], with every request reported to `observer`, and every S3 request
    /// attempt that fails retryably (the local filesystem has no retries to report).
    pub fn open_observed(
        config: &StorageConfig,
        observer: Option<Arc<dyn StorageObserver>>,
    ) -> Result<Self, StorageError> {
        let (bucket, prefix) = match config.location() {
            Ok(StorageLocation::File { path }) => return Self::open_local(path, config, observer),
            Ok(StorageLocation::S3 { bucket, prefix }) => (bucket, prefix),
            Err(InvalidUri(reason)) => return Err(StorageError::InvalidDsn { reason }),
        };
        let location = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        let s3 = &config.s3;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            .with_retry(retry_config(config))
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(Duration::from_secs(config.request_timeout_secs))
                    .with_connect_timeout(Duration::from_secs(config.connect_timeout_secs)),
            );
        if let Some(endpoint) = &s3.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &s3.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &s3.access_key_id {
            builder = builder.with_access_key_id(key.expose());
        }
        if let Some(secret) = &s3.secret_access_key {
            builder = builder.with_secret_access_key(secret.expose());
        }
        if let Some(token) = &s3.session_token {
            builder = builder.with_token(token.expose());
        }
        if s3.allow_http {
            builder = builder.with_allow_http(true);
        }
        if let Some(observer) = &observer {
            builder = builder.with_http_connector(ObservedConnector::new(Arc::clone(observer)));
        }
        let store = builder
            .build()
            .map_err(|source| StorageError::ObjectStore { warehouse: location.clone(), source })?;
        let max_concurrent_requests = config.max_concurrent_requests.max(1);
        Ok(Self {
            prefix: Path::from(prefix.as_str()),
            root: Root::S3 { bucket },
            location,
            store: counted_and_limited(store, max_concurrent_requests, observer),
            max_concurrent_requests,
        })
    }

    fn open_local(
        path: PathBuf,
        config: &StorageConfig,
        observer: Option<Arc<dyn StorageObserver>>,
    ) -> Result<Self, StorageError> {
        let local_err = |path: &PathBuf| {
            let path = path.clone();
            move |source| StorageError::LocalDir { path, source }
        };
        let absolute = std::path::absolute(&path).map_err(local_err(&path))?;
        std::fs::create_dir_all(&absolute).map_err(|e| {
            // "File exists" names neither the file nor the problem: a file is in the way.
            let blocker = absolute.ancestors().find(|a| a.exists() && !a.is_dir());
            let source = match blocker {
                Some(file) => std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    format!("`{}` is a file, not a directory", file.display()),
                ),
                None => e,
            };
            StorageError::LocalDir { path: absolute.clone(), source }
        })?;
        let absolute = normalize_local(&absolute);
        let text = absolute.to_str().ok_or_else(|| StorageError::InvalidDsn {
            reason: format!("the warehouse path `{}` is not valid UTF-8", path.display()),
        })?;
        let store = LocalFileSystem::new().with_automatic_cleanup(true);
        let max_concurrent_requests = config.max_concurrent_requests.max(1);
        Ok(Self {
            location: format!("file://{}", text.trim_end_matches('/')),
            prefix: Path::from(text.trim_matches('/')),
            root: Root::Local,
            store: counted_and_limited(store, max_concurrent_requests, observer),
            max_concurrent_requests,
        })
    }

    /// The warehouse location URI, without a trailing slash (`file:///…` or `s3://bucket/…`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The shared object-store handle (rooted at `/` locally, at the bucket on S3): every
    /// request through it is counted and waits for one of
    /// [`Warehouse::max_concurrent_requests`].
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// How many requests the store serves at once (`[storage] max_concurrent_requests`): the
    /// most a caller's fan-out of requests gains from.
    pub fn max_concurrent_requests(&self) -> usize {
        self.max_concurrent_requests
    }

    /// The object path of the warehouse root inside [`Warehouse::object_store`].
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// Maps a file location (`file:///a/b`, `file:/a/b`, `/a/b`, `s3://bucket/key`) to its
    /// object path in this warehouse's store.
    ///
    /// Locations on another bucket or scheme are refused rather than guessed.
    pub fn object_path(&self, location: &str) -> Result<Path, StorageError> {
        let foreign = |reason: &str| StorageError::ForeignLocation {
            location: location.to_string(),
            warehouse: self.location.clone(),
            reason: reason.to_string(),
        };
        let key = match &self.root {
            Root::Local => {
                let path = location
                    .strip_prefix("file://")
                    .or_else(|| location.strip_prefix("file:"))
                    .unwrap_or(location);
                if !path.starts_with('/') {
                    return Err(foreign("a local location must be an absolute path"));
                }
                let normalized = normalize_local(std::path::Path::new(path));
                normalized
                    .to_str()
                    .ok_or_else(|| foreign("not valid UTF-8"))?
                    .trim_start_matches('/')
                    .to_string()
            }
            Root::S3 { bucket } => {
                let rest = ["s3://", "s3a://", "s3n://"]
                    .iter()
                    .find_map(|scheme| location.strip_prefix(scheme))
                    .ok_or_else(|| foreign("expected an s3:// location"))?;
                let (loc_bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if loc_bucket != bucket {
                    return Err(foreign("it is in another bucket"));
                }
                key.to_string()
            }
        };
        Path::parse(&key).map_err(|e| foreign(&e.to_string()))
    }

    /// The location URI of an object path in this warehouse's store (inverse of
    /// [`Warehouse::object_path`]).
    pub fn location_of(&self, path: &Path) -> String {
        match &self.root {
            Root::Local => format!("file:///{path}"),
            Root::S3 { bucket } => format!("s3://{bucket}/{path}"),
        }
    }
}

/// Removes `.` and `..` components without touching the filesystem.
fn normalize_local(path: &std::path::Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
