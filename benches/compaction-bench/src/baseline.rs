//! Contender (a), the floor of what compaction can cost: for each hour partition directory,
//! read every input file completely into memory with arrow-rs, then write them as one Parquet
//! file with the writer settings the compactor uses. No Iceberg metadata is read or written.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use arrow_array::RecordBatch;
use compactor::RewriteSettings;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

/// Name of the one file written per hour directory.
const OUTPUT_FILE: &str = "baseline-00000.parquet";

/// What the baseline did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Hour directories rewritten.
    pub partitions: usize,
    /// Input files read.
    pub files_in: usize,
    /// Files written (one per partition).
    pub files_out: usize,
    /// Rows read.
    pub rows_read: u64,
    /// Rows written, from the footers of the written files.
    pub rows_written: u64,
    /// Bytes of the input files.
    pub bytes_in: u64,
    /// Bytes of the written files.
    pub bytes_out: u64,
    /// Seconds spent reading and writing, inside this process.
    pub seconds: f64,
}

/// Rewrites every hour directory under `warehouse` into one file under the same relative
/// directory of `out_dir`.
pub fn run(warehouse: &Path, out_dir: &Path) -> anyhow::Result<Summary> {
    let started = Instant::now();
    // The target size only decides when the compactor rolls files; here there is one file.
    let settings = RewriteSettings::new(u64::MAX);
    let mut dirs = Vec::new();
    hour_dirs(warehouse, &mut dirs)?;
    if dirs.is_empty() {
        bail!("no hour=... directory with Parquet files under {}", warehouse.display());
    }
    let mut summary = Summary::default();
    for (dir, inputs) in dirs {
        let rel = dir.strip_prefix(warehouse).unwrap_or(&dir);
        let target = out_dir.join(rel);
        std::fs::create_dir_all(&target)
            .with_context(|| format!("creating {}", target.display()))?;
        let one = rewrite_partition(&inputs, &target.join(OUTPUT_FILE), &settings)?;
        summary.partitions += 1;
        summary.files_in += inputs.len();
        summary.files_out += 1;
        summary.rows_read += one.rows_read;
        summary.rows_written += one.rows_written;
        summary.bytes_in += one.bytes_in;
        summary.bytes_out += one.bytes_out;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Reads all of `inputs` into memory, then writes them to `output`.
fn rewrite_partition(
    inputs: &[PathBuf],
    output: &Path,
    settings: &RewriteSettings,
) -> anyhow::Result<Summary> {
    let mut one = Summary::default();
    let mut batches: Vec<RecordBatch> = Vec::new();
    for path in inputs {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        one.bytes_in += file.metadata()?.len();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(settings.batch_rows.max(1)).build())
            .with_context(|| format!("reading {}", path.display()))?;
        for batch in reader {
            let batch = batch.with_context(|| format!("reading {}", path.display()))?;
            one.rows_read += batch.num_rows() as u64;
            batches.push(batch);
        }
    }
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => bail!("no rows in {} input file(s) next to {}", inputs.len(), output.display()),
    };
    // The compactor's own writer settings (codec, row groups, column encodings) for this schema.
    let props = settings
        .writer_properties_for(&schema, one.rows_read)
        .with_context(|| format!("the schema of the files next to {}", output.display()))?;
    let file = File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))?;
    for batch in batches {
        let batch = RecordBatch::try_new(Arc::clone(&schema), batch.columns().to_vec())
            .context("input files of one partition have different schemas")?;
        writer.write(&batch)?;
    }
    let meta = writer.close().with_context(|| format!("writing {}", output.display()))?;
    one.rows_written = u64::try_from(meta.file_metadata().num_rows()).unwrap_or(0);
    one.bytes_out = std::fs::metadata(output)?.len();
    Ok(one)
}

/// Every `hour=...` directory under `dir` that holds Parquet files, with those files, sorted.
fn hour_dirs(dir: &Path, out: &mut Vec<(PathBuf, Vec<PathBuf>)>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    let is_hour = dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("hour="));
    let mut files = Vec::new();
    for path in entries {
        if path.is_dir() {
            hour_dirs(&path, out)?;
        } else if is_hour && path.extension().is_some_and(|e| e == "parquet") {
            files.push(path);
        }
    }
    if !files.is_empty() {
        out.push((dir.to_path_buf(), files));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    fn write_input(path: &Path, start: i64, rows: i64) {
        let ids = Int64Array::from_iter_values(start..start + rows);
        let names = StringArray::from_iter_values((start..start + rows).map(|i| format!("n{i}")));
        // Iceberg's files carry each column's field id, from which the writer settings are made.
        let field = |name: &str, ty: DataType, id: &str| {
            let metadata = [("PARQUET:field_id".to_string(), id.to_string())].into();
            Field::new(name, ty, false).with_metadata(metadata)
        };
        let schema = Schema::new(vec![
            field("id", DataType::Int64, "1"),
            field("name", DataType::Utf8, "2"),
        ]);
        let batch =
            RecordBatch::try_new(Arc::new(schema), vec![Arc::new(ids) as _, Arc::new(names) as _])
                .unwrap();
        let mut w =
            ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    #[test]
    fn rewrites_each_hour_directory_into_one_file_with_every_row() {
        let wh = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        for (hour, files) in [("hour=2024-03-05-10", 3), ("hour=2024-03-05-11", 2)] {
            let dir = wh.path().join("t/data").join(hour);
            std::fs::create_dir_all(&dir).unwrap();
            for f in 0..files {
                write_input(&dir.join(format!("f{f}.parquet")), f * 100, 100);
            }
        }
        std::fs::create_dir_all(wh.path().join("t/metadata")).unwrap();
        std::fs::write(wh.path().join("t/metadata/x.avro"), b"not parquet").unwrap();

        let s = run(wh.path(), out.path()).unwrap();
        assert_eq!((s.partitions, s.files_in, s.files_out), (2, 5, 2));
        assert_eq!((s.rows_read, s.rows_written), (500, 500));
        let written = out.path().join("t/data/hour=2024-03-05-10").join(OUTPUT_FILE);
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&written).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 300);
    }

    #[test]
    fn an_empty_warehouse_is_an_error() {
        let wh = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        assert!(run(wh.path(), out.path()).is_err());
    }
}
