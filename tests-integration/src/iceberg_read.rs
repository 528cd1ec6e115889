//! Reading tables and listing files with our own stack (iceberg-rust over `common`'s
//! object store), to compare with what pyiceberg sees.

use std::collections::BTreeMap;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use futures::TryStreamExt;
use iceberg::table::Table;
use object_store::ObjectStore;

use crate::hours::hour_label_of_micros;

/// Row counts of `table`'s current snapshot per UTC hour of its `timestamp` column
/// (`YYYY-MM-DD-HH` → rows), from a full scan.
pub async fn rows_per_hour(table: &Table) -> anyhow::Result<BTreeMap<String, usize>> {
    rows_per_hour_at(table, None).await
}

/// [`rows_per_hour`] of snapshot `snapshot_id` (the current one when `None`), as a reader
/// pinned to it sees the table.
pub async fn rows_per_hour_at(
    table: &Table,
    snapshot_id: Option<i64>,
) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut counts = BTreeMap::new();
    if table.metadata().current_snapshot().is_none() {
        return Ok(counts);
    }
    let scan = table.scan().select_all();
    let scan = match snapshot_id {
        Some(id) => scan.snapshot_id(id),
        None => scan,
    };
    let mut batches = scan.build()?.to_arrow().await?;
    while let Some(batch) = batches.try_next().await? {
        let column = batch
            .column_by_name(common::tables::TIMESTAMP_COLUMN)
            .ok_or_else(|| anyhow::anyhow!("no timestamp column in {:?}", batch.schema()))?;
        let micros = column.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| {
            anyhow::anyhow!("timestamp is {}, not microseconds", column.data_type())
        })?;
        for i in 0..micros.len() {
            if micros.is_valid(i) {
                *counts.entry(hour_label_of_micros(micros.value(i))).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}

/// Total rows of `table`'s current snapshot, from a full scan.
pub async fn count_rows(table: &Table) -> anyhow::Result<usize> {
    Ok(rows_per_hour(table).await?.values().sum())
}

/// Location URIs of every object under `location` (a directory URI inside the warehouse),
/// listed through the warehouse's object store, sorted.
pub async fn list_locations(
    warehouse: &common::storage::Warehouse,
    location: &str,
) -> anyhow::Result<Vec<String>> {
    let prefix = warehouse.object_path(location)?;
    let store = warehouse.object_store();
    let mut found: Vec<String> = store
        .list(Some(&prefix))
        .map_ok(|meta| warehouse.location_of(&meta.location))
        .try_collect()
        .await?;
    found.sort();
    Ok(found)
}
