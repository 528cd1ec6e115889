//! The dependency families: object-store requests and their bytes, request attempts that
//! failed retryably, and catalog statements that failed, recorded as they happen by the
//! warehouse's and the catalog's observers, whichever job or probe made the call.

use common::catalog::{CatalogErrorKind, CatalogObserver};
use common::storage::counted::{Operation, RequestObserver};
use common::storage::observe::{OPERATIONS, StorageObserver};
use std::collections::BTreeMap;

use prometheus::{IntCounterVec, Registry};

use super::families::counter;

/// `direction` label value of bytes GET requests returned.
const READ: &str = "read";
/// `direction` label value of bytes PUT requests stored.
const WRITE: &str = "write";

/// `compactor_storage_requests_total`, `compactor_storage_request_bytes_total`,
/// `compactor_storage_retries_total` and `compactor_catalog_errors_total`.
#[derive(Clone, Debug)]
pub struct DependencyMetrics {
    /// `compactor_storage_requests_total{operation}`: object-store requests by
    /// [`Operation`] (`GET`, `PUT`, `LIST`, `HEAD`, `DELETE`).
    pub storage_requests: IntCounterVec,
    /// `compactor_storage_request_bytes_total{direction}`: bytes GET requests returned
    /// (`read`) and PUT requests stored (`write`).
    pub storage_request_bytes: IntCounterVec,
    /// `compactor_storage_retries_total{operation}`: S3 request attempts that failed with an
    /// error object_store retries (5xx, 429, 408, connection refused, reset or timed out).
    pub storage_retries: IntCounterVec,
    /// `compactor_catalog_errors_total{kind}`: failed catalog statements and connection
    /// attempts, by [`CatalogErrorKind`].
    pub catalog_errors: IntCounterVec,
}

impl DependencyMetrics {
    /// Creates the group's families in `r` (exposed once [`Self::touch`] ran).
    pub fn new(r: &Registry) -> Self {
        Self {
            storage_requests: counter(
                r,
                "compactor_storage_requests_total",
                "Object-store requests by operation (GET, PUT, LIST, HEAD, DELETE): a multipart upload counts its start, each part and its completion as PUTs, a listing one LIST per page of 1,000 objects, a batched delete one DELETE per object.",
                &["operation"],
            ),
            storage_request_bytes: counter(
                r,
                "compactor_storage_request_bytes_total",
                "Bytes object-store GET requests returned (direction=read) and PUT requests stored (direction=write).",
                &["direction"],
            ),
            storage_retries: counter(
                r,
                "compactor_storage_retries_total",
                "Object-store request attempts that failed with an error object_store retries (5xx, 429, 408, refused, reset or timed-out connections), by S3 operation.",
                &["operation"],
            ),
            catalog_errors: counter(
                r,
                "compactor_catalog_errors_total",
                "Failed catalog statements and connection attempts, by kind (refused, unreachable, pool_timeout, statement_timeout, connection_lost, database, other).",
                &["kind"],
            ),
        }
    }

    /// Creates every label value's child at zero, so that `rate()` has a series to work on
    /// before the first failure.
    pub fn touch(&self) {
        for operation in Operation::ALL {
            self.storage_requests.with_label_values(&[operation.as_str()]);
        }
        for direction in [READ, WRITE] {
            self.storage_request_bytes.with_label_values(&[direction]);
        }
        for operation in OPERATIONS {
            self.storage_retries.with_label_values(&[operation]);
        }
        for kind in CatalogErrorKind::ALL {
            self.catalog_errors.with_label_values(&[kind.as_str()]);
        }
    }
}

/// The non-zero dependency counters of this process, for one-shot reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DependencyCounts {
    /// Retried S3 request attempts, by operation.
    pub storage_retries: BTreeMap<String, u64>,
    /// Failed catalog statements and connection attempts, by kind.
    pub catalog_errors: BTreeMap<String, u64>,
}

impl DependencyCounts {
    /// Whether every counter is zero.
    pub fn is_empty(&self) -> bool {
        self.storage_retries.is_empty() && self.catalog_errors.is_empty()
    }

    /// One line for text reports: `dependencies: storage retries put=3 get=1; catalog errors
    /// refused=2`.
    pub fn render_line(&self) -> String {
        let list = |map: &BTreeMap<String, u64>| {
            if map.is_empty() {
                return "none".to_string();
            }
            map.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
        };
        format!(
            "dependencies: storage retries {}; catalog errors {}\n",
            list(&self.storage_retries),
            list(&self.catalog_errors)
        )
    }
}

impl DependencyMetrics {
    /// The counters that are not zero.
    pub fn counts(&self) -> DependencyCounts {
        DependencyCounts {
            storage_retries: non_zero(&self.storage_retries, OPERATIONS.iter().copied()),
            catalog_errors: non_zero(
                &self.catalog_errors,
                CatalogErrorKind::ALL.iter().map(|k| k.as_str()),
            ),
        }
    }
}

/// The children of a one-label counter family among `values` that are not zero.
fn non_zero<'a>(
    family: &IntCounterVec,
    values: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<String, u64> {
    values
        .into_iter()
        .map(|value| (value, family.with_label_values(&[value]).get()))
        .filter(|(_, count)| *count > 0)
        .map(|(value, count)| (value.to_string(), count))
        .collect()
}

impl RequestObserver for DependencyMetrics {
    fn request(&self, operation: Operation, bytes: u64) {
        self.storage_requests.with_label_values(&[operation.as_str()]).inc();
        let direction = match operation {
            Operation::Get => READ,
            Operation::Put => WRITE,
            Operation::List | Operation::Head | Operation::Delete => return,
        };
        if bytes > 0 {
            self.storage_request_bytes.with_label_values(&[direction]).inc_by(bytes);
        }
    }
}

impl StorageObserver for DependencyMetrics {
    fn retryable_failure(&self, operation: &'static str) {
        self.storage_retries.with_label_values(&[operation]).inc();
    }
}

impl CatalogObserver for DependencyMetrics {
    fn catalog_error(&self, kind: CatalogErrorKind) {
        self.catalog_errors.with_label_values(&[kind.as_str()]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_failures_are_counted_and_reported_when_not_zero() {
        let metrics = DependencyMetrics::new(&Registry::new());
        assert!(metrics.counts().is_empty());
        metrics.retryable_failure("put");
        metrics.retryable_failure("put");
        metrics.catalog_error(CatalogErrorKind::Refused);
        let counts = metrics.counts();
        assert_eq!(counts.storage_retries, BTreeMap::from([("put".to_string(), 2)]));
        assert_eq!(counts.catalog_errors, BTreeMap::from([("refused".to_string(), 1)]));
        assert_eq!(
            counts.render_line(),
            "dependencies: storage retries put=2; catalog errors refused=1\n"
        );
    }

    #[test]
    fn requests_are_counted_by_operation_and_their_bytes_by_direction() {
        let metrics = DependencyMetrics::new(&Registry::new());
        metrics.request(Operation::Get, 100);
        metrics.request(Operation::Get, 20);
        metrics.request(Operation::Put, 7);
        metrics.request(Operation::Head, 0);
        metrics.request(Operation::Delete, 0);
        let requests = |op: &str| metrics.storage_requests.with_label_values(&[op]).get();
        assert_eq!([requests("GET"), requests("PUT"), requests("HEAD")], [2, 1, 1]);
        assert_eq!([requests("LIST"), requests("DELETE")], [0, 1]);
        let bytes = |dir: &str| metrics.storage_request_bytes.with_label_values(&[dir]).get();
        assert_eq!([bytes("read"), bytes("write")], [120, 7]);
    }
}
