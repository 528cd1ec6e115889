//! SignalDB configuration: plain-data types, layered loading, validation and provenance.
//!
//! Values come from three layers, each overriding the one before: built-in defaults, one TOML
//! file (`--config PATH`, else `$SIGNALDB_CONFIG`, else `./signaldb.toml` if present), and
//! `SIGNALDB_*` environment variables (`SIGNALDB_` + the dotted key with `.` as `_`, upper
//! case: `compactor.retention.traces_retention_days` is
//! `SIGNALDB_COMPACTOR_RETENTION_TRACES_RETENTION_DAYS`). [`load`] refuses a configuration
//! with unknown keys, wrong types or broken rules, listing every problem with its key and the
//! file line or variable that set it, so a [`Config`] that exists is valid.
//!
//! Secrets ([`Secret`]) and passwords inside URIs ([`redact_uri`]) never appear in `Debug`
//! output, in error messages or in [`render_effective`]. A secret given as a file
//! (`compactor.admin.token_file`) is read during [`load`], so a loaded [`Config`] holds it.

mod admin;
mod compactor;
mod durations;
mod env;
mod error;
mod file;
mod keys;
mod load;
mod output;
mod provenance;
mod render;
mod retention;
mod root;
mod schema;
mod secret;
mod sort;
mod storage;
mod suggest;
mod validate;

#[cfg(test)]
mod tests;

pub use admin::AdminConfig;
pub use compactor::{CompactorConfig, OrphanCleanupConfig};
pub use error::{ConfigError, Origin, Problem, ProblemKind};
pub use keys::{CONFIG_FILE_VAR, ENV_PREFIX, EnvKey, env_keys};
pub use load::{DEFAULT_FILE_NAME, LoadedConfig, load, load_from};
pub use output::OutputConfig;
pub use provenance::Provenance;
pub use render::render_effective;
pub use retention::{
    DatasetOverride, ResolvedRetention, RetentionConfig, RetentionTier, TenantOverride,
    UnknownTimezone, parse_timezone,
};
pub use root::Config;
pub use schema::{CatalogBackend, CatalogType, SchemaConfig, UnsupportedCatalogType};
pub use secret::{REDACTED, Secret, redact_uri};
pub use sort::{DEFAULT_SPILL_DIR_NAME, SortConfig};
pub use storage::{InvalidUri, S3Config, StorageConfig, StorageLocation};
