//! The Iceberg SQL catalog (SQLite embedded, PostgreSQL in production) and the signal tables in it.
//!
//! The catalog stores one row per table in `iceberg_tables`, keyed by `catalog_name`
//! (`[schema] catalog_name`), namespace (dotted, `acme.prod`) and table name. Any client that
//! opens the same database with the same catalog name — pyiceberg's `SqlCatalog`, Java's
//! `JdbcCatalog` — sees the same tables. All table files go through the warehouse's object store.
//!
//! [`SignalCatalog`] is the connection and [`CatalogHandle`] the one the compactor's jobs
//! share (connected on first use, again after a failure); [`ensure_table`] and [`list_signal_tables`] create and
//! find the tables of the [`crate::tables`] model in it. Every statement we run on the catalog
//! database ourselves is written once with `?` placeholders and rendered by the catalog's
//! [`SqlDialect`].

mod connection;
mod dialect;
mod error;
mod handle;
mod iceberg_tables;
mod migrate;
mod observe;
mod signal_tables;

#[cfg(test)]
mod tests;

pub use connection::SignalCatalog;
pub use dialect::{SqlDialect, bind_style};
pub use error::CatalogError;
pub use handle::CatalogHandle;
pub use iceberg_tables::{SqlValue, Swap, SwapCondition};
pub use observe::{CatalogErrorKind, CatalogObserver};
pub use signal_tables::{
    OtherTable, TablePointer, ensure_table, list_other_tables, list_signal_table_pointers,
    list_signal_tables,
};
