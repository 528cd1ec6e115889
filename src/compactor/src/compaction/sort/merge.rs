//! The k-way merge of sorted sources: spilled runs read back a batch at a time, and the
//! buffered batches put in order in memory, whose rows are picked straight from the batches
//! they were pushed in (with the keys the in-memory sort converted), never copied into
//! batches of their own first.

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

/// A sorted run read back from a spill file, a batch at a time.
pub(super) enum Source {
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

/// The merge's sources: the spilled runs' cursors and the sorted memory, which the heap
/// refers to as index `cursors.len()`.
struct Sources {
    cursors: Vec<Cursor>,
    memory: Option<Box<SortedMemory>>,
}

impl Sources {
    /// The current row's key of source `i` (the memory when `i` is `cursors.len()`).
    fn key(&self, i: usize) -> (u64, Row<'_>) {
        match self.cursors.get(i) {
            Some(cursor) => cursor.key(),
            None => self.memory.as_ref().expect("the heap refers to the memory").key(),
        }
    }

    /// Whether source `a`'s current row sorts before `b`'s (by prefix, then the whole row;
    /// ties by source, so the merge is deterministic).
    fn less(&self, a: usize, b: usize) -> bool {
        (self.key(a), a) < (self.key(b), b)
    }

    /// Restores the heap property of `heap` below position `i`.
    fn sift_down(&self, heap: &mut [usize], mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut smallest = i;
            if l < heap.len() && self.less(heap[l], heap[smallest]) {
                smallest = l;
            }
            if r < heap.len() && self.less(heap[r], heap[smallest]) {
                smallest = r;
            }
            if smallest == i {
                return;
            }
            heap.swap(i, smallest);
            i = smallest;
        }
    }
}

/// Merges sorted sources into sorted batches.
pub(super) struct Merge {
    keys: Keys,
    batch_rows: usize,
    sources: Sources,
    /// Indices of sources with rows left, a binary min-heap on their current rows.
    heap: Vec<usize>,
    /// The batches the output being assembled takes rows from: the memory's first, then the
    /// spilled runs' current and drained ones.
    batches: Vec<RecordBatch>,
    /// How many of `batches` are the memory's.
    memory_batches: usize,
}

impl Merge {
    /// A merge of the spilled runs of `spilled` and the rows of `memory`, each sorted by
    /// `keys`, into batches of at most `batch_rows` rows.
    pub(super) fn new(
        keys: Keys,
        spilled: Vec<Source>,
        memory: Option<SortedMemory>,
        batch_rows: usize,
    ) -> Result<Self, SortError> {
        let memory = memory.filter(|m| !m.is_done()).map(Box::new);
        let batches: Vec<RecordBatch> = memory.iter().flat_map(|m| m.batches()).cloned().collect();
        let memory_batches = batches.len();
        let sources = Sources { cursors: Vec::new(), memory };
        let mut merge =
            Merge { keys, batch_rows, sources, heap: Vec::new(), batches, memory_batches };
        for mut source in spilled {
            if let Some(batch) = source.next()? {
                let rows = merge.keys.rows(&batch)?;
                let prefixes = prefixes(&rows);
                let slot = merge.batches.len();
                merge.batches.push(batch.clone());
                merge.sources.cursors.push(Cursor { source, batch, rows, prefixes, pos: 0, slot });
            }
        }
        let with_memory = merge.sources.cursors.len() + usize::from(merge.sources.memory.is_some());
        merge.heap = (0..with_memory).collect();
        for i in (0..merge.heap.len() / 2).rev() {
            merge.sources.sift_down(&mut merge.heap, i);
        }
        Ok(merge)
    }

    /// The next batch of the merged order, `None` once every source is drained.
    pub(super) fn next_batch(&mut self) -> Result<Option<RecordBatch>, SortError> {
        let mut picks = Vec::with_capacity(self.batch_rows);
        while picks.len() < self.batch_rows {
            let Some(&top) = self.heap.first() else { break };
            let drained = match self.sources.cursors.get_mut(top) {
                None => {
                    let memory = self.sources.memory.as_mut().expect("the heap refers to it");
                    picks.push(memory.pick());
                    memory.is_done()
                }
                Some(cursor) => {
                    picks.push((cursor.slot, cursor.pos));
                    cursor.pos += 1;
                    if cursor.pos < cursor.batch.num_rows() {
                        false
                    } else if let Some(batch) = cursor.source.next()? {
                        let rows = self.keys.rows(&batch)?;
                        self.batches.push(batch.clone());
                        cursor.load(batch, rows, self.batches.len() - 1);
                        false
                    } else {
                        true
                    }
                }
            };
            if drained {
                let last = self.heap.pop().expect("the heap holds top");
                if self.heap.is_empty() {
                    continue;
                }
                self.heap[0] = last;
            }
            self.sources.sift_down(&mut self.heap, 0);
        }
        if picks.is_empty() {
            return Ok(None);
        }
        let batches: Vec<&RecordBatch> = self.batches.iter().collect();
        let out = interleave_record_batch(&batches, &picks)?;
        // The memory's batches and the live cursors' are needed for the next output.
        self.batches.truncate(self.memory_batches);
        for &i in &self.heap {
            if let Some(cursor) = self.sources.cursors.get_mut(i) {
                cursor.slot = self.batches.len();
                self.batches.push(cursor.batch.clone());
            }
        }
        Ok(Some(out))
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
