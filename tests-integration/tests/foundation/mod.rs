//! The foundation every later feature builds on: the catalog and object store on each backend,
//! configuration as the binaries see it, and the load generator's data read back by pyiceberg
//! and by iceberg-rust.

mod catalog_backends;
mod check_config;
mod loadgen_continuous;
mod loadgen_roundtrip;
mod object_store_backends;
