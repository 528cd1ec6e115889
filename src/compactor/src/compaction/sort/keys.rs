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
