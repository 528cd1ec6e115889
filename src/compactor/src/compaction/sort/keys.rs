//! What a sort and its merges share: the key columns of the rows and their order in arrow's
//! row format, and the sort's error (a leaf module of the sort).

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{ArrowError, SchemaRef, SortOptions};

use super::super::order::SortColumn;

/// Why rows could not be sorted. Spill files written so far are removed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SortError {
    /// The rows lack a column to sort by.
    #[error("the rows have no column `{0}` to sort by")]
    MissingColumn(String),
    /// Arrow could not sort, convert, merge or (de)serialise the rows.
    #[error("sorting rows: {0}")]
    Arrow(#[from] ArrowError),
    /// A spill file could not be created, written or read.
    #[error("spill file in {dir}: {source}", dir = .dir.display())]
    Spill {
        /// The spill directory.
        dir: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// What is shared by the sort and its merges: the schema, the key columns and their order.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub(super) schema: SchemaRef,
    columns: Vec<usize>,
    converter: Arc<RowConverter>,
}

impl Keys {
    /// The keys of `order`'s columns of rows of `schema`.
    pub(super) fn new(schema: SchemaRef, order: &[SortColumn]) -> Result<Self, SortError> {
        let mut columns = Vec::with_capacity(order.len());
        let mut fields = Vec::with_capacity(order.len());
        for key in order {
            let (i, field) = schema
                .column_with_name(&key.column)
                .ok_or_else(|| SortError::MissingColumn(key.column.clone()))?;
            let options = SortOptions { descending: key.descending, nulls_first: key.nulls_first };
            columns.push(i);
            fields.push(SortField::new_with_options(field.data_type().clone(), options));
        }
        let converter = Arc::new(RowConverter::new(fields)?);
        Ok(Self { schema, columns, converter })
    }

    /// The rows of `batch`'s key columns, in the row format.
    pub(super) fn rows(&self, batch: &RecordBatch) -> Result<arrow_row::Rows, ArrowError> {
        let columns: Vec<ArrayRef> =
            self.columns.iter().map(|&i| Arc::clone(batch.column(i))).collect();
        self.converter.convert_columns(&columns)
    }
}

/// The first eight bytes of `row` (zero-padded) as a big-endian number: numbers compare as
/// the bytes do, and equal numbers leave the order to the whole rows.
pub(super) fn prefix(row: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = row.len().min(8);
    bytes[..n].copy_from_slice(&row[..n]);
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::prefix;

    #[test]
    fn prefixes_order_as_their_bytes_and_shorter_rows_pad_with_zeros() {
        let rows: [&[u8]; 6] = [
            b"",
            b"\x00",
            b"\x00\x01",
            b"\x01",
            b"\x01\x02\x03\x04\x05\x06\x07\x08",
            b"\x01\x02\x03\x04\x05\x06\x07\x09\x00",
        ];
        for pair in rows.windows(2) {
            assert!(prefix(pair[0]) <= prefix(pair[1]), "{pair:?}");
        }
        assert_eq!(prefix(b"\x01"), 0x0100_0000_0000_0000);
        // Equal prefixes leave the order to the whole rows.
        assert_eq!(prefix(rows[4]), prefix(b"\x01\x02\x03\x04\x05\x06\x07\x08\xff"));
    }
}
