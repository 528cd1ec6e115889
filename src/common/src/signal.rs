//! The four observability signals SignalDB stores. Each signal has its own retention and sort
//! defaults; the tables that hold a signal are its [`TableKind`](crate::table_kind::TableKind)s.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One kind of observability data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// Distributed-tracing spans.
    Traces,
    /// Log records.
    Logs,
    /// Metric data points (one table, or one per OpenTelemetry metric type).
    Metrics,
    /// Continuous-profiling samples.
    Profiles,
}

impl Signal {
    /// Every signal, in the order reports list them.
    pub const ALL: [Signal; 4] = [Signal::Traces, Signal::Logs, Signal::Metrics, Signal::Profiles];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
            Signal::Profiles => "profiles",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a string that names no signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal `{0}`: expected one of traces, logs, metrics, profiles")]
pub struct UnknownSignal(pub String);

impl FromStr for Signal {
    type Err = UnknownSignal;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Signal::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| UnknownSignal(s.to_string()))
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
        assert!("metrics_sum".parse::<Signal>().is_err());
    }
}
