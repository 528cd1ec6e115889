//! The building blocks of the metric families: label sets, outcome values, duration buckets
//! and the constructors that register a family in a registry.

use common::tables::TableId;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Histogram buckets for job and cycle durations, in seconds: from an empty pass (well under a
/// second) to a multi-hour rewrite of a large table.
pub(crate) const DURATION_BUCKETS: &[f64] =
    &[0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0];

/// Label names of families keyed by a table's signal.
pub(super) const SIGNAL_LABELS: &[&str] = &["tenant", "dataset", "signal"];
/// Label names of families keyed by a table.
pub(super) const TABLE_LABELS: &[&str] = &["tenant", "dataset", "table"];
/// Label names of families keyed by a dataset.
pub(super) const DATASET_LABELS: &[&str] = &["tenant", "dataset"];
/// Label names of per-table, per-job failure families.
pub(super) const TABLE_FAILURE_LABELS: &[&str] = &["tenant", "dataset", "table", "task", "kind"];
/// Label name of per-scheduler families: the maintenance job. It is `task`, not `job`, because
/// Prometheus attaches its own `job` label (the scrape target's) to every series and would
/// rename ours to `exported_job`.
pub(super) const TASK_LABELS: &[&str] = &["task"];
/// Label names of per-scheduler cycle outcomes.
pub(super) const TASK_OUTCOME_LABELS: &[&str] = &["task", "outcome"];

/// `outcome` label value of a cycle that succeeded.
pub(crate) const OUTCOME_SUCCESS: &str = "success";
/// `outcome` label value of a cycle that failed.
pub(crate) const OUTCOME_FAILURE: &str = "failure";

/// The label values identifying `table` in every per-table family, in label order: they serve
/// both `{tenant, dataset, signal}` and `{tenant, dataset, table}` families.
pub(crate) fn table_labels(table: &TableId) -> [&str; 3] {
    [&table.tenant, &table.dataset, table.table.as_str()]
}

/// Creates and registers an integer counter family.
pub(super) fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(r, IntCounterVec::new(Opts::new(name, help), labels))
}

/// Creates and registers an integer gauge family.
pub(super) fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(r, IntGaugeVec::new(Opts::new(name, help), labels))
}

/// Creates and registers a duration histogram family with [`DURATION_BUCKETS`].
pub(super) fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec());
    register(r, HistogramVec::new(opts, labels))
}

/// Registers a freshly built family; the definitions are static, so a failure here is a
/// programming error (an invalid or duplicate name) that every test run would catch.
pub(super) fn register<C>(r: &Registry, family: prometheus::Result<C>) -> C
where
    C: prometheus::core::Collector + Clone + 'static,
{
    let family = family.expect("metric definition is valid");
    r.register(Box::new(family.clone())).expect("metric family is registered once");
    family
}
