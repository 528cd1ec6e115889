//! The tables the compactor maintains, by name: which signal each holds.
//!
//! A tenant's namespace holds one table per kind it writes. Today's layout has `traces`, `logs`
//! and `metrics`; SignalDB's writer splits metrics into one table per OpenTelemetry metric type
//! (`metrics_gauge`, `metrics_sum`, …) and adds `profiles`. A table's kind decides its signal,
//! and so its retention period and default sort columns; a name outside this list is not a
//! signal table and is never touched.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::signal::Signal;

/// A signal table's name, which says the signal it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    /// `traces`: spans.
    Traces,
    /// `logs`: log records.
    Logs,
    /// `metrics`: every metric data point in one table.
    Metrics,
    /// `metrics_gauge`: gauge data points.
    MetricsGauge,
    /// `metrics_sum`: sum (counter) data points.
    MetricsSum,
    /// `metrics_histogram`: explicit-bucket histogram data points.
    MetricsHistogram,
    /// `metrics_exponential_histogram`: exponential histogram data points.
    MetricsExponentialHistogram,
    /// `metrics_summary`: summary data points.
    MetricsSummary,
    /// `profiles`: profiling samples.
    Profiles,
}

impl TableKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [TableKind; 9] = [
        TableKind::Traces,
        TableKind::Logs,
        TableKind::Metrics,
        TableKind::MetricsGauge,
        TableKind::MetricsSum,
        TableKind::MetricsHistogram,
        TableKind::MetricsExponentialHistogram,
        TableKind::MetricsSummary,
        TableKind::Profiles,
    ];

    /// The tables of today's layout: one per signal, named after it.
    pub const SIGNAL_NAMED: [TableKind; 3] =
        [TableKind::Traces, TableKind::Logs, TableKind::Metrics];

    /// The tables SignalDB's own writer creates in every dataset.
    pub const SIGNALDB: [TableKind; 8] = [
        TableKind::Traces,
        TableKind::Logs,
        TableKind::MetricsGauge,
        TableKind::MetricsSum,
        TableKind::MetricsHistogram,
        TableKind::MetricsExponentialHistogram,
        TableKind::MetricsSummary,
        TableKind::Profiles,
    ];

    /// The table's name in its namespace.
    pub fn as_str(self) -> &'static str {
        match self {
            TableKind::Traces => "traces",
            TableKind::Logs => "logs",
            TableKind::Metrics => "metrics",
            TableKind::MetricsGauge => "metrics_gauge",
            TableKind::MetricsSum => "metrics_sum",
            TableKind::MetricsHistogram => "metrics_histogram",
            TableKind::MetricsExponentialHistogram => "metrics_exponential_histogram",
            TableKind::MetricsSummary => "metrics_summary",
            TableKind::Profiles => "profiles",
        }
    }

    /// The signal the table holds.
    pub fn signal(self) -> Signal {
        match self {
            TableKind::Traces => Signal::Traces,
            TableKind::Logs => Signal::Logs,
            TableKind::Metrics
            | TableKind::MetricsGauge
            | TableKind::MetricsSum
            | TableKind::MetricsHistogram
            | TableKind::MetricsExponentialHistogram
            | TableKind::MetricsSummary => Signal::Metrics,
            TableKind::Profiles => Signal::Profiles,
        }
    }

    /// The kind of the table named `name`, if it is a signal table.
    pub fn from_name(name: &str) -> Option<TableKind> {
        TableKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for TableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a string that names no signal table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown table `{0}`: expected one of {names}", names = TableKind::ALL.map(TableKind::as_str).join(", "))]
pub struct UnknownTable(pub String);

impl FromStr for TableKind {
    type Err = UnknownTable;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TableKind::from_name(s).ok_or_else(|| UnknownTable(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_names_its_signal() {
        for k in TableKind::ALL {
            assert_eq!(k.as_str().parse::<TableKind>().unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(TableKind::MetricsExponentialHistogram.signal(), Signal::Metrics);
        assert_eq!(TableKind::Profiles.signal(), Signal::Profiles);
        assert!(TableKind::from_name("metrics_foo").is_none());
        assert!(TableKind::from_name("spans").is_none());
        for s in TableKind::SIGNAL_NAMED {
            assert_eq!(s.as_str(), s.signal().as_str());
        }
    }
}
