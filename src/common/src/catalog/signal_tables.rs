//! Creating and finding the signal tables of the [`crate::tables`] model in the catalog.

use std::collections::HashMap;

use iceberg::Catalog;
use iceberg::table::Table;

use super::connection::SignalCatalog;
use super::error::CatalogError;
use crate::ids::validate_id;
use crate::tables::{TableError, TableId, creation};

/// Loads the table for `id`, creating its namespace and the table first when they are missing.
pub async fn ensure_table(catalog: &SignalCatalog, id: &TableId) -> Result<Table, TableError> {
    let iceberg_err = |action| {
        let table = id.to_string();
        move |source| TableError::Iceberg { action, table, source: Box::new(source) }
    };
    let cat = catalog.catalog();
    let ns = id.namespace();
    if !cat.namespace_exists(&ns).await.map_err(iceberg_err("check namespace of"))? {
        match cat.create_namespace(&ns, HashMap::new()).await {
            Ok(_) => {}
            // Another writer may have created it between our check and our create.
            Err(_) if cat.namespace_exists(&ns).await.unwrap_or(false) => {}
            Err(e) => return Err(iceberg_err("create namespace of")(e)),
        }
    }
    let ident = id.ident();
    if cat.table_exists(&ident).await.map_err(iceberg_err("check"))? {
        return cat.load_table(&ident).await.map_err(iceberg_err("load"));
    }
    let request = creation(id, catalog.warehouse_location())?;
    match cat.create_table(&ns, request).await {
        Ok(table) => Ok(table),
        Err(_) if cat.table_exists(&ident).await.unwrap_or(false) => {
            cat.load_table(&ident).await.map_err(iceberg_err("load"))
        }
        Err(e) => Err(iceberg_err("create")(e)),
    }
}

/// Every signal table in the catalog, sorted, optionally limited to one tenant and/or dataset.
///
/// Namespaces or tables that do not follow the signal-table model are skipped: they belong to
/// someone else and no SignalDB job touches them.
pub async fn list_signal_tables(
    catalog: &SignalCatalog,
    tenant: Option<&str>,
    dataset: Option<&str>,
) -> Result<Vec<TableId>, CatalogError> {
    let mut out: Vec<TableId> = catalog
        .list_table_idents()
        .await?
        .iter()
        .filter_map(|ident| TableId::from_ident(ident).ok())
        .filter(|id| tenant.is_none_or(|t| id.tenant == t))
        .filter(|id| dataset.is_none_or(|d| id.dataset == d))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// A signal table and the metadata location the catalog points it at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TablePointer {
    /// The table.
    pub id: TableId,
    /// Its current metadata file, as `iceberg_tables` records it (`None` when the row has
    /// none); it changes with every commit, whoever makes it.
    pub metadata_location: Option<String>,
}

/// Every signal table in the catalog with its metadata location, sorted, optionally limited to
/// one tenant and/or dataset: one statement on `iceberg_tables`, no metadata file read. The
/// tables are those of [`list_signal_tables`].
pub async fn list_signal_table_pointers(
    catalog: &SignalCatalog,
    tenant: Option<&str>,
    dataset: Option<&str>,
) -> Result<Vec<TablePointer>, CatalogError> {
    let mut out: Vec<TablePointer> = catalog
        .list_table_pointers()
        .await?
        .into_iter()
        .filter_map(|(ident, metadata_location)| {
            Some(TablePointer { id: TableId::from_ident(&ident).ok()?, metadata_location })
        })
        .filter(|p| tenant.is_none_or(|t| p.id.tenant == t))
        .filter(|p| dataset.is_none_or(|d| p.id.dataset == d))
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.id == b.id);
    Ok(out)
}

/// A table in a tenant's namespace (`[tenant, dataset]`, both valid ids) that is not a signal
/// table: it is listed so operators see it exists, and never touched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct OtherTable {
    /// Tenant id.
    pub tenant: String,
    /// Dataset id.
    pub dataset: String,
    /// The table's name.
    pub table: String,
    /// Why the compactor does not maintain it.
    pub reason: String,
}

/// Every table of a tenant's namespace that is not a signal table, sorted, optionally limited
/// to one tenant and/or dataset.
pub async fn list_other_tables(
    catalog: &SignalCatalog,
    tenant: Option<&str>,
    dataset: Option<&str>,
) -> Result<Vec<OtherTable>, CatalogError> {
    let mut out: Vec<OtherTable> = catalog
        .list_table_idents()
        .await?
        .iter()
        .filter_map(|ident| {
            let [t, d] = ident.namespace().as_ref().as_slice() else { return None };
            if validate_id(t).is_err() || validate_id(d).is_err() {
                return None;
            }
            let reason = TableId::from_ident(ident).err()?.to_string();
            let (tenant, dataset) = (t.clone(), d.clone());
            Some(OtherTable { tenant, dataset, table: ident.name().to_string(), reason })
        })
        .filter(|t| tenant.is_none_or(|x| t.tenant == x))
        .filter(|t| dataset.is_none_or(|x| t.dataset == x))
        .collect();
    out.sort();
    Ok(out)
}
