//! The root of the configuration tree: the whole file, [`Config`].

use serde::{Deserialize, Serialize};

use super::compactor::CompactorConfig;
use super::schema::SchemaConfig;
use super::storage::StorageConfig;

/// The whole configuration file: `[compactor]`, `[storage]` and `[schema]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[compactor]`: compaction, retention and orphan cleanup.
    pub compactor: CompactorConfig,
    /// `[storage]`: the object store holding the warehouse.
    pub storage: StorageConfig,
    /// `[schema]`: the Iceberg SQL catalog.
    pub schema: SchemaConfig,
}
