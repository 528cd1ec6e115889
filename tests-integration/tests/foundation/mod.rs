//! The foundation every later feature builds on: the catalog and object store on each backend,
//! and the load generator's data read back by pyiceberg and by iceberg-rust.

mod catalog_backends;
mod loadgen_continuous;
mod loadgen_roundtrip;
mod object_store_backends;
