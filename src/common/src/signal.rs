//! The three observability signals SignalDB stores, one Iceberg table each.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One kind of observability data; each has its own table per tenant and dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Distributed-tracing spans, table `traces`.
    Traces,
    /// Log records, table `logs`.
    Logs,
    /// Metric data points, table `metrics`.
    Metrics,
}

impl Signal {
    /// Every signal, in the order reports list them.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

    /// The lowercase name, which is also the Iceberg table name.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    /// The signal whose table is named `table`, if any.
    pub fn from_table_name(table: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.as_str() == table)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a string that names no signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal `{0}`: expected one of traces, logs, metrics")]
pub struct UnknownSignal(pub String);

impl FromStr for Signal {
    type Err = UnknownSignal;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Signal::from_table_name(s).ok_or_else(|| UnknownSignal(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_signal() {
        for s in Signal::ALL {
            assert_eq!(s.as_str().parse::<Signal>().unwrap(), s);
            assert_eq!(s.to_string(), s.as_str());
        }
        assert!("spans".parse::<Signal>().is_err());
    }
}
