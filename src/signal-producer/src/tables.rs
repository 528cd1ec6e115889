//! Finding or creating the tables of a layout in the catalog.
//!
//! Creation keeps every id of the layout's request. The SQL catalog's `create_table` builds the
//! metadata with fresh ids: schema and sort-order ids survive (the layouts assign them the way
//! the fresh assignment does), but a partition field always becomes 1000, where SignalDB's
//! layout has 1000 + the timestamp column's id. So the table's first metadata file is built
//! here, its partition field ids set back to the requested ones, written next to the table
//! and registered with the catalog.

use std::collections::HashMap;

use anyhow::{Context, Result, bail, ensure};
use common::catalog::SignalCatalog;
use common::tables::{Layout, TableId};
use iceberg::spec::{TableMetadata, TableMetadataBuilder, UnboundPartitionSpec};
use iceberg::table::Table;
use iceberg::{Catalog, MetadataLocation, TableCreation};
use serde_json::Value;

/// Loads the table `id` of `layout`, creating its namespace and the table first when they
/// are missing. An existing table must be partitioned as the layout partitions it.
pub async fn ensure_table(catalog: &SignalCatalog, id: &TableId, layout: Layout) -> Result<Table> {
    let creation = layout.creation(id, catalog.warehouse_location())?;
    let expected: Vec<String> = creation
        .partition_spec
        .iter()
        .flat_map(|spec| spec.fields().iter().map(|f| f.name.clone()))
        .collect();
    let cat = catalog.catalog();
    let ns = id.namespace();
    let exists = cat.namespace_exists(&ns).await;
    if !exists.with_context(|| format!("check namespace of {id}"))?
        && let Err(e) = cat.create_namespace(&ns, HashMap::new()).await
        // Another writer may have created it between our check and our create.
        && !cat.namespace_exists(&ns).await.unwrap_or(false)
    {
        return Err(e).with_context(|| format!("create namespace of {id}"));
    }
    let ident = id.ident();
    let table = if cat.table_exists(&ident).await.with_context(|| format!("check {id}"))? {
        catalog.load_table(&ident).await.with_context(|| format!("load {id}"))?
    } else {
        match create(catalog, id, creation).await {
            Ok(table) => table,
            Err(_) if cat.table_exists(&ident).await.unwrap_or(false) => {
                catalog.load_table(&ident).await.with_context(|| format!("load {id}"))?
            }
            Err(e) => return Err(e),
        }
    };
    check_partitioning(&table, id, layout, &expected)?;
    Ok(table)
}

/// Refuses a table whose partition fields are not named as the layout names them: its data
/// files would land in directories, and its rows have columns, of another layout.
fn check_partitioning(
    table: &Table,
    id: &TableId,
    layout: Layout,
    expected: &[String],
) -> Result<()> {
    let spec = table.metadata().default_partition_spec();
    let found: Vec<&str> = spec.fields().iter().map(|f| f.name.as_str()).collect();
    ensure!(
        found == expected,
        "{id} exists and is partitioned by `{}`, not by `{}` as the {layout} layout is: \
         it belongs to another layout (see --layout)",
        found.join(", "),
        expected.join(", "),
    );
    Ok(())
}

/// Creates the table `id` from `creation` with exactly the requested ids.
async fn create(catalog: &SignalCatalog, id: &TableId, creation: TableCreation) -> Result<Table> {
    let requested_schema = creation.schema.clone();
    let requested_spec = creation.partition_spec.clone();
    let metadata = TableMetadataBuilder::from_table_creation(creation)
        .and_then(|b| b.build())
        .with_context(|| format!("build the metadata of {id}"))?
        .metadata;
    ensure!(
        metadata.current_schema().as_struct() == requested_schema.as_struct(),
        "creating {id} would renumber its columns"
    );
    let metadata = match requested_spec {
        Some(spec) => with_partition_field_ids(metadata, &spec)
            .with_context(|| format!("set the partition field ids of {id}"))?,
        None => metadata,
    };
    let location = MetadataLocation::new_with_metadata(metadata.location(), &metadata);
    let file_io = catalog.warehouse().file_io();
    metadata
        .write_to(&file_io, &location)
        .await
        .with_context(|| format!("write the first metadata file of {id} to {location}"))?;
    catalog
        .catalog()
        .register_table(&id.ident(), location.to_string())
        .await
        .with_context(|| format!("register {id} at {location}"))
}

/// `metadata` with the partition fields of every spec carrying the field ids `spec` asks for
/// (by field name), and the last partition id raised to match.
fn with_partition_field_ids(
    metadata: TableMetadata,
    spec: &UnboundPartitionSpec,
) -> Result<TableMetadata> {
    let wanted: HashMap<&str, i32> =
        spec.fields().iter().filter_map(|f| Some((f.name.as_str(), f.field_id?))).collect();
    if wanted.is_empty() {
        return Ok(metadata);
    }
    let mut json = serde_json::to_value(&metadata)?;
    let mut last = json["last-partition-id"].as_i64().unwrap_or(0);
    let Some(specs) = json["partition-specs"].as_array_mut() else {
        bail!("table metadata without partition-specs");
    };
    for field in specs.iter_mut().filter_map(|s| s["fields"].as_array_mut()).flatten() {
        if let Some(&id) = field["name"].as_str().and_then(|name| wanted.get(name)) {
            field["field-id"] = Value::from(id);
            last = last.max(i64::from(id));
        }
    }
    json["last-partition-id"] = Value::from(last);
    Ok(serde_json::from_value(json)?)
}
