//! Output files reach their target: on realistic traces (one quiet hour of load generator
//! files), `compactor compact` leaves exactly the number of files its plan announced, every one
//! but the partition's remainder within 0.75-1.1x of the target, the same rows for pyiceberg
//! (the snapshot it replaced and the one it made, read by id), and a second pass that rewrites
//! nothing.
//!
//! A target of 256 KiB runs on 100 files of 2,000 rows, 4 MiB on 100 files of 3,200 (two full
//! outputs and a remainder, at about 0.75x of the input). For 16 MiB and 128 MiB (the
//! default) the hour needs two full outputs' worth of output and a remainder: 53 and 350 MiB
//! of input, which compacted output takes about 0.75x of (the plan packs groups by expected
//! output bytes, measured on a sample of the inputs);
//! the debug load generator writes about 20,000 rows (0.8 MiB) a second, so it writes two
//! large files and each is then copied byte for byte (and committed with one fast append) as
//! many times as needed: the files, their sizes and compression are the load generator's, and
//! the rows read back must be the two files' rows as many times over. Each file holds more
//! rows than an output row group (at most 128 Ki rows, or the target's size uncompressed), so
//! no row group of an output holds a row twice and the copies compress as distinct rows do;
//! copies of smaller files would compress better than real data and miss the target. For the
//! same reason these copies are compacted unsorted: sorting would put each row next to its
//! copies, which compress as no real data does. The real files of the smaller targets are
//! compacted sorted, as by default.

use std::time::Instant;

use common::TableKind;
use common::tables::TableId;
use iceberg::Catalog;
use iceberg::spec::DataFileBuilder;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use object_store::ObjectStoreExt;
use tests_integration::iceberg_read::list_locations;
use tests_integration::pyiceberg_snapshots::read_snapshots;
use tests_integration::{Backend, TestEnv, require_python};

use super::{Load, compactor, json_ok, live_file_sizes, table_entry};

const MIB: u64 = 1024 * 1024;

/// The input of one test: files of one quiet hour, each written `1 + copies` times.
#[derive(Debug, Clone, Copy)]
struct Input {
    load: Load,
    copies: usize,
}

impl Input {
    /// One quiet hour of `files` traces files of `rows` rows, each written `1 + copies` times.
    const fn hour(files: u64, rows: u64, copies: usize) -> Self {
        let load = Load {
            signals: &[TableKind::Traces],
            hours: 1,
            files_per_hour: files,
            rows_per_file: rows,
        };
        Self { load, copies }
    }
}

/// One quiet hour of 100 small traces files.
const ONE_HOUR: Input = Input::hour(100, 2000, 0);

/// One quiet hour of 100 traces files of 3,200 rows: about 9 MiB compacted, two 4 MiB files
/// and a remainder.
const FOR_4_MIB: Input = Input::hour(100, 3200, 0);

/// 14 traces files of 3.8 MiB: groups of 5, 5 and 4 files for 16 MiB.
const FOR_16_MIB: Input = Input::hour(2, 100_000, 6);

/// 46 traces files of 7.6 MiB: groups of 21, 21 and 4 files for 128 MiB.
const FOR_128_MIB: Input = Input::hour(2, 200_000, 22);

#[tokio::test]
async fn outputs_reach_the_target_on_sqlite_local() {
    for (target, input) in [(256 * 1024, ONE_HOUR), (4 * MIB, FOR_4_MIB)] {
        outputs_reach_the_target(Backend::SqliteLocal, target, input).await;
    }
}

#[tokio::test]
async fn outputs_reach_the_target_on_postgres_s3() {
    for (target, input) in [(256 * 1024, ONE_HOUR), (4 * MIB, FOR_4_MIB)] {
        outputs_reach_the_target(Backend::PostgresS3, target, input).await;
    }
}

#[tokio::test]
async fn outputs_reach_a_16_mib_target_on_sqlite_local() {
    outputs_reach_the_target(Backend::SqliteLocal, 16 * MIB, FOR_16_MIB).await;
}

#[tokio::test]
async fn outputs_reach_a_16_mib_target_on_postgres_s3() {
    outputs_reach_the_target(Backend::PostgresS3, 16 * MIB, FOR_16_MIB).await;
}

#[tokio::test]
async fn outputs_reach_a_128_mib_target_on_sqlite_local() {
    outputs_reach_the_target(Backend::SqliteLocal, 128 * MIB, FOR_128_MIB).await;
}

#[tokio::test]
async fn outputs_reach_a_128_mib_target_on_postgres_s3() {
    outputs_reach_the_target(Backend::PostgresS3, 128 * MIB, FOR_128_MIB).await;
}

/// Copies every live data file of `id` `copies` times beside itself, byte for byte, and
/// commits the copies (with the originals' statistics) in one fast append.
async fn append_copies(env: &TestEnv, id: &TableId, copies: usize) {
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let (warehouse, store) = (catalog.warehouse(), catalog.warehouse().object_store());
    let snapshot = table.metadata().current_snapshot().unwrap();
    let list = table.manifest_list_reader(snapshot).load().await.unwrap();
    let mut added = Vec::new();
    for manifest_file in list.entries() {
        let manifest = manifest_file.load_manifest(table.file_io()).await.unwrap();
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            let original = entry.data_file();
            let from = warehouse.object_path(original.file_path()).unwrap();
            for n in 0..copies {
                let path =
                    original.file_path().replace(".parquet", &format!("-copy{n:02}.parquet"));
                store.copy(&from, &warehouse.object_path(&path).unwrap()).await.unwrap();
                let copy = DataFileBuilder::default()
                    .content(original.content_type())
                    .file_path(path)
                    .file_format(original.file_format())
                    .partition(original.partition().clone())
                    .partition_spec_id(manifest_file.partition_spec_id)
                    .record_count(original.record_count())
                    .file_size_in_bytes(original.file_size_in_bytes())
                    .column_sizes(original.column_sizes().clone())
                    .value_counts(original.value_counts().clone())
                    .null_value_counts(original.null_value_counts().clone())
                    .lower_bounds(original.lower_bounds().clone())
                    .upper_bounds(original.upper_bounds().clone())
                    .build()
                    .unwrap();
                added.push(copy);
            }
        }
    }
    let tx = Transaction::new(&table);
    let tx = tx.fast_append().add_data_files(added).apply(tx).unwrap();
    tx.commit(catalog.catalog()).await.unwrap();
}

/// Deletes every object of `env`'s warehouse: moto keeps what it stores in memory until the
/// run ends.
async fn remove_warehouse(env: &TestEnv) {
    let warehouse = env.warehouse();
    let store = warehouse.object_store();
    for location in list_locations(&warehouse, env.warehouse_uri()).await.unwrap() {
        store.delete(&warehouse.object_path(&location).unwrap()).await.unwrap();
    }
}

async fn outputs_reach_the_target(backend: Backend, target: u64, input: Input) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    let what = format!("target {target} on {backend}");
    env.append_config(&format!(
        "[compactor]\ntarget_file_size_bytes = {target}\nsmall_file_threshold_bytes = {}",
        target * 3 / 4
    ));
    if input.copies > 0 {
        env.append_config("[compactor.sort]\nenabled = false");
    }
    let started = Instant::now();
    let ids = input.load.run(&env);
    let id = &ids[0];
    if input.copies > 0 {
        append_copies(&env, id, input.copies).await;
    }
    let loaded = started.elapsed();
    let inputs = live_file_sizes(&env, id).await;
    assert!(inputs.iter().all(|s| *s < target * 3 / 4), "{what}: inputs {inputs:?}");

    let plan = json_ok(&compactor(&env, &["plan", "--json"]));
    let planned = table_entry(&plan, id)["details"]["files_after"].as_u64().unwrap();
    json_ok(&compactor(&env, &["compact", "--json"]));
    let compacted = started.elapsed();

    let sizes = live_file_sizes(&env, id).await;
    assert_eq!(sizes.len() as u64, planned, "{what}: {sizes:?}");
    assert!(sizes.len() >= 3, "{what}: {sizes:?}");
    for size in &sizes[1..] {
        let ratio = *size as f64 / target as f64;
        assert!((0.75..=1.1).contains(&ratio), "{what}: {sizes:?}");
    }

    // The snapshot the pass made reads the loadgen's rows, `1 + copies` times over.
    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let mut snapshots: Vec<_> = table.metadata().snapshots().collect();
    snapshots.sort_by_key(|s| s.sequence_number());
    let ends = [snapshots[0].snapshot_id(), snapshots[snapshots.len() - 1].snapshot_id()];
    let read = read_snapshots(&env, &id.to_string(), Some(&ends));
    let (loadgen, replaced) = (read.snapshot(ends[0]), read.snapshot(ends[1]));
    let operations: Vec<&str> = read.snapshots.iter().map(|s| s.operation.as_str()).collect();
    let appends = if input.copies > 0 { 2 } else { 1 };
    assert_eq!(operations, [vec!["append"; appends], vec!["replace"]].concat(), "{what}");
    let times = 1 + input.copies as u64;
    assert_eq!(loadgen.rows, Some(input.load.rows_per_table()), "{what}");
    assert_eq!(replaced.rows, Some(input.load.rows_per_table() * times), "{what}");
    let digest = loadgen.rows_digest.unwrap() * i128::from(times);
    assert_eq!(replaced.rows_digest, Some(digest), "{what}: the rows");
    let read_back = started.elapsed();

    let again = json_ok(&compactor(&env, &["compact", "--json"]));
    let details = &table_entry(&again, id)["details"];
    assert_eq!(details["bytes_to_rewrite"], 0, "{what}: {details}");
    assert_eq!(details["execution"]["groups"].as_array().map(Vec::len), Some(0), "{details}");
    if backend.uses_s3() {
        remove_warehouse(&env).await;
    }
    eprintln!(
        "file_sizes {what}: {} MiB in {} files -> {sizes:?}; load {loaded:?}, compaction {:?}, \
         pyiceberg {:?}, second pass {:?}",
        inputs.iter().sum::<u64>() / MIB,
        inputs.len(),
        compacted - loaded,
        read_back - compacted,
        started.elapsed() - read_back
    );
}
