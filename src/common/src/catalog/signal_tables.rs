//! Creating and finding the signal tables of the [`crate::tables`] model in the catalog.

use std::collections::HashMap;

use iceberg::Catalog;
use iceberg::table::Table;

use super::connection::SignalCatalog;
use super::error::CatalogError;
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
    match cat.create_table(&ns, creation(id, catalog.warehouse_location())).await {
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
