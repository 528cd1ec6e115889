//! Sorting the rows of one compaction group in bounded memory.
//!
//! Batches pushed are buffered; once they take more than the memory budget they are put in order
//! together (their keys converted and compared once, their rows copied once) into one sorted run,
//! written to a spill file (Arrow IPC) in the spill directory, and dropped.
//! [`ExternalSort::finish`] then merges the spilled runs and the batches still buffered, a batch at
//! a time. Runs are written in batches of [`SPILL_BATCH_ROWS`] rows, LZ4-compressed when the sort
//! is told its rows are many ([`ExternalSort::compress_spills`]: compression costs more CPU than
//! the rest of a spill), and a merge reads at most [`MAX_MERGE_FAN_IN`] runs at once: more runs are
//! first merged, that many at a time, into longer runs, so memory stays about the budget plus a
//! fixed number of small batches however large the group. Rows are compared in arrow's row format
//! (`arrow-row`), whose byte order is the sort order, nulls and direction included.
//!
//! Spill files are temporary files: they are removed when the sort (or what it returned) is
//! dropped, whether it finished or failed.

mod keys;
mod memory;
mod merge;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use arrow_array::RecordBatch;
use arrow_ipc::CompressionType;
use arrow_ipc::writer::{FileWriter, IpcWriteOptions};
use arrow_schema::SchemaRef;
use tempfile::NamedTempFile;

use keys::Keys;
pub(crate) use keys::SortError;
use memory::SortedMemory;
pub(crate) use merge::SortedBatches;
use merge::{Merge, Source};

use super::order::SortColumn;

/// Most spilled runs one merge reads at once (one batch of each is in memory).
pub(crate) const MAX_MERGE_FAN_IN: usize = 64;

/// Rows per batch of a spilled run: small, so that the batches a merge holds, one per run,
/// take a few tens of MiB however many runs it reads.
pub(crate) const SPILL_BATCH_ROWS: usize = 1024;

/// Where and within how much memory a sort works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortSettings {
    /// Bytes of buffered rows past which a sorted run is spilled.
    pub memory_budget_bytes: usize,
    /// Directory of the spill files (created when first needed).
    pub spill_dir: PathBuf,
}

impl Default for SortSettings {
    /// The defaults of `[compactor.sort]`: 64 MiB, the system temp dir's spill directory.
    fn default() -> Self {
        Self::from(&common::config::SortConfig::default())
    }
}

/// A bounded-memory sort of record batches of one schema.
#[derive(Debug)]
pub(crate) struct ExternalSort {
    keys: Keys,
    settings: SortSettings,
    batch_rows: usize,
    buffered: Vec<RecordBatch>,
    buffered_bytes: usize,
    runs: Vec<NamedTempFile>,
    spilled: usize,
    compress: bool,
}

impl ExternalSort {
    /// A sort of batches of `schema` by `order`, yielding batches of at most `batch_rows` rows.
    pub(crate) fn new(
        schema: SchemaRef,
        order: &[SortColumn],
        settings: SortSettings,
        batch_rows: usize,
    ) -> Result<Self, SortError> {
        Ok(Self {
            keys: Keys::new(schema, order)?,
            settings,
            batch_rows: batch_rows.max(1),
            buffered: Vec::new(),
            buffered_bytes: 0,
            runs: Vec::new(),
            spilled: 0,
            compress: false,
        })
    }

    /// This sort with its spilled runs LZ4-compressed (`compress`) or not (the default): a
    /// sort of a few hundred MiB spills faster uncompressed, one of many GiB needs the
    /// compression to fit its spill directory (about a third of the uncompressed size).
    pub(crate) fn compress_spills(self, compress: bool) -> Self {
        Self { compress, ..self }
    }

    /// Sorted runs spilled so far (not counting runs merged from other runs).
    pub(crate) fn spilled_runs(&self) -> usize {
        self.spilled
    }

    /// Adds `batch`'s rows, spilling a sorted run when the buffered rows pass the budget.
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<(), SortError> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.buffered_bytes += batch.get_array_memory_size();
        self.buffered.push(batch.clone());
        if self.buffered_bytes > self.settings.memory_budget_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// Every row pushed, in order, as batches of at most `batch_rows` rows.
    pub(crate) fn finish(mut self) -> Result<SortedBatches, SortError> {
        let dir = self.settings.spill_dir.clone();
        // Runs are merged oldest first into new runs at the end of the queue until one merge
        // can read them all: each row is rewritten about log_16(runs) more times.
        let mut runs = std::collections::VecDeque::from(std::mem::take(&mut self.runs));
        while let Some(take) = premerge_width(runs.len()) {
            let mut sources = Vec::with_capacity(take);
            for file in runs.drain(..take) {
                sources.push(Source::spilled(file, &self.keys.schema, &dir)?);
            }
            let rows = self.batch_rows.min(SPILL_BATCH_ROWS);
            let mut merge = Merge::new(self.keys.clone(), sources, None, rows)?;
            runs.push_back(self.write_run(|| merge.next_batch())?);
        }
        let memory = SortedMemory::sort(&self.keys, std::mem::take(&mut self.buffered))?;
        if runs.is_empty() {
            return Ok(SortedBatches::in_memory(memory, self.batch_rows));
        }
        let mut sources = Vec::with_capacity(runs.len());
        for file in runs {
            sources.push(Source::spilled(file, &self.keys.schema, &dir)?);
        }
        let merge = Merge::new(self.keys.clone(), sources, Some(memory), self.batch_rows)?;
        Ok(SortedBatches::merged(merge))
    }

    /// Puts the buffered batches in order as one sorted run in a new spill file.
    fn spill(&mut self) -> Result<(), SortError> {
        let sorted = SortedMemory::sort(&self.keys, std::mem::take(&mut self.buffered))?;
        self.buffered_bytes = 0;
        let rows = self.batch_rows.min(SPILL_BATCH_ROWS);
        let mut sorted = sorted;
        let run = self.write_run(|| sorted.next_batch(rows))?;
        self.runs.push(run);
        self.spilled += 1;
        Ok(())
    }

    /// Writes the batches `next` returns, in order, as one sorted run in a new spill file.
    fn write_run(
        &self,
        mut next: impl FnMut() -> Result<Option<RecordBatch>, SortError>,
    ) -> Result<NamedTempFile, SortError> {
        let dir = self.settings.spill_dir.clone();
        let io = |source| SortError::Spill { dir: dir.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut file = tempfile::Builder::new()
            .prefix("sort-run-")
            .suffix(".arrow")
            .tempfile_in(&dir)
            .map_err(io)?;
        let compression = self.compress.then_some(CompressionType::LZ4_FRAME);
        let options = IpcWriteOptions::default().try_with_compression(compression)?;
        let out = std::io::BufWriter::new(file.as_file_mut());
        let mut writer = FileWriter::try_new_with_options(out, &self.keys.schema, options)?;
        while let Some(batch) = next()? {
            writer.write(&batch)?;
        }
        writer.finish()?;
        drop(writer);
        Ok(file)
    }
}

/// How many of `runs` spilled runs to merge into one before the final merge, `None` once the
/// final merge can read them all: just enough that at most [`MAX_MERGE_FAN_IN`] remain.
fn premerge_width(runs: usize) -> Option<usize> {
    (runs > MAX_MERGE_FAN_IN).then(|| MAX_MERGE_FAN_IN.min(runs - MAX_MERGE_FAN_IN + 1))
}
