//! When the systems the compactor depends on misbehave: a catalog that crashes and comes back
//! under a running daemon, a commit whose answer is lost on the way back. Every test ends by
//! reading the tables with pyiceberg (the exact rows written) and checking that every file the
//! tables reference is on storage.

mod catalog_outage;
mod lost_swap;

use common::tables::TableId;
use iceberg::Catalog;
use tests_integration::TestEnv;
use tests_integration::orphans::{reachable, stored};

/// Checks that every file table `id`'s metadata reaches (every snapshot's manifest list,
/// manifests and live data files, and the metadata files of its log) is on storage, and returns
/// what is stored under the table's location.
pub async fn assert_references_stored(
    env: &TestEnv,
    id: &TableId,
) -> std::collections::BTreeSet<String> {
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let warehouse = catalog.warehouse();
    let referenced = reachable(warehouse, &table).await;
    let on_storage = stored(warehouse, table.metadata().location()).await;
    let missing: Vec<&String> = referenced.difference(&on_storage).collect();
    assert!(missing.is_empty(), "{id} references files that are not stored: {missing:?}");
    on_storage
}
