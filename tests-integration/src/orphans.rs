//! Orphan-cleanup fixtures: files planted and back-dated in a warehouse, and the files a
//! table's metadata reaches, computed here independently of the compactor's reference set.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::storage::Warehouse;
use iceberg::table::Table;
use object_store::{ObjectStoreExt, PutPayload};

use crate::iceberg_read::list_locations;

/// The filesystem path of a `file://` location.
pub fn local_path(location: &str) -> PathBuf {
    let path = location.strip_prefix("file://").unwrap_or(location);
    PathBuf::from(path)
}

/// Sets the modification time of the local file at `location` to `age` ago.
pub fn backdate(location: &str, age: Duration) {
    backdate_path(&local_path(location), age);
}

fn backdate_path(path: &Path, age: Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    file.set_modified(SystemTime::now() - age)
        .unwrap_or_else(|e| panic!("back-dating {}: {e}", path.display()));
}

/// Back-dates every file under the local directory `location` by `age`.
pub fn backdate_tree(location: &str, age: Duration) {
    fn walk(dir: &Path, age: Duration) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() { walk(&path, age) } else { backdate_path(&path, age) }
        }
    }
    walk(&local_path(location), age);
}

/// Writes `bytes` at `location` through the warehouse's object store.
pub async fn plant(warehouse: &Warehouse, location: &str, bytes: &[u8]) {
    let path = warehouse.object_path(location).unwrap();
    warehouse.object_store().put(&path, PutPayload::from(bytes.to_vec())).await.unwrap();
}

/// Whether an object exists at `location`.
pub async fn exists(warehouse: &Warehouse, location: &str) -> bool {
    let path = warehouse.object_path(location).unwrap();
    warehouse.object_store().head(&path).await.is_ok()
}

/// Object paths of every file stored under `location`.
pub async fn stored(warehouse: &Warehouse, location: &str) -> BTreeSet<String> {
    let listed = list_locations(warehouse, location).await.unwrap();
    listed.iter().map(|l| warehouse.object_path(l).unwrap().to_string()).collect()
}

/// Object paths of every file `table`'s metadata reaches: the current and logged metadata
/// files, and for every snapshot its manifest list, manifests and live data and delete files.
pub async fn reachable(warehouse: &Warehouse, table: &Table) -> BTreeSet<String> {
    let md = table.metadata();
    let mut locations: Vec<String> =
        table.metadata_location().into_iter().map(String::from).collect();
    locations.extend(md.metadata_log().iter().map(|l| l.metadata_file.clone()));
    for snapshot in md.snapshots() {
        locations.push(snapshot.manifest_list().to_string());
        let list = table.manifest_list_reader(snapshot).load().await.unwrap();
        for manifest_file in list.entries() {
            locations.push(manifest_file.manifest_path.clone());
            let manifest = manifest_file.load_manifest(table.file_io()).await.unwrap();
            for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
                locations.push(entry.file_path().to_string());
            }
        }
    }
    locations.iter().map(|l| warehouse.object_path(l).unwrap().to_string()).collect()
}
