//! The buffered batches of a sort, put in order at once: their rows' keys are converted and
//! compared once, and the rows are copied once, a batch of them at a time as they are read.

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;
use arrow_select::interleave::interleave_record_batch;

use super::keys::{Keys, SortError};

/// Batches and the order of their rows: (batch, row) pairs, ascending.
pub(super) struct SortedMemory {
    batches: Vec<RecordBatch>,
    order: Vec<(u32, u32)>,
    next: usize,
}

impl SortedMemory {
    /// The rows of `batches` in the order of `keys`.
    pub(super) fn sort(keys: &Keys, batches: Vec<RecordBatch>) -> Result<Self, SortError> {
        let too_large = || ArrowError::InvalidArgumentError("too many rows to sort".into());
        let rows = batches.iter().map(|b| keys.rows(b)).collect::<Result<Vec<_>, _>>()?;
        let mut order = Vec::with_capacity(rows.iter().map(|r| r.num_rows()).sum());
        for (b, r) in rows.iter().enumerate() {
            let b = u32::try_from(b).map_err(|_| too_large())?;
            let n = u32::try_from(r.num_rows()).map_err(|_| too_large())?;
            order.extend((0..n).map(|i| (b, i)));
        }
        order.sort_unstable_by(|&(ab, ai), &(bb, bi)| {
            rows[ab as usize].row(ai as usize).cmp(&rows[bb as usize].row(bi as usize))
        });
        Ok(Self { batches, order, next: 0 })
    }

    /// The next (at most) `rows` rows in order, `None` after the last.
    pub(super) fn next_batch(&mut self, rows: usize) -> Result<Option<RecordBatch>, SortError> {
        if self.next >= self.order.len() {
            return Ok(None);
        }
        let end = self.order.len().min(self.next + rows.max(1));
        let picks: Vec<(usize, usize)> =
            self.order[self.next..end].iter().map(|&(b, i)| (b as usize, i as usize)).collect();
        self.next = end;
        let batches: Vec<&RecordBatch> = self.batches.iter().collect();
        Ok(Some(interleave_record_batch(&batches, &picks)?))
    }
}
