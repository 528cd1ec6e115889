//! iceberg-rust's `Storage` and `StorageFactory` implemented over the warehouse's object store, and
//! the [`Warehouse`] methods that hand them to iceberg-rust.
//!
//! Small writes are buffered and stored with one `put`; a write that grows past
//! [`MULTIPART_THRESHOLD`] switches to a streaming multipart upload, so memory per open file
//! stays bounded by about one part whatever the file size.

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use iceberg::io::{
    FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage, StorageConfig,
    StorageFactory,
};
use iceberg::{Error, ErrorKind};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use serde::{Deserialize, Serialize};

use super::warehouse::Warehouse;

/// Size at which a buffered write becomes a multipart upload (also the part size).
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;

/// Iceberg `Storage` backed by a [`Warehouse`]'s object store.
///
/// It serialises to an empty value: a deserialised copy has no store and refuses all I/O,
/// because credentials and connections are never shipped across process boundaries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectStoreStorage {
    #[serde(skip)]
    warehouse: Option<Warehouse>,
}

/// Iceberg `StorageFactory` that hands out [`ObjectStoreStorage`] for one warehouse.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectStoreStorageFactory {
    #[serde(skip)]
    warehouse: Option<Warehouse>,
}

impl Warehouse {
    /// The iceberg `StorageFactory` that performs all Iceberg I/O through this warehouse.
    pub fn storage_factory(&self) -> Arc<ObjectStoreStorageFactory> {
        Arc::new(ObjectStoreStorageFactory::new(self.clone()))
    }

    /// An iceberg `FileIO` over this warehouse.
    pub fn file_io(&self) -> iceberg::io::FileIO {
        iceberg::io::FileIOBuilder::new(self.storage_factory()).build()
    }
}

impl ObjectStoreStorageFactory {
    /// A factory whose storages all use `warehouse`'s object store.
    pub fn new(warehouse: Warehouse) -> Self {
        Self { warehouse: Some(warehouse) }
    }
}

#[typetag::serde]
impl StorageFactory for ObjectStoreStorageFactory {
    fn build(&self, _config: &StorageConfig) -> iceberg::Result<Arc<dyn Storage>> {
        Ok(Arc::new(ObjectStoreStorage { warehouse: self.warehouse.clone() }))
    }
}

fn io_error(op: &str, location: &str, err: object_store::Error) -> Error {
    let kind = match err {
        object_store::Error::NotFound { .. } => ErrorKind::DataInvalid,
        _ => ErrorKind::Unexpected,
    };
    let message = match root_cause(&err) {
        // object_store's message stops at "error sending request": the cause is deeper.
        Some(cause) => format!("object store {op} `{location}` failed (cause: {cause})"),
        None => format!("object store {op} `{location}` failed"),
    };
    Error::new(kind, message).with_source(err)
}

/// The innermost error below `err`, when it says something `err` does not (a refused or reset
/// connection below an HTTP client's "error sending request").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut deepest = err.source()?;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    let text = deepest.to_string();
    (!err.to_string().contains(&text)).then_some(text)
}

impl ObjectStoreStorage {
    fn resolve(&self, location: &str) -> iceberg::Result<(Arc<dyn ObjectStore>, Path)> {
        let warehouse = self.warehouse.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                "object-store storage was deserialised without a warehouse handle",
            )
        })?;
        let path = warehouse.object_path(location).map_err(|e| {
            Error::new(ErrorKind::DataInvalid, format!("cannot map `{location}`")).with_source(e)
        })?;
        Ok((warehouse.object_store(), path))
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for ObjectStoreStorage {
    async fn exists(&self, path: &str) -> iceberg::Result<bool> {
        let (store, key) = self.resolve(path)?;
        match store.head(&key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(io_error("head", path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> iceberg::Result<FileMetadata> {
        let (store, key) = self.resolve(path)?;
        let meta = store.head(&key).await.map_err(|e| io_error("head", path, e))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> iceberg::Result<Bytes> {
        let (store, key) = self.resolve(path)?;
        let result = store.get(&key).await.map_err(|e| io_error("get", path, e))?;
        result.bytes().await.map_err(|e| io_error("get", path, e))
    }

    async fn reader(&self, path: &str) -> iceberg::Result<Box<dyn FileRead>> {
        let (store, key) = self.resolve(path)?;
        Ok(Box::new(ObjectReader { store, key, location: path.to_string() }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> iceberg::Result<()> {
        let (store, key) = self.resolve(path)?;
        store.put(&key, PutPayload::from_bytes(bs)).await.map_err(|e| io_error("put", path, e))?;
        Ok(())
    }

    async fn writer(&self, path: &str) -> iceberg::Result<Box<dyn FileWrite>> {
        let (store, key) = self.resolve(path)?;
        Ok(Box::new(ObjectWriter {
            store,
            key,
            location: path.to_string(),
            state: WriterState::Buffering(BytesMut::new()),
        }))
    }

    async fn delete(&self, path: &str) -> iceberg::Result<()> {
        let (store, key) = self.resolve(path)?;
        match store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io_error("delete", path, e)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> iceberg::Result<()> {
        let (store, key) = self.resolve(path)?;
        let listed = store.list(Some(&key)).map_ok(|meta| meta.location).boxed();
        store
            .delete_stream(listed)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| io_error("delete prefix", path, e))?;
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> iceberg::Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> iceberg::Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> iceberg::Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

/// Ranged reads of one object.
struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    key: Path,
    location: String,
}

#[async_trait]
impl FileRead for ObjectReader {
    async fn read(&self, range: Range<u64>) -> iceberg::Result<Bytes> {
        self.store
            .get_range(&self.key, range)
            .await
            .map_err(|e| io_error("ranged get", &self.location, e))
    }
}

enum WriterState {
    /// Nothing sent yet; the object is stored with one put on close if it stays small.
    Buffering(BytesMut),
    /// A multipart upload is in progress.
    Streaming(WriteMultipart),
    /// Closed (or failed); further writes are refused.
    Closed,
}

/// A file being written: buffered, then streamed as a multipart upload once large.
struct ObjectWriter {
    store: Arc<dyn ObjectStore>,
    key: Path,
    location: String,
    state: WriterState,
}

#[async_trait]
impl FileWrite for ObjectWriter {
    async fn write(&mut self, bs: Bytes) -> iceberg::Result<()> {
        match &mut self.state {
            WriterState::Buffering(buf) => {
                buf.extend_from_slice(&bs);
                if buf.len() >= MULTIPART_THRESHOLD {
                    let pending = std::mem::take(buf).freeze();
                    let upload = self
                        .store
                        .put_multipart(&self.key)
                        .await
                        .map_err(|e| io_error("start multipart upload", &self.location, e))?;
                    let mut multipart =
                        WriteMultipart::new_with_chunk_size(upload, MULTIPART_THRESHOLD);
                    multipart.put(pending);
                    self.state = WriterState::Streaming(multipart);
                }
                Ok(())
            }
            WriterState::Streaming(multipart) => {
                multipart
                    .wait_for_capacity(2)
                    .await
                    .map_err(|e| io_error("upload part", &self.location, e))?;
                multipart.put(bs);
                Ok(())
            }
            WriterState::Closed => Err(Error::new(
                ErrorKind::Unexpected,
                format!("write to closed file `{}`", self.location),
            )),
        }
    }

    async fn close(&mut self) -> iceberg::Result<()> {
        match std::mem::replace(&mut self.state, WriterState::Closed) {
            WriterState::Buffering(buf) => {
                self.store
                    .put(&self.key, PutPayload::from_bytes(buf.freeze()))
                    .await
                    .map_err(|e| io_error("put", &self.location, e))?;
            }
            WriterState::Streaming(multipart) => {
                multipart
                    .finish()
                    .await
                    .map_err(|e| io_error("complete multipart upload", &self.location, e))?;
            }
            WriterState::Closed => {
                return Err(Error::new(
                    ErrorKind::Unexpected,
                    format!("file `{}` already closed", self.location),
                ));
            }
        }
        Ok(())
    }
}
