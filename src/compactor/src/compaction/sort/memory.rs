//! The buffered batches of a sort, put in order at once: their rows' keys are converted and
//! compared once, and the rows are copied once, a batch of them at a time as they are read,
//! or picked straight from the buffered batches by the final merge ([`super::merge`]).

use arrow_array::RecordBatch;
use arrow_row::{Row, Rows};
use arrow_schema::ArrowError;
use arrow_select::interleave::interleave_record_batch;

use super::keys::{Keys, SortError, prefix};

/// Batches, their rows' keys and the order of their rows: (prefix, batch, row), ascending.
pub(super) struct SortedMemory {
    batches: Vec<RecordBatch>,
    keys: Vec<Rows>,
    order: Vec<(u64, u32, u32)>,
    next: usize,
}

impl SortedMemory {
    /// The rows of `batches` in the order of `keys`.
    ///
    /// Each row is sorted by the first eight bytes of its key in the row format, read as one
    /// number, and only rows whose first eight bytes tie are compared whole: for keys such as
    /// a trace id almost every comparison is one integer comparison, on entries that sit
    /// together in memory, instead of two lookups into the rows and a byte comparison.
    pub(super) fn sort(keys: &Keys, batches: Vec<RecordBatch>) -> Result<Self, SortError> {
        let too_large = || ArrowError::InvalidArgumentError("too many rows to sort".into());
        let rows = batches.iter().map(|b| keys.rows(b)).collect::<Result<Vec<_>, _>>()?;
        let mut order = Vec::with_capacity(rows.iter().map(|r| r.num_rows()).sum());
        for (b, r) in rows.iter().enumerate() {
            let b = u32::try_from(b).map_err(|_| too_large())?;
            let n = u32::try_from(r.num_rows()).map_err(|_| too_large())?;
            order.extend((0..n).map(|i| (prefix(r.row(i as usize).as_ref()), b, i)));
        }
        order.sort_unstable_by(|&(ap, ab, ai), &(bp, bb, bi)| {
            ap.cmp(&bp).then_with(|| {
                rows[ab as usize].row(ai as usize).cmp(&rows[bb as usize].row(bi as usize))
            })
        });
        Ok(Self { batches, keys: rows, order, next: 0 })
    }

    /// The buffered batches, which [`Self::pick`] refers to by index.
    pub(super) fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// Whether every row has been read.
    pub(super) fn is_done(&self) -> bool {
        self.next >= self.order.len()
    }

    /// The next row's key: its prefix and the whole row (the sort is not done).
    pub(super) fn key(&self) -> (u64, Row<'_>) {
        let (p, b, i) = self.order[self.next];
        (p, self.keys[b as usize].row(i as usize))
    }

    /// The next row as (batch, row) of [`Self::batches`], and moves past it (the sort is not
    /// done).
    pub(super) fn pick(&mut self) -> (usize, usize) {
        let (_, b, i) = self.order[self.next];
        self.next += 1;
        (b as usize, i as usize)
    }

    /// The next (at most) `rows` rows in order, `None` after the last.
    pub(super) fn next_batch(&mut self, rows: usize) -> Result<Option<RecordBatch>, SortError> {
        if self.is_done() {
            return Ok(None);
        }
        let end = self.order.len().min(self.next + rows.max(1));
        let picks: Vec<(usize, usize)> =
            self.order[self.next..end].iter().map(|&(_, b, i)| (b as usize, i as usize)).collect();
        self.next = end;
        let batches: Vec<&RecordBatch> = self.batches.iter().collect();
        Ok(Some(interleave_record_batch(&batches, &picks)?))
    }
}
