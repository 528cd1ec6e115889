//! Merging small data manifests: once a snapshot would list more manifests than a table
//! allows (Java's `commit.manifest.min-count-to-merge`), the live entries of its small data
//! manifests are rewritten, clustered by `hour`, into manifests near a target size (Java's
//! `commit.manifest.target-size-bytes`).
//!
//! A streaming writer commits one manifest per append, so without merging every query plan
//! (ours and every reader's) reads one manifest per commit ever made. Merged entries stay
//! EXISTING with the snapshot id and sequence numbers they had, so readers see the same files
//! with the same sequence semantics; DELETED entries of older snapshots are dropped, as any
//! manifest rewrite does. Delete manifests are never merged.

use std::collections::BTreeMap;

use iceberg::spec::{ManifestContentType, ManifestFile, TableMetadata};
use serde::Serialize;

use super::error::SnapshotError;
use super::manifests::{Entry, NewFiles, Survivors, Unstored, fill_existing, spec_of};
use crate::live_files::time_value;

/// What one snapshot's merge did, for its summary and the compaction report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ManifestMerge {
    /// Manifests whose entries were rewritten (dropped from the new list).
    pub replaced: usize,
    /// Merged manifests written.
    pub created: usize,
    /// Live entries carried into the merged manifests.
    pub entries: usize,
    /// Manifests of the parent listed again as they are.
    pub kept: usize,
}

impl ManifestMerge {
    /// Adds what `other` replaced, created and carried to this (what one snapshot kept does
    /// not add up over several).
    pub fn add(&mut self, other: ManifestMerge) {
        self.replaced += other.replaced;
        self.created += other.created;
        self.entries += other.entries;
    }
}

/// The entries of the manifests being merged, by partition spec.
#[derive(Default)]
pub(super) struct MergePool {
    by_spec: BTreeMap<i32, Vec<Entry>>,
    /// Bytes of the manifests merged.
    bytes: u64,
    /// Entries those manifests held, DELETED ones included.
    entries_read: usize,
    /// Manifests merged.
    replaced: usize,
}

impl MergePool {
    /// Adds the live `entries` of `file` (which held `entries_read` entries) to the pool.
    pub(super) fn add(
        &mut self,
        metadata: &TableMetadata,
        file: &ManifestFile,
        entries_read: usize,
        entries: Vec<Entry>,
    ) -> Result<(), SnapshotError> {
        spec_of(metadata, file)?;
        self.bytes += u64::try_from(file.manifest_length).unwrap_or(0);
        self.entries_read += entries_read;
        self.replaced += 1;
        self.by_spec.entry(file.partition_spec_id).or_default().extend(entries);
        Ok(())
    }

    /// Adds the survivors of a touched data manifest.
    pub(super) fn add_survivors(
        &mut self,
        metadata: &TableMetadata,
        survivors: Survivors,
    ) -> Result<(), SnapshotError> {
        let Survivors { file, entries_read, entries } = survivors;
        self.add(metadata, &file, entries_read, entries)
    }

    /// How many manifests are in the pool.
    pub(super) fn len(&self) -> usize {
        self.replaced
    }

    /// The pool's entries as merged manifests of about `target_size_bytes` (not stored yet),
    /// each holding consecutive hours of one partition spec (an hour larger than the target is
    /// split); sizes are estimated from the merged manifests' bytes per entry.
    pub(super) fn fill(
        self,
        target_size_bytes: u64,
        files: &mut NewFiles<'_>,
    ) -> Result<(Vec<Unstored>, ManifestMerge), SnapshotError> {
        let per_entry = (self.bytes / self.entries_read.max(1) as u64).max(1);
        let capacity = usize::try_from(target_size_bytes / per_entry).unwrap_or(usize::MAX).max(1);
        let mut merge = ManifestMerge { replaced: self.replaced, ..ManifestMerge::default() };
        let mut written = Vec::new();
        for (spec_id, mut entries) in self.by_spec {
            let spec = files.metadata.partition_spec_by_id(spec_id).cloned().ok_or_else(|| {
                SnapshotError::UnknownPartitionSpec { manifest: "(merged entries)".into(), spec_id }
            })?;
            merge.entries += entries.len();
            entries.sort_by(|a, b| {
                (time_value(a.file.partition()), a.file.file_path())
                    .cmp(&(time_value(b.file.partition()), b.file.file_path()))
            });
            for bin in bins(&entries, capacity) {
                let bin: Vec<Entry> = entries.drain(..bin).collect();
                written.extend(fill_existing(&spec, ManifestContentType::Data, bin, files)?);
            }
        }
        merge.created = written.len();
        Ok((written, merge))
    }
}

/// The sizes of consecutive bins of `entries` (sorted by hour): a bin is closed before
/// an hour that would overflow `capacity`, and an hour larger than `capacity` is split.
fn bins(entries: &[Entry], capacity: usize) -> Vec<usize> {
    let mut hours: Vec<usize> = Vec::new();
    let mut previous = None;
    for entry in entries {
        let key = time_value(entry.file.partition());
        match hours.last_mut() {
            Some(n) if previous == Some(key) => *n += 1,
            _ => hours.push(1),
        }
        previous = Some(key);
    }
    pack(&hours, capacity)
}

/// Packs runs of `lengths` (consecutive hours' entry counts) into bins of at most `capacity`
/// entries without splitting a run, except a run longer than `capacity`.
fn pack(lengths: &[usize], capacity: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut open = 0;
    for &run in lengths {
        if open > 0 && open + run > capacity {
            out.push(std::mem::take(&mut open));
        }
        let mut run = run;
        while run > capacity {
            out.push(capacity);
            run -= capacity;
        }
        open += run;
    }
    if open > 0 {
        out.push(open);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_are_packed_whole_and_oversized_hours_split() {
        assert_eq!(pack(&[3, 3, 3], 10), vec![9]);
        assert_eq!(pack(&[6, 6, 6], 10), vec![6, 6, 6]);
        assert_eq!(pack(&[4, 25, 2], 10), vec![4, 10, 10, 7]);
        assert_eq!(pack(&[], 10), Vec::<usize>::new());
        assert_eq!(pack(&[1, 1, 1], 1), vec![1, 1, 1]);
    }
}
