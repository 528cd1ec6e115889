//! The live file paths of manifests already read, shared by the staging attempts of one table.
//!
//! A manifest file is immutable once written (a new snapshot writes new manifests, never
//! edits old ones), so what it lists can be remembered by its path. After a conflict, the
//! next attempt then reads only the manifests the concurrent writers added, and the groups of
//! one compaction pass read each manifest once instead of once per group.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Live data file paths per manifest path.
#[derive(Debug, Default)]
pub struct ManifestCache {
    live: Mutex<HashMap<String, Arc<[String]>>>,
}

impl ManifestCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The live paths remembered for `manifest`, if it was read before.
    pub(super) fn get(&self, manifest: &str) -> Option<Arc<[String]>> {
        self.lock().get(manifest).cloned()
    }

    /// Remembers the live paths of `manifest`.
    pub(super) fn insert(&self, manifest: &str, live: Arc<[String]>) {
        self.lock().insert(manifest.to_string(), live);
    }

    /// How many manifests are remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no manifest is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[String]>>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts).
        self.live.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
