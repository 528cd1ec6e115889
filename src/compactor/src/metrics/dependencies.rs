//! The dependency families: object-store request attempts that failed retryably and catalog
//! statements that failed, recorded as they happen by the warehouse's and the catalog's
//! observers, whichever job or probe made the call.

use common::catalog::{CatalogErrorKind, CatalogObserver};
use common::storage::observe::{OPERATIONS, StorageObserver};
use std::collections::BTreeMap;

use prometheus::{IntCounterVec, Registry};

use super::families::counter;

/// `compactor_storage_retries_total` and `compactor_catalog_errors_total`.
#[derive(Clone, Debug)]
pub struct DependencyMetrics {
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
}
