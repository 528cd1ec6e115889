//! What a table's committed metadata says of it: live files (small ones counted apart),
//! bytes, manifests, snapshots, its oldest partition and the size of its metadata file.
//!
//! Read from the manifests (never by listing or opening data files) after every pass, so the
//! per-table gauges are true after each change, and by `compactor status`.

use std::collections::BTreeMap;

use common::partition::MICROS_PER_HOUR;
use iceberg::spec::DataContentType;
use iceberg::table::Table;
use serde::Serialize;

use crate::live_files::{ManifestCache, live_files_listed};
use crate::time_partition::current_time_field;

/// A table as its current metadata and manifests describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableState {
    /// Live data files.
    pub data_files: u64,
    /// Live data files smaller than the small-file threshold.
    pub small_files: u64,
    /// Live delete files (position and equality).
    pub delete_files: u64,
    /// Rows of the live delete files (deleted positions, or equality keys).
    pub delete_rows: u64,
    /// The live delete files by time partition (`YYYY-MM-DD-HH` or `YYYY-MM-DD`;
    /// `unpartitioned` for those whose partition is not a time partition, such as a global
    /// equality delete), oldest first; compaction applies them and removes them once they
    /// apply to no data file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deletes_by_partition: Vec<PartitionDeletes>,
    /// Bytes of the live data files.
    pub data_bytes: u64,
    /// Manifests the current snapshot lists.
    pub manifests: u64,
    /// Snapshots kept in the metadata.
    pub snapshots: u64,
    /// The first hour (since the epoch) of the oldest time partition holding data, if any.
    pub oldest_hour: Option<i64>,
    /// Size of the current metadata file.
    pub metadata_bytes: u64,
    /// Why the compactor cannot maintain the table (its current partition spec has no time
    /// partition it understands); `None` when it can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_maintainable: Option<String>,
    /// Live data files per time partition, by its first hour; files whose partition cannot be
    /// interpreted are not in it.
    #[serde(skip)]
    pub hours: BTreeMap<i64, HourFiles>,
}

/// The live delete files of one time partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PartitionDeletes {
    /// The partition's label, or `unpartitioned`.
    pub partition: String,
    /// Delete files.
    pub delete_files: u64,
    /// Their rows.
    pub delete_rows: u64,
}

/// The live data files of one time partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HourFiles {
    /// The hour (since the epoch) the partition ends at, exclusive: its first hour plus one for
    /// an hour, plus 24 for a day.
    pub end_hour: i64,
    /// Data files.
    pub files: u64,
    /// Those below the small-file threshold.
    pub small_files: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl TableState {
    /// Reads the state of `table`, counting data files below `small_file_bytes` as small;
    /// manifests and lists `cache` holds are not read again.
    pub async fn read(
        table: &Table,
        small_file_bytes: u64,
        cache: &ManifestCache,
    ) -> iceberg::Result<Self> {
        let md = table.metadata();
        // The metadata file's size is asked for while the manifests are read: one round trip
        // to the object store less.
        let files = async {
            let list = cache.list(table).await?;
            let files = live_files_listed(table, &list, cache).await?;
            Ok::<_, iceberg::Error>((list, files))
        };
        let ((list, files), metadata_bytes) = futures::try_join!(files, metadata_bytes(table))?;
        let mut state = Self {
            metadata_bytes,
            manifests: list.len() as u64,
            snapshots: md.snapshots().len() as u64,
            not_maintainable: current_time_field(md).err().map(|e| e.to_string()),
            ..Self::default()
        };
        let mut deletes: BTreeMap<(i64, String), PartitionDeletes> = BTreeMap::new();
        for file in &files {
            if file.content != DataContentType::Data {
                state.delete_files += 1;
                state.delete_rows += file.records;
                let (start, partition) = match file.partition {
                    Some(p) => (p.start_hour(), p.label()),
                    None => (i64::MIN, "unpartitioned".to_string()),
                };
                let d = deletes.entry((start, partition.clone())).or_insert_with(|| {
                    PartitionDeletes { partition, ..PartitionDeletes::default() }
                });
                d.delete_files += 1;
                d.delete_rows += file.records;
                continue;
            }
            let small = u64::from(file.size < small_file_bytes);
            state.data_files += 1;
            state.data_bytes += file.size;
            state.small_files += small;
            if let Some(partition) = file.partition {
                let hours = partition.hours();
                let h = state.hours.entry(hours.start).or_default();
                h.end_hour = h.end_hour.max(hours.end);
                h.files += 1;
                h.small_files += small;
                h.bytes += file.size;
            }
        }
        state.deletes_by_partition = deletes.into_values().collect();
        state.oldest_hour = state.hours.keys().next().copied();
        Ok(state)
    }

    /// The start of the oldest partition, in seconds since the epoch.
    pub fn oldest_partition_seconds(&self) -> Option<i64> {
        self.oldest_hour.map(|h| h * (MICROS_PER_HOUR / 1_000_000))
    }

    /// The partitions that end at or before `hour` (hours since the epoch).
    pub fn ended_by(&self, hour: i64) -> impl Iterator<Item = &HourFiles> {
        self.hours.range(..hour).map(|(_, h)| h).filter(move |h| h.end_hour <= hour)
    }

    /// The files of the partitions that end at or before `hour` (hours since the epoch),
    /// summed: an hour before it, or a day whose last hour is.
    pub fn before(&self, hour: i64) -> HourFiles {
        self.ended_by(hour).fold(HourFiles::default(), |sum, h| HourFiles {
            end_hour: sum.end_hour.max(h.end_hour),
            files: sum.files + h.files,
            small_files: sum.small_files + h.small_files,
            bytes: sum.bytes + h.bytes,
        })
    }

    /// Average size of a live data file, 0 without files.
    pub fn average_file_bytes(&self) -> u64 {
        self.data_bytes.checked_div(self.data_files).unwrap_or(0)
    }
}

/// The size of `table`'s metadata file (0 when it has none).
async fn metadata_bytes(table: &Table) -> iceberg::Result<u64> {
    match table.metadata_location() {
        Some(location) => Ok(table.file_io().new_input(location)?.metadata().await?.size),
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{BASE_HOUR, Fixture};

    #[tokio::test]
    async fn the_state_counts_live_files_small_files_manifests_and_the_oldest_hour() {
        let fx = Fixture::new().await;
        let empty = TableState::read(&fx.load().await, 1, &ManifestCache::new()).await.unwrap();
        assert_eq!((empty.data_files, empty.manifests, empty.oldest_hour), (0, 0, None));
        assert!(empty.metadata_bytes > 0, "a new table has a metadata file");

        fx.fill(&[BASE_HOUR + 1, BASE_HOUR], 2, 10).await;
        let table = fx.load().await;
        let all = TableState::read(&table, u64::MAX, &ManifestCache::new()).await.unwrap();
        assert_eq!((all.data_files, all.small_files, all.delete_files), (4, 4, 0));
        assert_eq!((all.manifests, all.snapshots), (2, 2));
        assert_eq!(all.oldest_hour, Some(BASE_HOUR));
        assert_eq!(all.oldest_partition_seconds(), Some(BASE_HOUR * 3600));
        assert_eq!(all.average_file_bytes(), all.data_bytes / 4);
        assert!(all.metadata_bytes > empty.metadata_bytes, "two snapshots more");
        let before = all.before(BASE_HOUR + 1);
        assert_eq!((before.files, before.small_files), (2, 2));
        assert_eq!(all.before(BASE_HOUR + 2).bytes, all.data_bytes);
        assert_eq!(all.before(BASE_HOUR), HourFiles::default());
        let none_small = TableState::read(&table, 1, &ManifestCache::new()).await.unwrap();
        assert_eq!(none_small.small_files, 0);

        fx.add_position_delete(BASE_HOUR).await;
        let with_delete =
            TableState::read(&fx.load().await, u64::MAX, &ManifestCache::new()).await.unwrap();
        assert_eq!((with_delete.data_files, with_delete.delete_files), (4, 1));
        assert_eq!(with_delete.delete_rows, 1);
        let label = common::partition::hour_label(BASE_HOUR);
        assert_eq!(
            with_delete.deletes_by_partition,
            [PartitionDeletes { partition: label, delete_files: 1, delete_rows: 1 }]
        );
    }

    #[test]
    fn a_day_counts_as_before_an_hour_only_once_its_last_hour_is() {
        let day = HourFiles { end_hour: BASE_HOUR + 24, files: 3, small_files: 3, bytes: 30 };
        let state = TableState { hours: [(BASE_HOUR, day)].into(), ..TableState::default() };
        assert_eq!(state.before(BASE_HOUR + 23).files, 0, "its last hour has not ended");
        assert_eq!(state.before(BASE_HOUR + 24).files, 3);
        assert_eq!(state.ended_by(BASE_HOUR + 1).count(), 0);
    }
}
