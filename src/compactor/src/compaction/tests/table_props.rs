//! A table's own `write.*` properties win over the configuration for the files compaction
//! writes; a property that cannot be used fails the table with its name, writing nothing; and
//! every property, known or not, is still there after the commit.

use std::sync::Arc;

use common::clock::SystemClock;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};
use tokio_util::sync::CancellationToken;

use super::execute::{MIB, settings, step_with};
use super::fixture::{BASE_HOUR, Fixture, paths_of_hour};
use crate::compaction::CompactionOutcome;
use crate::job::Scope;
use crate::step::{StepError, StepOutcome, TableContext, TableStep};

/// Sets `pairs` as properties of the fixture's table.
async fn set_properties(fx: &Fixture, pairs: &[(&str, &str)]) {
    let table = fx.load().await;
    let tx = Transaction::new(&table);
    let mut action = tx.update_table_properties();
    for (k, v) in pairs {
        action = action.set(k.to_string(), v.to_string());
    }
    let tx = action.apply(tx).unwrap();
    tx.commit(fx.catalog.catalog()).await.unwrap();
}

/// One compaction pass over `table` (the fixture's) with 128 MiB files configured.
async fn compact(
    fx: &Fixture,
    table: &iceberg::table::Table,
) -> Result<StepOutcome<CompactionOutcome>, StepError> {
    let (step, _) = step_with(settings(128 * MIB), Arc::new(SystemClock));
    let (scope, cancel) = (Scope::default(), CancellationToken::new());
    step.run_table(
        &Default::default(),
        TableContext::new(&fx.id, table, &fx.catalog, &scope, &cancel),
    )
    .await
}

#[tokio::test]
async fn the_tables_codec_target_and_bloom_filters_win_over_the_configuration() {
    let fx = Fixture::new().await;
    set_properties(
        &fx,
        &[
            ("write.parquet.compression-codec", "snappy"),
            ("write.target-file-size-bytes", "65536"),
            ("write.parquet.bloom-filter-enabled.column.service_name", "true"),
            ("signaldb.wal.committed.writer-1", "00042:17"),
        ],
    )
    .await;
    fx.fill(&[BASE_HOUR], 12, 300).await;
    let before = fx.load().await;
    let properties = before.metadata().properties().clone();

    // The configuration says 128 MiB files: the table's 64 KiB target wins, so the hour's
    // small files merge into several files, not one.
    let outcome = compact(&fx, &before).await.unwrap();
    assert!(outcome.error.is_none(), "{outcome:?}");
    let after = fx.load().await;
    assert_eq!(after.metadata().properties(), &properties, "every property carried");
    let files = paths_of_hour(&after, BASE_HOUR).await;
    assert!(files.len() > 1, "64 KiB target: {files:?}");
    let compacted = |p: &String| p.rsplit('/').next().unwrap().starts_with("compacted-");
    assert!(files.iter().all(compacted), "every input merged: {files:?}");
    for path in &files {
        let bytes = after.file_io().new_input(path).unwrap().read().await.unwrap();
        let reader = SerializedFileReader::new(bytes).unwrap();
        let md = reader.metadata();
        for rg in md.row_groups() {
            assert!(rg.columns().iter().all(|c| c.compression() == Compression::SNAPPY), "{path}");
            let service = rg.columns().iter().find(|c| c.column_path().string() == "service_name");
            assert!(service.unwrap().bloom_filter_offset().is_some(), "{path}: bloom filter");
        }
    }
}

#[tokio::test]
async fn a_write_property_that_cannot_be_used_fails_the_table_by_its_name() {
    let fx = Fixture::new().await;
    set_properties(&fx, &[("write.parquet.compression-codec", "zip")]).await;
    fx.fill(&[BASE_HOUR], 6, 10).await;
    let before = fx.load().await;
    let err = compact(&fx, &before).await.unwrap_err();
    assert!(matches!(err, StepError::Unfit(_)), "{err}");
    let message = err.to_string();
    assert!(message.contains("acme.prod.logs"), "{message}");
    assert!(message.contains("`write.parquet.compression-codec` = `zip`"), "{message}");
    let after = fx.load().await;
    assert_eq!(after.metadata().current_snapshot_id(), before.metadata().current_snapshot_id());
}

#[tokio::test]
async fn a_column_added_after_the_last_write_is_in_the_compacted_files_as_null() {
    use iceberg::spec::{PrimitiveType, Type};
    use iceberg::transaction::AddColumn;

    let fx = Fixture::new().await;
    fx.fill(&[BASE_HOUR], 6, 10).await;
    // Another engine's ALTER TABLE ADD COLUMN, with no write since: the current snapshot was
    // written under the older schema.
    let table = fx.load().await;
    let tx = Transaction::new(&table);
    let add = AddColumn::optional("tenant_tier", Type::Primitive(PrimitiveType::String));
    let tx = tx.update_schema().add_column(add).apply(tx).unwrap();
    tx.commit(fx.catalog.catalog()).await.unwrap();
    let before = fx.load().await;
    assert_ne!(
        before.metadata().current_schema_id(),
        before.metadata().current_snapshot().unwrap().schema_id().unwrap()
    );

    let outcome = compact(&fx, &before).await.unwrap();
    assert!(outcome.error.is_none(), "{outcome:?}");
    let after = fx.load().await;
    let files = paths_of_hour(&after, BASE_HOUR).await;
    assert_eq!(files.len(), 1, "{files:?}");
    let bytes = after.file_io().new_input(&files[0]).unwrap().read().await.unwrap();
    let reader = SerializedFileReader::new(bytes).unwrap();
    let md = reader.metadata();
    let column =
        md.file_metadata().schema_descr().columns().iter().position(|c| c.name() == "tenant_tier");
    let column = column.expect("written in the current schema");
    let rg = md.row_group(0);
    assert_eq!(
        rg.column(column).statistics().unwrap().null_count_opt(),
        Some(rg.num_rows() as u64)
    );
}
