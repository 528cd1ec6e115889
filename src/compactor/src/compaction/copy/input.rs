//! One input file of a copy: its footer, and the bytes of one row group at a time.

use std::sync::Arc;

use bytes::{Buf, Bytes};
use iceberg::arrow::ArrowFileReader;
use iceberg::io::FileMetadata;
use iceberg::scan::FileScanTask;
use iceberg::table::Table;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader, RowGroupMetaData,
};
use parquet::file::reader::{ChunkReader, Length};

use super::super::rewrite_error::RewriteError;

/// One input file: where it is, its size, its footer (page indexes included) and a reader
/// of byte ranges.
pub(super) struct Input {
    /// The file's location.
    pub(super) path: String,
    /// Its size, as the manifests state it.
    pub(super) size: u64,
    /// Its footer.
    pub(super) metadata: Arc<ParquetMetaData>,
    reader: ArrowFileReader,
}

impl Input {
    /// Opens the file of `task` and reads its footer.
    pub(super) async fn open(table: &Table, task: &FileScanTask) -> Result<Self, RewriteError> {
        let path = task.data_file_path.clone();
        let read_err = |e| RewriteError::Read { path: path.clone(), source: Box::new(e) };
        let input = table.file_io().new_input(&path).map_err(read_err)?;
        // The manifests state the size: no request is needed to learn it.
        let size = task.file_size_in_bytes;
        let meta = FileMetadata { size };
        let mut reader = ArrowFileReader::new(meta, input.reader().await.map_err(read_err)?);
        let metadata = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Optional)
            .load_and_finish(&mut reader, size)
            .await
            .map_err(|e| read_err(parquet_error(e)))?;
        Ok(Self { path, size, metadata: Arc::new(metadata), reader })
    }

    /// The error of reading this file.
    pub(super) fn error(&self, e: iceberg::Error) -> RewriteError {
        RewriteError::Read { path: self.path.clone(), source: Box::new(e) }
    }

    /// The bytes of row group `rg`'s column chunks and bloom filters.
    pub(super) async fn row_group(
        &mut self,
        rg: &RowGroupMetaData,
    ) -> Result<Pieces, RewriteError> {
        let mut ranges = Vec::new();
        let chunks = rg.columns().iter().map(|c| c.byte_range());
        let (start, end) = chunks.fold((u64::MAX, 0), |(s, e), (o, l)| (s.min(o), e.max(o + l)));
        if start < end {
            ranges.push(start..end);
        }
        for c in rg.columns() {
            if let (Some(offset), Some(len)) = (c.bloom_filter_offset(), c.bloom_filter_length()) {
                let offset = u64::try_from(offset).unwrap_or(0);
                ranges.push(offset..offset + u64::try_from(len).unwrap_or(0));
            }
        }
        let fetched = self.reader.get_byte_ranges(ranges.clone()).await;
        let fetched = fetched.map_err(|e| self.error(parquet_error(e)))?;
        let pieces = ranges.into_iter().map(|r| r.start).zip(fetched).collect();
        Ok(Pieces(Arc::new(pieces)))
    }
}

/// Fetched byte ranges of one file, readable as a Parquet chunk reader at the file's offsets.
#[derive(Clone)]
pub(super) struct Pieces(Arc<Vec<(u64, Bytes)>>);

impl Pieces {
    fn slice(&self, start: u64, len: Option<usize>) -> parquet::errors::Result<Bytes> {
        let piece = self.0.iter().find(|(at, b)| {
            let end = *at + b.len() as u64;
            *at <= start && start + len.unwrap_or(0) as u64 <= end
        });
        let Some((at, bytes)) = piece else {
            return Err(ParquetError::General(format!("bytes at {start} were not fetched")));
        };
        let from = usize::try_from(start - at).unwrap_or(usize::MAX);
        Ok(match len {
            Some(len) => bytes.slice(from..from + len),
            None => bytes.slice(from..),
        })
    }
}

impl Length for Pieces {
    fn len(&self) -> u64 {
        self.0.iter().map(|(at, b)| at + b.len() as u64).max().unwrap_or(0)
    }
}

impl ChunkReader for Pieces {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(self.slice(start, None)?.reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, Some(length))
    }
}

/// A Parquet error as the iceberg errors the readers and writers return.
pub(super) fn parquet_error(e: ParquetError) -> iceberg::Error {
    iceberg::Error::new(iceberg::ErrorKind::Unexpected, "parquet").with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_serve_ranges_inside_one_fetched_range_only() {
        let pieces = Pieces(Arc::new(vec![
            (100, Bytes::from_static(b"abcdef")),
            (500, Bytes::from_static(b"xyz")),
        ]));
        assert_eq!(pieces.get_bytes(102, 3).unwrap(), Bytes::from_static(b"cde"));
        assert_eq!(pieces.get_bytes(500, 3).unwrap(), Bytes::from_static(b"xyz"));
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut pieces.get_read(104).unwrap(), &mut rest).unwrap();
        assert_eq!(rest, b"ef");
        assert_eq!(pieces.len(), 503);
        let err = pieces.get_bytes(104, 10).unwrap_err();
        assert!(err.to_string().contains("bytes at 104 were not fetched"), "{err}");
        assert!(pieces.get_bytes(0, 1).is_err());
    }
}
