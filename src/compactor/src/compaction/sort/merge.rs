//! The k-way merge of sorted sources: spilled runs read back a batch at a time, and the
//! buffered batches put in order in memory.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_ipc::reader::FileReader;
use arrow_row::{Row, Rows};
use arrow_schema::SchemaRef;
use arrow_select::interleave::interleave_record_batch;
use tempfile::NamedTempFile;

use super::keys::{Keys, SortError, prefix};
use super::memory::SortedMemory;

/// Where a sorted sequence of batches comes from.
pub(super) enum Source {
    /// Buffered batches put in order, read `rows` at a time.
    Memory {
        /// The rows in order.
        sorted: Box<SortedMemory>,
        /// Rows per batch read.
        rows: usize,
    },
    /// A spilled run; the file is removed when the source is dropped.
    Spilled {
        /// Its batches, in order (boxed: a reader is far larger than a batch).
        reader: Box<FileReader<BufReader<File>>>,
        /// The schema batches are returned with (the file's lacks nothing, but this keeps
        /// the field ids' metadata exactly as the writer expects).
        schema: SchemaRef,
        /// Held so that the file lives as long as the reader.
        _file: NamedTempFile,
    },
    /// Nothing left.
    Done,
}

impl Source {
    /// The run in `file`, to be read back with `schema`.
    pub(super) fn spilled(
        file: NamedTempFile,
        schema: &SchemaRef,
        dir: &Path,
    ) -> Result<Self, SortError> {
        let io = |source| SortError::Spill { dir: dir.to_path_buf(), source };
        let reader = Box::new(FileReader::try_new_buffered(file.reopen().map_err(io)?, None)?);
        Ok(Source::Spilled { reader, schema: schema.clone(), _file: file })
    }

    /// The next non-empty batch.
    fn next(&mut self) -> Result<Option<RecordBatch>, SortError> {
        loop {
            let batch = match std::mem::replace(self, Source::Done) {
                Source::Memory { mut sorted, rows } => match sorted.next_batch(rows)? {
                    Some(batch) => {
                        *self = Source::Memory { sorted, rows };
                        batch
                    }
                    None => return Ok(None),
                },
                Source::Done => return Ok(None),
                Source::Spilled { mut reader, schema, _file } => match reader.next() {
                    Some(batch) => {
                        let batch =
                            RecordBatch::try_new(schema.clone(), batch?.columns().to_vec())?;
                        *self = Source::Spilled { reader, schema, _file };
                        batch
                    }
                    None => return Ok(None),
                },
            };
            if batch.num_rows() > 0 {
                return Ok(Some(batch));
            }
        }
    }
}

/// A source's current batch and position in it.
struct Cursor {
    source: Source,
    batch: RecordBatch,
    rows: Rows,
    /// The first eight bytes of each of `rows`, as [`prefix`] reads them.
    prefixes: Vec<u64>,
    pos: usize,
    /// Index of `batch` in the merge's batches of the output being assembled.
    slot: usize,
}

impl Cursor {
    /// The current row's key: its prefix, compared first, and the whole row.
    fn key(&self) -> (u64, Row<'_>) {
        (self.prefixes[self.pos], self.rows.row(self.pos))
    }

    /// Makes `batch` (whose keys are `rows`) the cursor's current batch, at its first row.
    fn load(&mut self, batch: RecordBatch, rows: Rows, slot: usize) {
        self.prefixes = prefixes(&rows);
        self.rows = rows;
        self.batch = batch;
        self.pos = 0;
        self.slot = slot;
    }
}

/// The prefix of each of `rows`.
fn prefixes(rows: &Rows) -> Vec<u64> {
    rows.iter().map(|row| prefix(row.as_ref())).collect()
}

/// Merges sorted sources into sorted batches.
pub(super) struct Merge {
    keys: Keys,
    batch_rows: usize,
    cursors: Vec<Cursor>,
    /// Indices into `cursors`, a binary min-heap on their current rows.
    heap: Vec<usize>,
    /// The batches the output being assembled takes rows from.
    batches: Vec<RecordBatch>,
}

impl Merge {
    /// A merge of `sources`, each sorted by `keys`, into batches of at most `batch_rows` rows.
    pub(super) fn new(
        keys: Keys,
        sources: Vec<Source>,
        batch_rows: usize,
    ) -> Result<Self, SortError> {
        let mut merge =
            Merge { keys, batch_rows, cursors: Vec::new(), heap: Vec::new(), batches: Vec::new() };
        for mut source in sources {
            if let Some(batch) = source.next()? {
                let rows = merge.keys.rows(&batch)?;
                let prefixes = prefixes(&rows);
                let slot = merge.batches.len();
                merge.batches.push(batch.clone());
                merge.cursors.push(Cursor { source, batch, rows, prefixes, pos: 0, slot });
            }
        }
        merge.heap = (0..merge.cursors.len()).collect();
        for i in (0..merge.heap.len() / 2).rev() {
            sift_down(&merge.cursors, &mut merge.heap, i);
        }
        Ok(merge)
    }

    /// The next batch of the merged order, `None` once every source is drained.
    pub(super) fn next_batch(&mut self) -> Result<Option<RecordBatch>, SortError> {
        let mut picks = Vec::with_capacity(self.batch_rows);
        while picks.len() < self.batch_rows {
            let Some(&top) = self.heap.first() else { break };
            let cursor = &mut self.cursors[top];
            picks.push((cursor.slot, cursor.pos));
            cursor.pos += 1;
            if cursor.pos == cursor.batch.num_rows() {
                match cursor.source.next()? {
                    Some(batch) => {
                        let rows = self.keys.rows(&batch)?;
                        self.batches.push(batch.clone());
                        cursor.load(batch, rows, self.batches.len() - 1);
                    }
                    None => {
                        let last = self.heap.pop().expect("the heap holds top");
                        if self.heap.is_empty() {
                            continue;
                        }
                        self.heap[0] = last;
                    }
                }
            }
            sift_down(&self.cursors, &mut self.heap, 0);
        }
        if picks.is_empty() {
            return Ok(None);
        }
        let batches: Vec<&RecordBatch> = self.batches.iter().collect();
        let out = interleave_record_batch(&batches, &picks)?;
        // Only the live cursors' batches are needed for the next output.
        self.batches.clear();
        for &i in &self.heap {
            self.cursors[i].slot = self.batches.len();
            self.batches.push(self.cursors[i].batch.clone());
        }
        Ok(Some(out))
    }
}

/// Whether cursor `a`'s current row sorts before `b`'s (by prefix, then the whole row; ties
/// by source, so the merge is deterministic).
fn less(cursors: &[Cursor], a: usize, b: usize) -> bool {
    (cursors[a].key(), a) < (cursors[b].key(), b)
}

/// Restores the heap property below position `i`.
fn sift_down(cursors: &[Cursor], heap: &mut [usize], mut i: usize) {
    loop {
        let (l, r) = (2 * i + 1, 2 * i + 2);
        let mut smallest = i;
        if l < heap.len() && less(cursors, heap[l], heap[smallest]) {
            smallest = l;
        }
        if r < heap.len() && less(cursors, heap[r], heap[smallest]) {
            smallest = r;
        }
        if smallest == i {
            return;
        }
        heap.swap(i, smallest);
        i = smallest;
    }
}

/// The sorted rows of an [`super::ExternalSort`], a batch at a time; the spill files are
/// removed when it is dropped.
pub(crate) struct SortedBatches(Output);

/// Where the sorted rows come from: memory alone, or a merge with spilled runs.
enum Output {
    Memory { sorted: Box<SortedMemory>, rows: usize },
    Merge(Merge),
}

impl SortedBatches {
    /// The rows of `merge`.
    pub(super) fn merged(merge: Merge) -> Self {
        Self(Output::Merge(merge))
    }

    /// The rows of `sorted`, `rows` per batch: nothing was spilled.
    pub(super) fn in_memory(sorted: SortedMemory, rows: usize) -> Self {
        Self(Output::Memory { sorted: Box::new(sorted), rows })
    }

    /// The next batch in order, `None` after the last.
    pub(crate) fn next_batch(&mut self) -> Result<Option<RecordBatch>, SortError> {
        match &mut self.0 {
            Output::Memory { sorted, rows } => sorted.next_batch(*rows),
            Output::Merge(merge) => merge.next_batch(),
        }
    }
}
