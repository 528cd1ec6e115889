//! Shared foundation of SignalDB components.
//!
//! Data flows one way: [`config`] loads and validates `signaldb.toml` and `SIGNALDB_*`
//! variables into plain data; [`storage`] opens the one object-store handle every Iceberg and
//! maintenance I/O goes through; [`catalog`] connects the Iceberg SQL catalog on top of it and
//! creates and finds the signal tables there; [`tables`] describes those per-tenant,
//! per-dataset tables.

pub mod catalog;
pub mod clock;
pub mod config;
pub mod ids;
pub mod partition;
pub mod signal;
pub mod storage;
pub mod table_kind;
pub mod tables;
pub mod telemetry;

pub use signal::Signal;
pub use table_kind::TableKind;
