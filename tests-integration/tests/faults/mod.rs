//! Faults from the outside world, with the real binaries: an object store that answers slowly,
//! with errors or not at all, a catalog that crashes under a running daemon or loses a commit's
//! answer, a disk that fills up, clocks that disagree, credentials that must never be printed.
//! Every test ends by reading the tables back with pyiceberg (exact rows) and checking that
//! every file the metadata references is on storage.

mod catalog_outage;
mod clock_skew;
mod commit_cuts;
mod full_disk;
mod lost_swap;
mod secrets;
mod slow_store;
mod store_outage;

use std::collections::{BTreeMap, BTreeSet};

use common::tables::TableId;
use iceberg::table::Table;
use tests_integration::TestEnv;
use tests_integration::orphans::{reachable, stored};
use tests_integration::pyiceberg_hours::{HourContent, read_by_hour};

/// Rows of each hour of each table, read by pyiceberg.
pub fn rows_by_hour(
    env: &TestEnv,
    ids: &[TableId],
) -> BTreeMap<String, BTreeMap<String, HourContent>> {
    read_by_hour(env, ids).into_iter().map(|(key, table)| (key, table.content)).collect()
}

/// The table `id` as the catalog has it now.
pub async fn load(env: &TestEnv, id: &TableId) -> Table {
    env.catalog().await.load_table(&id.ident()).await.unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// Checks that every file `id`'s metadata references is on storage, and returns the files
/// stored under its location that it does not reference (a failed attempt's leftovers).
pub async fn assert_references_present(env: &TestEnv, id: &TableId) -> Vec<String> {
    let (referenced, on_storage) = references_and_storage(env, id).await;
    on_storage.difference(&referenced).cloned().collect()
}

/// Sets `key` in the env's existing `[storage]` table (a second `[storage]` would be invalid).
pub fn with_storage_key(env: &TestEnv, key: &str, value: impl Into<toml::Value>) {
    let path = env.config_path();
    let mut doc: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let storage = doc.get_mut("storage").and_then(toml::Value::as_table_mut).unwrap();
    storage.insert(key.into(), value.into());
    std::fs::write(path, toml::to_string(&doc).unwrap()).unwrap();
}

/// Checks that every file table `id`'s metadata reaches (every snapshot's manifest list,
/// manifests and live data files, and the metadata files of its log) is on storage, and returns
/// what is stored under the table's location.
pub async fn assert_references_stored(env: &TestEnv, id: &TableId) -> BTreeSet<String> {
    references_and_storage(env, id).await.1
}

/// What `id`'s metadata references and what is stored under its location, after checking
/// that the first is part of the second.
async fn references_and_storage(
    env: &TestEnv,
    id: &TableId,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let table = load(env, id).await;
    let warehouse = env.warehouse();
    let referenced = reachable(&warehouse, &table).await;
    let on_storage = stored(&warehouse, table.metadata().location()).await;
    let missing: Vec<&String> = referenced.difference(&on_storage).collect();
    assert!(missing.is_empty(), "{id} references files that are not stored: {missing:?}");
    (referenced, on_storage)
}
