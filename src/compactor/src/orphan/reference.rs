//! The reference set: every file reachable from a table's metadata, whatever the age of the
//! snapshot that reaches it.
//!
//! It holds the current metadata JSON and every file of its metadata log, statistics and
//! partition-statistics files, and for every snapshot still in the metadata its manifest list,
//! its manifests and the data and delete files those manifests hold as live (`ADDED` or
//! `EXISTING`; a `DELETED` entry only records that the file left the table, and the snapshots
//! that still read it list it as live themselves). Manifests and manifest lists are immutable,
//! so each is read once, however many snapshots share it, and a later reload only reads what
//! is new.
//!
//! Paths are kept as 128-bit hashes of their normalised spelling: a collision can only make an
//! orphan look referenced, which keeps it. A reference that cannot be normalised, or that lies
//! outside the table's location (and so might be another spelling of a file inside it), keeps
//! every listed file with the same file name.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt, stream};
use iceberg::table::Table;
use serde::Serialize;

use super::paths::{NormalPath, PathHasher, raw_file_name};

/// How many unresolved references are kept as examples for the report.
const EXAMPLES: usize = 10;

/// Manifest lists, then manifests, of one table read at the same time.
const READS_AT_ONCE: usize = 16;

/// References that could not be placed exactly, as the report shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    /// References that could not be normalised.
    pub unnormalisable: u64,
    /// References outside the table's location.
    pub outside_location: u64,
    /// A few of them, with the reason.
    pub examples: Vec<String>,
}

/// Every file reachable from a table's metadata, as hashed normalised paths.
#[derive(Debug)]
pub struct ReferenceSet {
    hasher: PathHasher,
    table_location: NormalPath,
    paths: HashSet<u128>,
    kept_names: HashSet<u128>,
    keep_all: bool,
    seen_lists: HashSet<u128>,
    seen_manifests: HashSet<u128>,
    metadata_location: Option<String>,
    manifests_read: u64,
    unresolved: Unresolved,
}

impl ReferenceSet {
    /// An empty set for a table at `table_location`.
    pub fn new(table_location: NormalPath) -> Self {
        Self {
            hasher: PathHasher::default(),
            table_location,
            paths: HashSet::new(),
            kept_names: HashSet::new(),
            keep_all: false,
            seen_lists: HashSet::new(),
            seen_manifests: HashSet::new(),
            metadata_location: None,
            manifests_read: 0,
            unresolved: Unresolved::default(),
        }
    }

    /// Builds the set of `table` as loaded.
    pub async fn of(table: &Table, table_location: NormalPath) -> iceberg::Result<Self> {
        let mut set = Self::new(table_location);
        set.extend(table).await?;
        Ok(set)
    }

    /// Adds every file reachable from `table`'s metadata; returns `false` (and reads nothing)
    /// when that metadata is the one the set already covers. The set only ever grows.
    pub async fn extend(&mut self, table: &Table) -> iceberg::Result<bool> {
        let location = table.metadata_location().map(str::to_string);
        if location.is_some() && location == self.metadata_location {
            return Ok(false);
        }
        let md = table.metadata();
        if let Some(current) = &location {
            self.add(current);
        }
        for entry in md.metadata_log() {
            self.add(&entry.metadata_file);
        }
        for stats in md.statistics_iter() {
            self.add(&stats.statistics_path);
        }
        for stats in md.partition_statistics_iter() {
            self.add(&stats.statistics_path);
        }
        // Manifest lists and manifests are read several at once (each one once in the life
        // of the set: they are immutable), in order, their paths added as they arrive.
        let mut new_lists = Vec::new();
        for snapshot in md.snapshots() {
            let list_path = snapshot.manifest_list();
            self.add(list_path);
            if self.seen_lists.insert(self.hasher.hash(list_path)) {
                new_lists.push(snapshot);
            }
        }
        let mut reads = Vec::new();
        for snapshot in new_lists {
            reads.push(async move { table.manifest_list_reader(snapshot).load().await });
        }
        let mut lists = stream::iter(reads).buffered(READS_AT_ONCE);
        let mut new_manifests = Vec::new();
        while let Some(list) = lists.try_next().await? {
            for manifest_file in list.entries() {
                self.add(&manifest_file.manifest_path);
                if self.seen_manifests.insert(self.hasher.hash(&manifest_file.manifest_path)) {
                    new_manifests.push(manifest_file.clone());
                }
            }
        }
        let mut reads = Vec::new();
        for manifest_file in new_manifests {
            reads.push(async move { manifest_file.load_manifest(table.file_io()).await });
        }
        let mut manifests = stream::iter(reads).buffered(READS_AT_ONCE);
        while let Some(manifest) = manifests.try_next().await? {
            self.manifests_read += 1;
            for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
                self.add(entry.file_path());
            }
        }
        self.metadata_location = location;
        Ok(true)
    }

    /// Adds one referenced location.
    pub fn add(&mut self, location: &str) {
        match NormalPath::parse(location) {
            Ok(path) if path.is_within(&self.table_location) => {
                self.paths.insert(self.hasher.hash(path.as_str()));
            }
            Ok(path) => {
                self.unresolved.outside_location += 1;
                self.example(format!("{path}: outside the table location"));
                self.paths.insert(self.hasher.hash(path.as_str()));
                self.keep_name(path.file_name());
            }
            Err(e) => {
                self.unresolved.unnormalisable += 1;
                self.example(e.to_string());
                self.keep_name(raw_file_name(location));
            }
        }
    }

    fn keep_name(&mut self, name: Option<&str>) {
        match name {
            Some(name) => {
                self.kept_names.insert(self.hasher.hash(name));
            }
            None => self.keep_all = true,
        }
    }

    fn example(&mut self, text: String) {
        if self.unresolved.examples.len() < EXAMPLES {
            self.unresolved.examples.push(text);
        }
    }

    /// Whether a listed file must be kept because the metadata reaches it (or might).
    pub fn contains(&self, path: &NormalPath) -> bool {
        self.keep_all
            || self.paths.contains(&self.hasher.hash(path.as_str()))
            || path.file_name().is_some_and(|n| self.kept_names.contains(&self.hasher.hash(n)))
    }

    /// Distinct referenced paths.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether nothing is referenced.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Manifests read so far (each once).
    pub fn manifests_read(&self) -> u64 {
        self.manifests_read
    }

    /// The metadata file the set was last extended from.
    pub fn metadata_location(&self) -> Option<&str> {
        self.metadata_location.as_deref()
    }

    /// References that could not be placed exactly.
    pub fn unresolved(&self) -> &Unresolved {
        &self.unresolved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> NormalPath {
        NormalPath::parse(s).unwrap()
    }

    #[test]
    fn references_match_whatever_spelling_the_listing_uses() {
        let mut set = ReferenceSet::new(p("file:///w/acme/prod/traces"));
        set.add("file:/w/acme/prod/traces/data/hour=1/a.parquet");
        set.add("/w/acme/prod/traces/metadata/00001-x.metadata.json");
        assert!(set.contains(&p("file:///w/acme/prod/traces/data/hour=1/a.parquet")));
        assert!(set.contains(&p("file:///w/acme/prod/traces/metadata/00001-x.metadata.json")));
        assert!(!set.contains(&p("file:///w/acme/prod/traces/data/hour=1/b.parquet")));
        assert!(!set.contains(&p("file:///w/acme/prod/traces/data/hour=2/a.parquet")));
        assert_eq!(set.len(), 2);
        assert_eq!(set.unresolved(), &Unresolved::default());
    }

    #[test]
    fn unplaceable_references_keep_every_file_of_their_name() {
        let mut set = ReferenceSet::new(p("s3://b/w/acme/prod/traces"));
        set.add("gs://elsewhere/acme/prod/traces/data/odd.parquet");
        set.add("s3://other-bucket/acme/prod/traces/data/alias.parquet");
        assert!(set.contains(&p("s3://b/w/acme/prod/traces/data/hour=3/odd.parquet")));
        assert!(set.contains(&p("s3://b/w/acme/prod/traces/data/alias.parquet")));
        assert!(!set.contains(&p("s3://b/w/acme/prod/traces/data/other.parquet")));
        let u = set.unresolved();
        assert_eq!((u.unnormalisable, u.outside_location, u.examples.len()), (1, 1, 2));
        set.add("//");
        assert!(set.contains(&p("s3://b/w/acme/prod/traces/data/other.parquet")), "keep all");
    }
}
