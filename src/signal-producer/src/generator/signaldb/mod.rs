//! Rows for the tables of SignalDB's layout (`common::tables::signaldb`).
//!
//! `traces` and `logs` hold the same spans and log records as the classic tables (the same
//! random draws, then a few more for the columns only this layout has), with attributes as
//! `map<string, string>` columns and OpenTelemetry's instrumentation scopes. The metrics tables
//! each hold one OpenTelemetry point type ([`metrics`], [`histograms`]); [`profiles`] holds
//! CPU and allocation profiles with JSON stack traces and samples.
//!
//! Every table has `timestamp` (microseconds, no zone) and the two columns SignalDB derives
//! from it: `date_day` and `hour`, the hour of the day (0–23, UTC). Columns are bound to the
//! table's schema by name ([`columns::Columns`]).

pub mod columns;
pub mod histograms;
pub mod logs;
pub mod metrics;
pub mod profiles;
pub mod scope;
pub mod traces;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use common::TableKind;
use rand::Rng;

use super::fleet::Fleet;
use super::spec::FileSpec;

/// Generates the file's rows of a SignalDB table as a batch on `schema`, the Arrow form of the
/// table's current Iceberg schema.
pub fn generate(
    rng: &mut impl Rng,
    fleet: &Fleet,
    spec: &FileSpec,
    schema: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    let (window, rows) = (spec.window, spec.rows);
    let columns = match spec.table.table {
        TableKind::Traces => traces::generate(rng, fleet, window, rows),
        TableKind::Logs => logs::generate(rng, fleet, window, rows),
        TableKind::MetricsGauge => metrics::gauge(rng, fleet, window, rows),
        TableKind::MetricsSum => metrics::sum(rng, fleet, window, rows),
        TableKind::MetricsHistogram => histograms::histogram(rng, fleet, window, rows),
        TableKind::MetricsExponentialHistogram => histograms::exponential(rng, fleet, window, rows),
        TableKind::MetricsSummary => histograms::summary(rng, fleet, window, rows),
        TableKind::Profiles => profiles::generate(rng, fleet, window, rows),
        TableKind::Metrics => {
            let message = "the signaldb layout has no `metrics` table".to_string();
            return Err(ArrowError::InvalidArgumentError(message));
        }
    };
    columns.into_batch(schema)
}

#[cfg(test)]
mod tests;
