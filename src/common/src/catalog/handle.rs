//! The catalog connection jobs share: connected on first use and again after a failure.

use std::sync::Arc;

use tokio::sync::Mutex;

use super::connection::SignalCatalog;
use super::error::CatalogError;
use super::observe::{CatalogErrorKind, CatalogObserver};
use crate::config::SchemaConfig;
use crate::storage::Warehouse;

/// The Iceberg catalog, connected on first use and reconnected after a failure, so that a
/// catalog that is down at start-up only fails passes until it comes back.
#[derive(Debug)]
pub struct CatalogHandle {
    schema: SchemaConfig,
    warehouse: Warehouse,
    connected: Mutex<Option<Arc<SignalCatalog>>>,
    observer: Option<Arc<dyn CatalogObserver>>,
}

impl CatalogHandle {
    /// A handle for the catalog in `schema`, storing tables in `warehouse`; nothing connects yet.
    pub fn new(schema: SchemaConfig, warehouse: Warehouse) -> Self {
        Self { schema, warehouse, connected: Mutex::new(None), observer: None }
    }

    /// This handle, reporting failed connection attempts and every failed statement of the
    /// catalog it connects to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn CatalogObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The connected catalog, connecting now if needed.
    pub async fn get(&self) -> Result<Arc<SignalCatalog>, CatalogError> {
        let mut slot = self.connected.lock().await;
        if let Some(catalog) = slot.as_ref() {
            return Ok(Arc::clone(catalog));
        }
        let connected = SignalCatalog::connect(&self.schema, &self.warehouse).await;
        let catalog = match connected {
            Ok(catalog) => Arc::new(catalog.with_observer(self.observer.clone())),
            Err(e) => {
                if let Some(observer) = &self.observer {
                    observer.catalog_error(CatalogErrorKind::of(&e));
                }
                return Err(e);
            }
        };
        *slot = Some(Arc::clone(&catalog));
        Ok(catalog)
    }

    /// The warehouse the catalog's tables live in.
    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }
}
