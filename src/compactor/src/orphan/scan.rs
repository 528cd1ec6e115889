//! The scan: a streaming listing of the object store under one table's location, never the
//! whole bucket and never outside the warehouse. Listings go by whole path segments, so
//! `…/traces` never lists `…/traces_old/…`. Each listed file goes straight to the
//! [`Selector`]; only candidates are kept in memory.

use common::storage::Warehouse;
use futures::StreamExt;
use object_store::path::Path;

use super::candidates::Selector;
use super::error::OrphanError;

/// Lists every file under `table_location` (after `after`, exclusive, when resuming) into
/// `selector`.
pub(crate) async fn scan(
    warehouse: &Warehouse,
    table_location: &str,
    after: Option<&Path>,
    selector: &mut Selector<'_>,
) -> Result<(), OrphanError> {
    let prefix = warehouse.object_path(table_location)?;
    if prefix.parts_count() == 0 {
        // Never list a whole bucket or filesystem; the location check refuses this earlier.
        return Err(OrphanError::UnboundedListing(table_location.to_string()));
    }
    let store = warehouse.object_store();
    let mut listing = match after {
        Some(offset) => store.list_with_offset(Some(&prefix), offset),
        None => store.list(Some(&prefix)),
    };
    while let Some(meta) = listing.next().await {
        let meta = meta
            .map_err(|source| OrphanError::List { location: table_location.to_string(), source })?;
        let location = warehouse.location_of(&meta.location);
        selector.offer(meta, &location);
    }
    Ok(())
}
