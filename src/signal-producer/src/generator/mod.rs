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
pub mod signaldb;
pub mod traces;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{ArrowError, SchemaRef};
use common::TableKind;
use common::tables::{Layout, TableId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::checksum::Fnv64;

/// Microseconds in one hour.
pub const US_PER_HOUR: i64 = 3_600_000_000;

/// Arrow's name for the UTC time zone used by Iceberg `timestamptz` columns.
const UTC: &str = "+00:00";

/// A half-open span of time, in microseconds since the epoch, that a file's timestamps fall in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First possible timestamp.
    pub start_us: i64,
    /// One past the last possible timestamp.
    pub end_us: i64,
}

impl Window {
    /// The whole hour `hour` (hours since the epoch).
    pub fn hour(hour: i64) -> Self {
        Self { start_us: hour * US_PER_HOUR, end_us: (hour + 1) * US_PER_HOUR }
    }

    /// A uniformly random timestamp inside the window.
    pub fn sample(&self, rng: &mut impl Rng) -> i64 {
        rng.random_range(self.start_us..self.end_us)
    }

    /// `ts` moved back inside the window when it falls past its end.
    pub fn clamp(&self, ts: i64) -> i64 {
        ts.clamp(self.start_us, self.end_us - 1)
    }
}

/// Everything that determines one generated file.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// The run's `--seed`.
    pub seed: u64,
    /// The layout the table belongs to; with the table, it selects the generator.
    pub layout: Layout,
    /// The table the file belongs to.
    pub table: TableId,
    /// Hour partition (hours since the epoch) the file is written to.
    pub hour: i64,
    /// Index of the file within its hour.
    pub file_index: u32,
    /// Where the timestamps fall; always inside `hour`.
    pub window: Window,
    /// Number of rows.
    pub rows: usize,
}

impl FileSpec {
    /// The random stream of this file, a function of its identity only.
    pub fn rng(&self) -> ChaCha8Rng {
        let mut h = Fnv64::default();
        h.write_u64(self.seed);
        h.write_str(&self.table.tenant);
        h.write_str(&self.table.dataset);
        h.write_str(self.table.table.as_str());
        h.write_i64(self.hour);
        h.write_u64(u64::from(self.file_index));
        // Spread the 64-bit digest over the 256-bit ChaCha key with SplitMix64.
        let mut state = h.finish();
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        ChaCha8Rng::from_seed(key)
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

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

/// A timestamp column in the `timestamptz` Arrow type.
fn timestamps(values: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone(UTC))
}

/// A string column of one field of `rows`.
fn strings<T>(rows: &[T], field: impl Fn(&T) -> &str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(field)))
}

/// A nullable string column of one field of `rows`.
fn opt_strings<T>(rows: &[T], field: impl Fn(&T) -> Option<&str>) -> ArrayRef {
    Arc::new(rows.iter().map(field).collect::<StringArray>())
}

/// A W3C trace id: 32 lowercase hex characters, never all zero.
fn trace_id(rng: &mut impl Rng) -> String {
    format!("{:032x}", rng.random::<u128>().max(1))
}

/// A W3C span id: 16 lowercase hex characters, never all zero.
fn span_id(rng: &mut impl Rng) -> String {
    format!("{:016x}", rng.random::<u64>().max(1))
}

/// A log-normal sample with the given median and shape `sigma` (Box–Muller).
fn log_normal(rng: &mut impl Rng, median: f64, sigma: f64) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median * (sigma * z).exp()
}

/// Picks an item with probability proportional to its weight.
fn weighted<'a, T>(rng: &mut impl Rng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (item, w) in items {
        if pick < *w {
            return item;
        }
        pick -= w;
    }
    unreachable!("pick is below the total weight")
}

/// Picks one element of a non-empty slice.
fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Sorts generated rows by timestamp (stable, so equal timestamps keep generation order).
fn sort_by_time<T>(rows: &mut [T], ts: impl Fn(&T) -> i64) {
    rows.sort_by_key(ts);
}
