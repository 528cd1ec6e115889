//! Which live delete files apply to which live data files, by the Iceberg spec's rules (the
//! same Java's `DeleteFileIndex` and iceberg-rust's scan planning follow):
//!
//! - a **position** delete file applies to the data files of its own spec and partition tuple
//!   whose data sequence number is at most its own, and only to the one file it names when it
//!   is file-scoped;
//! - an **equality** delete file applies to the data files of its own spec and partition tuple
//!   whose data sequence number is strictly lower than its own; one written with an
//!   unpartitioned spec applies to every partition (a global delete).
//!
//! Compaction uses the index to attach deletes to what it reads, to choose partitions whose
//! deletes are worth applying, to refuse a commit that would undo a delete committed since
//! its plan, and to find delete files that no longer apply to anything.

use std::collections::HashMap;

use iceberg::spec::{DataContentType, Struct};

use crate::live_files::LiveFile;

/// The live delete files of one snapshot, by the spec and partition tuple they apply to.
#[derive(Debug, Default)]
pub(crate) struct DeleteIndex<'a> {
    /// Position and partition-scoped equality deletes, by (spec id, partition tuple).
    by_partition: HashMap<(i32, &'a Struct), Vec<&'a LiveFile>>,
    /// Equality deletes of an unpartitioned spec: they apply to every data file.
    global: Vec<&'a LiveFile>,
}

impl<'a> DeleteIndex<'a> {
    /// The index of the delete files among `files` (data files are ignored).
    pub(crate) fn new(files: impl IntoIterator<Item = &'a LiveFile>) -> Self {
        let mut index = Self::default();
        for f in files.into_iter().filter(|f| f.content != DataContentType::Data) {
            if f.content == DataContentType::EqualityDeletes
                && f.partition_value.fields().is_empty()
            {
                index.global.push(f);
            } else {
                index.by_partition.entry((f.spec_id, &f.partition_value)).or_default().push(f);
            }
        }
        index
    }

    /// Whether the snapshot has no live delete file.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.global.is_empty() && self.by_partition.is_empty()
    }

    /// The delete files that apply to the data file `data`.
    pub(crate) fn applying_to(&self, data: &LiveFile) -> Vec<&'a LiveFile> {
        let local = self.by_partition.get(&(data.spec_id, &data.partition_value));
        self.global
            .iter()
            .chain(local.into_iter().flatten())
            .copied()
            .filter(|d| applies(d, data))
            .collect()
    }
}

/// Whether the delete file `delete` applies to the data file `data`: the same spec and
/// partition tuple (any, for a global equality delete), then [`applies`].
pub(crate) fn reaches(delete: &LiveFile, data: &LiveFile) -> bool {
    let global = delete.content == DataContentType::EqualityDeletes
        && delete.partition_value.fields().is_empty();
    let same_partition =
        delete.spec_id == data.spec_id && delete.partition_value == data.partition_value;
    (global || same_partition) && applies(delete, data)
}

/// Whether the delete file `delete` applies to the data file `data`, by sequence number and
/// scope; the spec and partition tuple are the index's (or [`reaches`]') to match. A file without a sequence
/// number (a v1 manifest) is treated as the oldest, so nothing is ever wrongly taken to be
/// out of a delete's reach.
pub(crate) fn applies(delete: &LiveFile, data: &LiveFile) -> bool {
    let data_seq = data.sequence_number.unwrap_or(0);
    let delete_seq = delete.sequence_number.unwrap_or(i64::MAX);
    match delete.content {
        DataContentType::PositionDeletes => {
            delete_seq >= data_seq
                && delete.referenced_data_file.as_ref().is_none_or(|p| *p == data.path)
        }
        DataContentType::EqualityDeletes => delete_seq > data_seq,
        DataContentType::Data => false,
    }
}

/// The rows of delete files among `deletes` when only position deletes apply: at most that
/// many rows are removed. `None` when an equality delete applies, since one key may match any
/// number of rows.
pub(crate) fn positions_at_most(deletes: &[&LiveFile]) -> Option<u64> {
    deletes.iter().try_fold(0u64, |sum, d| match d.content {
        DataContentType::PositionDeletes => Some(sum + d.records),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use iceberg::spec::Literal;

    use super::*;

    fn file(path: &str, content: DataContentType, hour: i32, seq: i64) -> LiveFile {
        LiveFile {
            path: path.to_string(),
            content,
            spec_id: 0,
            partition: None,
            size: 100,
            records: 10,
            row_groups: None,
            sort_order_id: None,
            sequence_number: Some(seq),
            partition_value: Struct::from_iter([Some(Literal::int(hour))]),
            referenced_data_file: None,
            equality_ids: None,
        }
    }

    fn paths(deletes: Vec<&LiveFile>) -> Vec<&str> {
        deletes.iter().map(|d| d.path.as_str()).collect()
    }

    #[test]
    fn position_deletes_apply_to_older_or_same_sequence_files_of_their_partition() {
        let data = file("d", DataContentType::Data, 5, 3);
        let newer_data = file("n", DataContentType::Data, 5, 4);
        let other_hour = file("o", DataContentType::Data, 6, 1);
        let pos = file("p", DataContentType::PositionDeletes, 5, 3);
        let files = [pos.clone()];
        let index = DeleteIndex::new(&files);
        assert_eq!(paths(index.applying_to(&data)), ["p"], "same sequence number applies");
        assert!(index.applying_to(&newer_data).is_empty(), "later data is out of reach");
        assert!(index.applying_to(&other_hour).is_empty(), "another partition");
        let other_spec = LiveFile { spec_id: 1, ..data.clone() };
        assert!(index.applying_to(&other_spec).is_empty(), "another spec");

        let scoped = LiveFile { referenced_data_file: Some("x".into()), ..pos };
        let files = [scoped];
        let index = DeleteIndex::new(&files);
        assert!(index.applying_to(&data).is_empty(), "scoped to another file");
        let x = LiveFile { path: "x".into(), ..data };
        assert_eq!(paths(index.applying_to(&x)), ["p"]);
    }

    #[test]
    fn equality_deletes_apply_to_strictly_older_files_and_unpartitioned_ones_everywhere() {
        let data = file("d", DataContentType::Data, 5, 3);
        let eq_same = file("e3", DataContentType::EqualityDeletes, 5, 3);
        let eq_later = file("e4", DataContentType::EqualityDeletes, 5, 4);
        let global = LiveFile {
            partition_value: Struct::empty(),
            spec_id: 7,
            ..file("g", DataContentType::EqualityDeletes, 0, 9)
        };
        let files = [eq_same, eq_later, global];
        let index = DeleteIndex::new(&files);
        let mut applying = paths(index.applying_to(&data));
        applying.sort_unstable();
        assert_eq!(applying, ["e4", "g"]);
        let other_hour = file("o", DataContentType::Data, 9, 1);
        assert_eq!(paths(index.applying_to(&other_hour)), ["g"]);
        assert!(!index.is_empty());
        let data_only = [data];
        assert!(DeleteIndex::new(&data_only).is_empty());
    }

    #[test]
    fn reaches_matches_what_the_index_finds() {
        let data = file("d", DataContentType::Data, 5, 3);
        let files = [
            file("p", DataContentType::PositionDeletes, 5, 3),
            file("p6", DataContentType::PositionDeletes, 6, 3),
            file("e", DataContentType::EqualityDeletes, 5, 3),
            LiveFile {
                partition_value: Struct::empty(),
                ..file("g", DataContentType::EqualityDeletes, 0, 4)
            },
        ];
        let index = DeleteIndex::new(&files);
        let found = paths(index.applying_to(&data));
        let reached: Vec<&str> =
            files.iter().filter(|d| reaches(d, &data)).map(|d| d.path.as_str()).collect();
        let (mut found, mut reached) = (found, reached);
        found.sort_unstable();
        reached.sort_unstable();
        assert_eq!(found, reached);
        assert_eq!(found, ["g", "p"]);
    }

    #[test]
    fn only_position_deletes_bound_the_rows_removed() {
        let pos = file("p", DataContentType::PositionDeletes, 5, 3);
        let eq = file("e", DataContentType::EqualityDeletes, 5, 3);
        assert_eq!(positions_at_most(&[&pos, &pos]), Some(20));
        assert_eq!(positions_at_most(&[&pos, &eq]), None);
        assert_eq!(positions_at_most(&[]), Some(0));
    }
}
