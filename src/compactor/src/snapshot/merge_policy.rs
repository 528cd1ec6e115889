//! When and into what size a table's small data manifests are merged: the configured policy,
//! as the table's own `commit.manifest*` properties override it (a leaf module: the change
//! names it, the merge applies it).

use std::collections::HashMap;

use iceberg::spec::{ManifestContentType, ManifestFile};

/// Table property turning merging off (`false`) for one table.
pub(crate) const MERGE_ENABLED: &str = "commit.manifest-merge.enabled";
/// Table property: merge once a snapshot lists more manifests than this.
pub(crate) const MIN_COUNT_TO_MERGE: &str = "commit.manifest.min-count-to-merge";
/// Table property: the size merged manifests aim for, in bytes.
pub(crate) const TARGET_SIZE_BYTES: &str = "commit.manifest.target-size-bytes";

/// When and into what size a table's manifests are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergePolicy {
    /// Merge once a snapshot would list more manifests than this; `0` never merges.
    pub min_count: usize,
    /// Size merged manifests aim for; data manifests this large are kept as they are.
    pub target_size_bytes: u64,
}

impl MergePolicy {
    /// This policy as a table's `properties` override it: `commit.manifest-merge.enabled =
    /// false` turns merging off, the other two properties replace the count and the size.
    /// Values that do not parse are ignored.
    pub fn for_table(self, properties: &HashMap<String, String>) -> Self {
        let number = |key: &str| properties.get(key).and_then(|v| v.trim().parse::<u64>().ok());
        let disabled =
            properties.get(MERGE_ENABLED).is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
        let min_count = match number(MIN_COUNT_TO_MERGE) {
            _ if disabled => 0,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            None => self.min_count,
        };
        let target_size_bytes =
            number(TARGET_SIZE_BYTES).filter(|n| *n > 0).unwrap_or(self.target_size_bytes);
        Self { min_count, target_size_bytes }
    }

    /// Whether a snapshot listing `manifests` manifests merges.
    pub fn due(&self, manifests: usize) -> bool {
        self.min_count > 0 && manifests > self.min_count
    }

    /// Whether `file` may be merged: a data manifest with live entries, below the target size.
    pub fn mergeable(&self, file: &ManifestFile) -> bool {
        file.content == ManifestContentType::Data
            && (file.has_added_files() || file.has_existing_files())
            && u64::try_from(file.manifest_length).unwrap_or(0) < self.target_size_bytes
    }

    /// Whether merging `manifests` (a snapshot's whole list) would rewrite anything: the list
    /// is longer than allowed and at least two of its manifests may be merged.
    pub fn would_merge(&self, manifests: &[ManifestFile]) -> bool {
        self.due(manifests.len()) && manifests.iter().filter(|m| self.mergeable(m)).count() >= 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const DEFAULT: MergePolicy = MergePolicy { min_count: 100, target_size_bytes: 8 << 20 };

    #[test]
    fn table_properties_override_the_configured_policy() {
        assert_eq!(DEFAULT.for_table(&props(&[])), DEFAULT);
        let set = props(&[(MIN_COUNT_TO_MERGE, "10"), (TARGET_SIZE_BYTES, "4096")]);
        assert_eq!(DEFAULT.for_table(&set), MergePolicy { min_count: 10, target_size_bytes: 4096 });
        let off = props(&[(MERGE_ENABLED, "FALSE"), (MIN_COUNT_TO_MERGE, "10")]);
        assert_eq!(DEFAULT.for_table(&off).min_count, 0);
        let junk = props(&[(MIN_COUNT_TO_MERGE, "many"), (TARGET_SIZE_BYTES, "0")]);
        assert_eq!(DEFAULT.for_table(&junk), DEFAULT);
    }

    #[test]
    fn merging_is_due_only_above_the_count_and_never_at_zero() {
        assert!(!DEFAULT.due(100));
        assert!(DEFAULT.due(101));
        assert!(!MergePolicy { min_count: 0, ..DEFAULT }.due(10_000));
    }
}
