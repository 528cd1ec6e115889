//! The `hour` partition: its value (hours since the epoch, an Iceberg `int`), its label
//! `YYYY-MM-DD-HH`, and the data directory files of one hour are written to.

use chrono::DateTime;
use iceberg::spec::{Literal, PartitionKey, Struct};
use iceberg::writer::file_writer::location_generator::LocationGenerator;

/// Microseconds in one hour.
pub const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// `YYYY-MM-DD-HH` (UTC) of an hour counted since the epoch: the partition directory's value,
/// as Iceberg's human form of the `hour` transform (and Spark/pyiceberg paths) spell it.
pub fn hour_label(hour: i64) -> String {
    DateTime::from_timestamp(hour.saturating_mul(3_600), 0)
        .map(|t| t.format("%Y-%m-%d-%H").to_string())
        .unwrap_or_else(|| hour.to_string())
}

/// The hour (since the epoch) containing a timestamp in microseconds.
pub fn hour_of_micros(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_HOUR)
}

/// Why an hour cannot be an Iceberg `hour` partition value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hour {0} is outside the range of Iceberg's int hour partition value")]
pub struct HourOutOfRange(pub i64);

/// The partition tuple `(hour)` of a signal table for `hour`.
pub fn hour_partition(hour: i64) -> Result<Struct, HourOutOfRange> {
    let value = i32::try_from(hour).map_err(|_| HourOutOfRange(hour))?;
    Ok(Struct::from_iter([Some(Literal::int(value))]))
}

/// Places every file under `{table location}/data/hour=YYYY-MM-DD-HH/`.
///
/// iceberg-rust's default generator names the directory after the raw partition value
/// (`hour=473352`); readers do not care, but people listing the warehouse do.
#[derive(Debug, Clone)]
pub struct HourDirectory {
    dir: String,
}

impl HourDirectory {
    /// The data directory of `hour` in the table located at `table_location`.
    pub fn new(table_location: &str, hour: i64) -> Self {
        let location = table_location.trim_end_matches('/');
        Self { dir: format!("{location}/data/hour={}", hour_label(hour)) }
    }

    /// The directory, without a trailing slash.
    pub fn dir(&self) -> &str {
        &self.dir
    }
}

impl LocationGenerator for HourDirectory {
    fn generate_location(&self, _partition_key: Option<&PartitionKey>, file_name: &str) -> String {
        format!("{}/{file_name}", self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_labels_are_utc_and_zero_padded() {
        assert_eq!(hour_label(0), "1970-01-01-00");
        // 2024-01-01T00:00:00Z
        assert_eq!(hour_label(473_352), "2024-01-01-00");
        assert_eq!(hour_label(473_352 + 23), "2024-01-01-23");
        assert_eq!(hour_label(hour_of_micros(MICROS_PER_HOUR * 25 - 1)), "1970-01-02-00");
        assert_eq!(hour_label(hour_of_micros(-1)), "1969-12-31-23");
    }

    #[test]
    fn partition_values_and_directories() {
        assert!(hour_partition(473_352).is_ok());
        assert_eq!(hour_partition(i64::from(i32::MAX) + 1), Err(HourOutOfRange(2_147_483_648)));
        let dir = HourDirectory::new("s3://b/wh/acme/prod/traces/", 473_352);
        assert_eq!(
            dir.generate_location(None, "f.parquet"),
            "s3://b/wh/acme/prod/traces/data/hour=2024-01-01-00/f.parquet"
        );
    }
}
