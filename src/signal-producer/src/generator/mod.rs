//! Deterministic, OpenTelemetry-shaped rows for the tables of both layouts.
//!
//! Every file is generated from its own ChaCha8 stream, seeded from
//! `(seed, tenant, dataset, table, hour, file index)` only. A file's rows therefore do not
//! depend on which other files were generated before it, on concurrency, or on the clock: the
//! same arguments always produce the same rows, whatever order the writers run in.
//!
//! The rows describe a fixed fleet of about twenty services ([`fleet`]) calling each other;
//! [`traces`], [`logs`] and [`metrics`] each turn a random stream into one file's columns of
//! the classic layout, in the column order of `common::tables::schema`. [`signaldb`] turns the
//! same spans and log records, and its own metric points and profiles, into the columns of
//! SignalDB's layout, bound to the table's schema by name.

pub mod fleet;
pub mod logs;
pub mod metrics;
mod random;
mod rows;
pub mod signaldb;
mod spec;
pub mod traces;

pub use spec::{FileSpec, US_PER_HOUR, Window};

#[cfg(test)]
mod tests;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use common::TableKind;
use common::tables::Layout;

/// Generates the file's rows as a batch on `schema`, the Arrow form of the table's Iceberg
/// schema (so the Parquet field ids are carried through).
pub fn generate(spec: &FileSpec, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let mut rng = spec.rng();
    let fleet = fleet::Fleet::new(&spec.table.dataset);
    if spec.layout == Layout::Signaldb {
        return signaldb::generate(&mut rng, &fleet, spec, schema);
    }
    let columns = match spec.table.table {
        TableKind::Traces => traces::generate(&mut rng, &fleet, spec.window, spec.rows),
        TableKind::Logs => logs::generate(&mut rng, &fleet, spec.window, spec.rows),
        TableKind::Metrics => metrics::generate(&mut rng, &fleet, spec.window, spec.rows),
        other => {
            let message = format!("the {} layout has no `{other}` table", spec.layout);
            return Err(ArrowError::InvalidArgumentError(message));
        }
    };
    RecordBatch::try_new(schema.clone(), columns)
}
