//! The warehouse: one `object_store` handle that serves every byte of Iceberg I/O and every
//! maintenance listing, for the local filesystem and S3 alike.
//!
//! [`Warehouse::open`] turns `[storage]` into a handle rooted at the filesystem root or at the
//! bucket, and a warehouse location URI (`file:///abs/path` or `s3://bucket/prefix`).
//! [`iceberg_io`] plugs that same handle into iceberg-rust's `FileIO`
//! ([`Warehouse::storage_factory`], [`Warehouse::file_io`]), so the files Iceberg writes are
//! exactly the files a later orphan scan lists.
//!
//! Every request goes through [`counted::CountedStore`], which counts it for the process and
//! for the [`counted::RequestTally`] of the work that made it, and then through object_store's
//! `LimitStore`, which holds at most `[storage] max_concurrent_requests` in flight.

pub mod counted;
pub mod iceberg_io;
pub mod observe;
mod warehouse;

pub use warehouse::{StorageError, Warehouse};

#[cfg(test)]
mod tests;
