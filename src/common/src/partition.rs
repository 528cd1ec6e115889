//! Time partitions: a table's data is partitioned by `hour(ts)` or `day(ts)` of its timestamp
//! column. A partition's value (hours or days since the epoch, an Iceberg `int` or `date`), its
//! label (`YYYY-MM-DD-HH` or `YYYY-MM-DD`, as Iceberg's human form and Spark/pyiceberg paths
//! spell it) and the data directory files of one partition are written to.

use std::fmt;

use chrono::DateTime;
use iceberg::spec::{Literal, PartitionKey, Struct, Transform};
use iceberg::writer::file_writer::location_generator::LocationGenerator;
use serde::{Deserialize, Serialize};

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

/// Hours in one day.
pub const HOURS_PER_DAY: i64 = 24;

/// The width of a time partition: the transform of its partition field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grain {
    /// `hour(ts)`: hours since the epoch, an Iceberg `int`.
    Hour,
    /// `day(ts)`: days since the epoch, an Iceberg `date`.
    Day,
}

impl Grain {
    /// The grain of a partition transform, if it is a time partition this code understands.
    pub fn of_transform(transform: Transform) -> Option<Grain> {
        match transform {
            Transform::Hour => Some(Grain::Hour),
            Transform::Day => Some(Grain::Day),
            _ => None,
        }
    }

    /// Hours in one partition of this grain.
    pub fn hours(self) -> i64 {
        match self {
            Grain::Hour => 1,
            Grain::Day => HOURS_PER_DAY,
        }
    }

    /// The transform's name, as Iceberg spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Hour => "hour",
            Grain::Day => "day",
        }
    }
}

/// One time partition: its grain and its value (hours or days since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimePartition {
    /// Hour or day.
    pub grain: Grain,
    /// Hours (for `hour`) or days (for `day`) since the epoch.
    pub value: i64,
}

/// Why a partition cannot be written as an Iceberg partition value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{grain} {value} is outside the range of Iceberg's {grain} partition value", grain = .0.grain.as_str(), value = .0.value)]
pub struct PartitionOutOfRange(pub TimePartition);

impl TimePartition {
    /// The `hour` partition `hour` (hours since the epoch).
    pub fn hour(hour: i64) -> Self {
        Self { grain: Grain::Hour, value: hour }
    }

    /// The `day` partition `day` (days since the epoch).
    pub fn day(day: i64) -> Self {
        Self { grain: Grain::Day, value: day }
    }

    /// The first hour (since the epoch) the partition holds.
    pub fn start_hour(self) -> i64 {
        self.value.saturating_mul(self.grain.hours())
    }

    /// The hours (since the epoch) the partition holds.
    pub fn hours(self) -> std::ops::Range<i64> {
        self.start_hour()..self.start_hour().saturating_add(self.grain.hours())
    }

    /// Whether this partition and `other` share an hour (of whatever grains).
    pub fn overlaps(self, other: TimePartition) -> bool {
        let (a, b) = (self.hours(), other.hours());
        a.start < b.end && b.start < a.end
    }

    /// The end of the partition (exclusive), in seconds since the epoch.
    pub fn end_secs(self) -> i64 {
        self.value.saturating_add(1).saturating_mul(self.grain.hours()).saturating_mul(3_600)
    }

    /// The partition of grain `grain` that holds all of this one, if there is one: a day
    /// holds its hours, an hour holds no day.
    pub fn within(self, grain: Grain) -> Option<TimePartition> {
        match (self.grain, grain) {
            (a, b) if a == b => Some(self),
            (Grain::Hour, Grain::Day) => Some(Self::day(self.value.div_euclid(HOURS_PER_DAY))),
            _ => None,
        }
    }

    /// The label: `YYYY-MM-DD-HH` for an hour, `YYYY-MM-DD` for a day (UTC).
    pub fn label(self) -> String {
        match self.grain {
            Grain::Hour => hour_label(self.value),
            Grain::Day => DateTime::from_timestamp(self.value.saturating_mul(86_400), 0)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| self.value.to_string()),
        }
    }

    /// The partition tuple of a table partitioned by this one field.
    pub fn to_struct(self) -> Result<Struct, PartitionOutOfRange> {
        let value = i32::try_from(self.value).map_err(|_| PartitionOutOfRange(self))?;
        let literal = match self.grain {
            Grain::Hour => Literal::int(value),
            Grain::Day => Literal::date(value),
        };
        Ok(Struct::from_iter([Some(literal)]))
    }
}

impl fmt::Display for TimePartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// The partition tuple `(hour)` of a table partitioned by `hour(timestamp)` alone.
pub fn hour_partition(hour: i64) -> Result<Struct, PartitionOutOfRange> {
    TimePartition::hour(hour).to_struct()
}

/// Places every file of one time partition under
/// `{table location}/data/{field}={label}/`, e.g. `…/data/timestamp_hour=2024-03-05-10/`.
///
/// iceberg-rust's default generator names the directory after the raw partition value
/// (`hour=473352`); readers do not care, but people listing the warehouse do.
#[derive(Debug, Clone)]
pub struct PartitionDirectory {
    dir: String,
}

impl PartitionDirectory {
    /// The data directory of `partition`, whose partition field is named `field`, in the
    /// table located at `table_location`.
    pub fn new(table_location: &str, field: &str, partition: TimePartition) -> Self {
        let location = table_location.trim_end_matches('/');
        Self { dir: format!("{location}/data/{field}={}", partition.label()) }
    }

    /// The data directory of `hour` in a table whose partition field is named `hour`.
    pub fn hour(table_location: &str, hour: i64) -> Self {
        Self::new(table_location, "hour", TimePartition::hour(hour))
    }

    /// The directory, without a trailing slash.
    pub fn dir(&self) -> &str {
        &self.dir
    }
}

impl LocationGenerator for PartitionDirectory {
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
        let too_far = TimePartition::hour(i64::from(i32::MAX) + 1);
        assert_eq!(hour_partition(too_far.value), Err(PartitionOutOfRange(too_far)));
        let dir = PartitionDirectory::hour("s3://b/wh/acme/prod/traces/", 473_352);
        assert_eq!(
            dir.generate_location(None, "f.parquet"),
            "s3://b/wh/acme/prod/traces/data/hour=2024-01-01-00/f.parquet"
        );
        let day = TimePartition::day(19_723);
        let dir = PartitionDirectory::new("/wh/t", "timestamp_day", day);
        assert_eq!(dir.dir(), "/wh/t/data/timestamp_day=2024-01-01");
        let hour = PartitionDirectory::new("/wh/t", "timestamp_hour", TimePartition::hour(473_362));
        assert_eq!(hour.dir(), "/wh/t/data/timestamp_hour=2024-01-01-10");
    }

    #[test]
    fn days_hold_their_hours_and_end_a_day_later() {
        let hour = TimePartition::hour(473_352 + 23);
        assert_eq!(hour.within(Grain::Day), Some(TimePartition::day(19_723)));
        assert_eq!(TimePartition::hour(-1).within(Grain::Day), Some(TimePartition::day(-1)));
        assert_eq!(TimePartition::day(1).within(Grain::Hour), None);
        assert_eq!(TimePartition::day(19_723).start_hour(), 473_352);
        assert_eq!(TimePartition::day(0).end_secs(), 86_400);
        assert_eq!(TimePartition::hour(0).end_secs(), 3_600);
        assert_eq!(TimePartition::day(19_723).label(), "2024-01-01");
        assert_eq!(Grain::of_transform(Transform::Bucket(4)), None);
        let day = TimePartition::day(19_723);
        assert!(day.overlaps(TimePartition::hour(473_352 + 23)));
        assert!(!day.overlaps(TimePartition::hour(473_352 + 24)));
        assert!(TimePartition::hour(473_352).overlaps(day));
    }
}
