//! A real SQLite catalog and local warehouse in a temporary directory, a `logs` table filled
//! through iceberg's Parquet writers and fast appends, and readers of what a snapshot holds.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use common::TableKind;
use common::catalog::{SignalCatalog, ensure_table};
use common::config::{SchemaConfig, StorageConfig};
use common::partition::{MICROS_PER_HOUR, PartitionDirectory, hour_partition};
use common::storage::Warehouse;
use common::tables::TableId;
use futures::TryStreamExt;
use iceberg::MetadataLocation;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, MAIN_BRANCH, ManifestListWriter,
    ManifestStatus, ManifestWriterBuilder, Operation, PartitionKey, PrimitiveLiteral, Snapshot,
    Summary, TableMetadataBuilder,
};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::DefaultFileNameGenerator;
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::file::properties::WriterProperties;

/// 2024-01-01T00:00Z in hours since the epoch.
pub(crate) const BASE_HOUR: i64 = 473_352;

/// A catalog with one `acme.prod.logs` table.
pub(crate) struct Fixture {
    /// The connected catalog.
    pub catalog: SignalCatalog,
    /// The table.
    pub id: TableId,
    _dir: tempfile::TempDir,
}

/// A fresh SQLite catalog and local warehouse in a temporary directory (removed on drop of
/// the returned `TempDir`), with the configuration they were opened from.
pub(crate) struct TempCatalog {
    /// The connected catalog.
    pub catalog: SignalCatalog,
    /// Its `[schema]` section.
    pub schema: SchemaConfig,
    /// Its warehouse.
    pub warehouse: Warehouse,
    /// The directory holding both.
    pub dir: tempfile::TempDir,
}

impl TempCatalog {
    /// Creates and connects it.
    pub(crate) async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = StorageConfig {
            dsn: format!("file://{}/storage", dir.path().display()),
            ..Default::default()
        };
        let schema = SchemaConfig {
            catalog_uri: format!("sqlite://{}/catalog.db", dir.path().display()),
            ..Default::default()
        };
        let warehouse = Warehouse::open(&storage).unwrap();
        let catalog = SignalCatalog::connect(&schema, &warehouse).await.unwrap();
        Self { catalog, schema, warehouse, dir }
    }
}

impl Fixture {
    /// An empty table in a fresh catalog and warehouse.
    pub(crate) async fn new() -> Self {
        let TempCatalog { catalog, dir, .. } = TempCatalog::new().await;
        let id = TableId::new("acme", "prod", TableKind::Logs).unwrap();
        ensure_table(&catalog, &id).await.unwrap();
        Self { catalog, id, _dir: dir }
    }

    /// An empty table in a fresh catalog of its own name on the PostgreSQL server at `url`,
    /// with a warehouse in a temporary directory.
    pub(crate) async fn on_postgres(url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = StorageConfig {
            dsn: format!("file://{}/storage", dir.path().display()),
            ..Default::default()
        };
        let schema = SchemaConfig {
            catalog_uri: url.to_string(),
            catalog_name: format!("test-{}", uuid::Uuid::new_v4().simple()),
            ..Default::default()
        };
        let warehouse = Warehouse::open(&storage).unwrap();
        let catalog = SignalCatalog::connect(&schema, &warehouse).await.unwrap();
        let id = TableId::new("acme", "prod", TableKind::Logs).unwrap();
        ensure_table(&catalog, &id).await.unwrap();
        Self { catalog, id, _dir: dir }
    }

    /// The table as the catalog currently points at it.
    pub(crate) async fn load(&self) -> Table {
        self.catalog.load_table(&self.id.ident()).await.unwrap()
    }

    /// `appends` fast appends, each of one file of `rows` rows per hour in `hours`. Returns
    /// the rows written per hour.
    pub(crate) async fn fill(
        &self,
        hours: &[i64],
        appends: usize,
        rows: usize,
    ) -> BTreeMap<i64, usize> {
        let mut written = BTreeMap::new();
        for round in 0..appends {
            let table = self.load().await;
            let mut files = Vec::new();
            for &hour in hours {
                let seed = round * 100 + (hour - BASE_HOUR) as usize;
                files.extend(write(&table, hour, vec![batch(&table, hour, rows, seed)]).await);
                *written.entry(hour).or_default() += rows;
            }
            self.append(files).await;
        }
        written
    }

    /// Commits a snapshot adding one position-delete file to `hour` (a manifest entry only: no
    /// file is written, so scan the table only after the entry is removed) and returns its path.
    /// iceberg-rust 0.10 cannot commit delete files, so this builds the snapshot by hand.
    pub(crate) async fn add_position_delete(&self, hour: i64) -> String {
        let table = self.load().await;
        let md = table.metadata();
        let tag = uuid::Uuid::new_v4();
        let path =
            format!("{}/delete-{tag}.parquet", PartitionDirectory::hour(md.location(), hour).dir());
        let delete = DataFileBuilder::default()
            .content(DataContentType::PositionDeletes)
            .file_path(path.clone())
            .file_format(DataFileFormat::Parquet)
            .partition(hour_partition(hour).unwrap())
            .partition_spec_id(md.default_partition_spec_id())
            .record_count(1)
            .file_size_in_bytes(64)
            .build()
            .unwrap();
        self.commit_delete(delete).await;
        path
    }

    /// Writes a real position delete file of `hour` deleting the rows `positions` (file path,
    /// row position) and commits it in a snapshot of its own; returns its path.
    pub(crate) async fn write_position_delete(
        &self,
        hour: i64,
        positions: &[(&str, i64)],
    ) -> String {
        use arrow_array::Int64Array;
        let columns: Vec<(&str, i32, ArrayRef)> = vec![
            (
                "file_path",
                2147483546,
                Arc::new(StringArray::from_iter_values(positions.iter().map(|(p, _)| *p))),
            ),
            (
                "pos",
                2147483545,
                Arc::new(Int64Array::from_iter_values(positions.iter().map(|p| p.1))),
            ),
        ];
        self.write_delete(hour, DataContentType::PositionDeletes, columns, None).await
    }

    /// Writes a real equality delete file of `hour` deleting the rows whose string column
    /// `column` is one of `values`, and commits it in a snapshot of its own; returns its path.
    pub(crate) async fn write_equality_delete(
        &self,
        hour: i64,
        column: &str,
        values: &[&str],
    ) -> String {
        let table = self.load().await;
        let id = table.metadata().current_schema().field_by_name(column).unwrap().id;
        let array: ArrayRef = Arc::new(StringArray::from_iter_values(values.iter().copied()));
        let columns = vec![(column, id, array)];
        self.write_delete(hour, DataContentType::EqualityDeletes, columns, Some(vec![id])).await
    }

    /// Writes `columns` (name, field id, values) as a Parquet delete file of `content` in
    /// `hour`'s directory and commits it.
    async fn write_delete(
        &self,
        hour: i64,
        content: DataContentType,
        columns: Vec<(&str, i32, ArrayRef)>,
        equality_ids: Option<Vec<i32>>,
    ) -> String {
        use parquet::arrow::{ArrowWriter, PARQUET_FIELD_ID_META_KEY};
        let table = self.load().await;
        let md = table.metadata();
        let fields: Vec<arrow_schema::Field> = columns
            .iter()
            .map(|(name, id, array)| {
                arrow_schema::Field::new(*name, array.data_type().clone(), false)
                    .with_metadata([(PARQUET_FIELD_ID_META_KEY.to_string(), id.to_string())].into())
            })
            .collect();
        let schema = Arc::new(arrow_schema::Schema::new(fields));
        let arrays = columns.into_iter().map(|(_, _, a)| a).collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let tag = uuid::Uuid::new_v4();
        let path =
            format!("{}/delete-{tag}.parquet", PartitionDirectory::hour(md.location(), hour).dir());
        let size = bytes.len() as u64;
        table.file_io().new_output(&path).unwrap().write(bytes.into()).await.unwrap();
        let mut builder = DataFileBuilder::default();
        builder
            .content(content)
            .file_path(path.clone())
            .file_format(DataFileFormat::Parquet)
            .partition(hour_partition(hour).unwrap())
            .partition_spec_id(md.default_partition_spec_id())
            .record_count(batch.num_rows() as u64)
            .file_size_in_bytes(size);
        if let Some(ids) = equality_ids {
            builder.equality_ids(Some(ids));
        }
        self.commit_delete(builder.build().unwrap()).await;
        path
    }

    /// Commits the delete file `delete` of the table's default spec in a `delete` snapshot of
    /// its own. iceberg-rust 0.10 cannot commit delete files, so the snapshot is built by hand.
    async fn commit_delete(&self, delete: DataFile) {
        let table = self.load().await;
        let (md, io) = (table.metadata(), table.file_io());
        let parent = md.current_snapshot().unwrap();
        let (snapshot_id, seq) = (parent.snapshot_id() + 1, md.next_sequence_number());
        let spec = md.default_partition_spec().clone();
        let tag = uuid::Uuid::new_v4();
        let (records, size) = (delete.record_count() as i64, delete.file_size_in_bytes() as i64);
        let kind = match delete.content_type() {
            DataContentType::EqualityDeletes => "total-equality-deletes",
            _ => "total-position-deletes",
        };
        let manifest_path = format!("{}/metadata/{tag}-m0.avro", md.location());
        let schema = md.current_schema().clone();
        let mut writer = ManifestWriterBuilder::new(
            io.new_output(&manifest_path).unwrap(),
            Some(snapshot_id),
            schema,
            spec.as_ref().clone(),
        )
        .build_v2_deletes();
        writer.add_file(delete, seq).unwrap();
        let list = table.manifest_list_reader(parent).load().await.unwrap();
        let mut manifests: Vec<_> = list.consume_entries().into_iter().collect();
        manifests.push(writer.write_manifest_file().await.unwrap());
        let list_path = format!("{}/metadata/snap-{snapshot_id}-0-{tag}.avro", md.location());
        let sink = io.new_output(&list_path).unwrap().writer().await.unwrap();
        let mut list = ManifestListWriter::v2(sink, snapshot_id, Some(parent.snapshot_id()), seq);
        list.add_manifests(manifests.into_iter()).unwrap();
        list.close().await.unwrap();

        let mut props = parent.summary().additional_properties.clone();
        for (key, by) in [("total-delete-files", 1), (kind, records), ("total-files-size", size)] {
            let total: i64 = props.get(key).map_or(0, |v| v.parse().unwrap());
            props.insert(key.to_string(), (total + by).to_string());
        }
        let snapshot = Snapshot::builder()
            .with_snapshot_id(snapshot_id)
            .with_parent_snapshot_id(Some(parent.snapshot_id()))
            .with_sequence_number(seq)
            .with_timestamp_ms(md.last_updated_ms() + 1)
            .with_manifest_list(list_path)
            .with_summary(Summary { operation: Operation::Delete, additional_properties: props })
            .with_schema_id(md.current_schema_id())
            .build();
        let old = table.metadata_location().unwrap().to_string();
        let new_md = TableMetadataBuilder::new_from_metadata(md.clone(), Some(old.clone()))
            .set_branch_snapshot(snapshot, MAIN_BRANCH)
            .unwrap()
            .build()
            .unwrap()
            .metadata;
        let new = MetadataLocation::from_str(&old)
            .unwrap()
            .with_next_version()
            .with_new_metadata(&new_md);
        new_md.write_to(io, &new).await.unwrap();
        assert!(
            self.catalog
                .swap_metadata_location(&self.id.ident(), &old, &new.to_string())
                .await
                .unwrap()
        );
    }

    /// Commits `files` with one fast append.
    pub(crate) async fn append(&self, files: Vec<DataFile>) -> Table {
        let table = self.load().await;
        let tx = Transaction::new(&table);
        let tx = tx.fast_append().add_data_files(files).apply(tx).unwrap();
        tx.commit(self.catalog.catalog()).await.unwrap()
    }
}

/// `n` log rows of `hour`, distinct per `seed`, on the table's Arrow schema.
pub(crate) fn batch(table: &Table, hour: i64, n: usize, seed: usize) -> RecordBatch {
    let schema = iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema()).unwrap();
    let ts: Vec<i64> = (0..n)
        .map(|i| hour * MICROS_PER_HOUR + ((seed * 7919 + i * 104_729) as i64 % MICROS_PER_HOUR))
        .collect();
    let text = |prefix: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("{prefix}-{seed}-{i}"))))
    };
    let nulls = || -> ArrayRef { Arc::new(StringArray::from(vec![None::<&str>; n])) };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from(ts).with_data_type(schema.field(0).data_type().clone()),
        ),
        Arc::new(Int32Array::from_iter_values((0..n).map(|i| (i % 24) as i32))),
        text("sev"),
        text("body"),
        text("svc"),
        nulls(),
        nulls(),
        nulls(),
        nulls(),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

/// Writes `batches` (rows of `hour` only) as one data file of `hour`'s partition.
pub(crate) async fn write(table: &Table, hour: i64, batches: Vec<RecordBatch>) -> Vec<DataFile> {
    let md = table.metadata();
    let schema = md.current_schema().clone();
    let parquet = ParquetWriterBuilder::new(WriterProperties::builder().build(), schema.clone());
    let names = DefaultFileNameGenerator::new(
        format!("test-{}", uuid::Uuid::new_v4()),
        None,
        DataFileFormat::Parquet,
    );
    let rolling = RollingFileWriterBuilder::new_with_default_file_size(
        parquet,
        table.file_io().clone(),
        PartitionDirectory::hour(md.location(), hour),
        names,
    );
    let key = PartitionKey::new(
        md.default_partition_spec().as_ref().clone(),
        schema,
        hour_partition(hour).unwrap(),
    );
    let mut writer = DataFileWriterBuilder::new(rolling).build(Some(key)).await.unwrap();
    for b in batches {
        writer.write(b).await.unwrap();
    }
    writer.close().await.unwrap()
}

/// Rows per hour a scan of `snapshot` (the current one when `None`) returns.
pub(crate) async fn rows_per_hour(table: &Table, snapshot: Option<i64>) -> BTreeMap<i64, usize> {
    let mut scan = table.scan().select_all();
    if let Some(id) = snapshot {
        scan = scan.snapshot_id(id);
    }
    let batches: Vec<RecordBatch> =
        scan.build().unwrap().to_arrow().await.unwrap().try_collect().await.unwrap();
    let mut out = BTreeMap::new();
    for b in &batches {
        let ts = b.column(0).as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        for i in 0..ts.len() {
            *out.entry(ts.value(i).div_euclid(MICROS_PER_HOUR)).or_default() += 1;
        }
    }
    out
}

/// One manifest entry of a snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// ADDED, EXISTING or DELETED.
    pub status: ManifestStatus,
    /// The data file.
    pub path: String,
    /// Its `hour` partition value.
    pub hour: i64,
    /// The snapshot that added (or, for DELETED, removed) it.
    pub snapshot_id: i64,
    /// Its data sequence number.
    pub sequence_number: i64,
    /// Its row count.
    pub records: u64,
    /// Its size in bytes.
    pub size: u64,
}

/// Every entry of every manifest of the current snapshot, checking that each manifest has a
/// live entry or was written by that snapshot (older DELETED-only manifests are dropped).
pub(crate) async fn entries(table: &Table) -> Vec<Entry> {
    let snapshot = table.metadata().current_snapshot().unwrap();
    let list = table.manifest_list_reader(snapshot).load().await.unwrap();
    let mut out = Vec::new();
    for file in list.entries() {
        let manifest = file.load_manifest(table.file_io()).await.unwrap();
        let live = manifest.entries().iter().any(|e| e.is_alive());
        assert!(live || file.added_snapshot_id == snapshot.snapshot_id(), "stale manifest kept");
        for e in manifest.entries() {
            let hour = match e.data_file().partition().fields()[0]
                .as_ref()
                .unwrap()
                .as_primitive_literal()
            {
                Some(PrimitiveLiteral::Int(h)) => i64::from(h),
                other => panic!("partition value {other:?}"),
            };
            out.push(Entry {
                status: e.status(),
                path: e.file_path().to_string(),
                hour,
                snapshot_id: e.snapshot_id().unwrap(),
                sequence_number: e.sequence_number().unwrap(),
                records: e.record_count(),
                size: e.file_size_in_bytes(),
            });
        }
    }
    out
}

/// The live entries of the current snapshot.
pub(crate) async fn live(table: &Table) -> Vec<Entry> {
    entries(table).await.into_iter().filter(|e| e.status != ManifestStatus::Deleted).collect()
}

/// Paths of the live files of `hour`.
pub(crate) async fn paths_of_hour(table: &Table, hour: i64) -> Vec<String> {
    live(table).await.into_iter().filter(|e| e.hour == hour).map(|e| e.path).collect()
}

/// A numeric field of the current snapshot's summary (0 when absent).
pub(crate) fn summary(table: &Table, key: &str) -> i64 {
    let props = &table.metadata().current_snapshot().unwrap().summary().additional_properties;
    props.get(key).map_or(0, |v| v.parse().unwrap())
}

/// Checks that the summary's totals equal what a walk of all manifests finds.
pub(crate) async fn assert_totals_match_walk(table: &Table) {
    let live = live(table).await;
    assert_eq!(summary(table, "total-data-files"), live.len() as i64);
    assert_eq!(summary(table, "total-records"), live.iter().map(|e| e.records as i64).sum::<i64>());
    assert_eq!(summary(table, "total-files-size"), live.iter().map(|e| e.size as i64).sum::<i64>());
    assert_eq!(summary(table, "total-delete-files"), 0);
}

/// An `AnyPool` of at most 4 connections on the database at `url`.
pub(crate) async fn any_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new().max_connections(4).connect(url).await.unwrap()
}

/// The PostgreSQL server the tests may create catalogs on: `SIGNALDB_TEST_PG_URL`, else the
/// default local one when it answers. Under `CI=true` a missing server fails `test`; otherwise
/// it prints `SKIPPED:` and returns `None`.
pub(crate) fn postgres_url(test: &str) -> Option<String> {
    use std::io::Write;
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match std::env::var("SIGNALDB_TEST_PG_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => Some(url),
        None if ci => panic!("PostgreSQL is required under CI=true; run scripts/test.sh"),
        None if std::net::TcpStream::connect("127.0.0.1:5432").is_ok() => {
            Some("postgres://postgres@127.0.0.1:5432/test".to_string())
        }
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {test}: PostgreSQL not available (SIGNALDB_TEST_PG_URL is not set); \
                 run scripts/test.sh to include it"
            );
            None
        }
    }
}
