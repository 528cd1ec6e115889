//! The warehouse: one `object_store` handle that serves every byte of Iceberg I/O and every
//! maintenance listing, for the local filesystem and S3 alike.
//!
//! [`Warehouse::open`] turns `[storage]` into a handle rooted at the filesystem root or at the
//! bucket, and a warehouse location URI (`file:///abs/path` or `s3://bucket/prefix`).
//! [`iceberg_io`] plugs that same handle into iceberg-rust's `FileIO`
//! ([`Warehouse::storage_factory`], [`Warehouse::file_io`]), so the files Iceberg writes are
//! exactly the files a later orphan scan lists.

pub mod iceberg_io;
pub mod observe;
mod warehouse;

pub use warehouse::{StorageError, Warehouse};

#[cfg(test)]
mod tests;
