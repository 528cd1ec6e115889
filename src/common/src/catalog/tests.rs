use iceberg::Catalog;

use super::connection::sqlite_uri;
use super::{
    SignalCatalog, ensure_table, list_other_tables, list_signal_table_pointers, list_signal_tables,
};
use crate::config::{SchemaConfig, StorageConfig};
use crate::storage::Warehouse;
use crate::table_kind::TableKind;
use crate::tables::TableId;

#[test]
fn sqlite_uris_get_create_mode_and_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("nested/dir/catalog.db");
    let uri = sqlite_uri(&format!("sqlite://{}", db.display())).unwrap();
    assert_eq!(uri, format!("sqlite://{}?mode=rwc", db.display()));
    assert!(db.parent().unwrap().is_dir());
    assert_eq!(sqlite_uri("sqlite::memory:").unwrap(), "sqlite::memory:");
    assert!(sqlite_uri("sqlite://").is_err());
}

/// `[storage]` and `[schema]` for a local warehouse and a SQLite catalog under `dir`.
fn sqlite_and_local(dir: &std::path::Path) -> (StorageConfig, SchemaConfig) {
    let storage =
        StorageConfig { dsn: format!("file://{}/storage", dir.display()), ..Default::default() };
    let schema = SchemaConfig {
        catalog_uri: format!("sqlite://{}/catalog.db", dir.display()),
        ..Default::default()
    };
    (storage, schema)
}

#[tokio::test]
async fn sqlite_catalog_creates_lists_and_reopens_signal_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let (storage, schema) = sqlite_and_local(tmp.path());
    let warehouse = Warehouse::open(&storage).unwrap();
    let catalog = SignalCatalog::connect(&schema, &warehouse).await.unwrap();
    for kind in TableKind::SIGNAL_NAMED {
        let id = TableId::new("acme", "prod", kind).unwrap();
        let table = ensure_table(&catalog, &id).await.unwrap();
        assert_eq!(table.metadata().location(), id.location(warehouse.location()));
        // A second call loads rather than fails.
        ensure_table(&catalog, &id).await.unwrap();
    }
    ensure_table(&catalog, &TableId::new("other", "dev", TableKind::Logs).unwrap()).await.unwrap();

    let reopened = SignalCatalog::connect(&schema, &warehouse).await.unwrap();
    let all = list_signal_tables(&reopened, None, None).await.unwrap();
    assert_eq!(all.len(), 4);
    let acme = list_signal_tables(&reopened, Some("acme"), Some("prod")).await.unwrap();
    assert_eq!(acme.iter().map(|t| t.table).collect::<Vec<_>>(), TableKind::SIGNAL_NAMED);
    let table = reopened.catalog().load_table(&acme[0].ident()).await.unwrap();
    assert_eq!(table.metadata().default_partition_spec().fields()[0].name, "hour");

    // The same tables with their pointers, in one statement, each the location a load reads.
    let pointers = list_signal_table_pointers(&reopened, None, None).await.unwrap();
    assert_eq!(pointers.iter().map(|p| p.id.clone()).collect::<Vec<_>>(), all);
    let first = pointers.iter().find(|p| p.id == acme[0]).unwrap();
    assert_eq!(first.metadata_location.as_deref(), table.metadata_location());
    let other = list_signal_table_pointers(&reopened, Some("other"), None).await.unwrap();
    assert_eq!(other.len(), 1);
}

/// A catalog Java's `JdbcCatalog` created with its V0 schema, whose `iceberg_tables` has no
/// `iceberg_type`: connecting adds the column, and its tables are listed and loaded.
#[tokio::test]
async fn a_catalog_without_iceberg_type_gets_the_column_and_keeps_its_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let (storage, schema) = sqlite_and_local(tmp.path());
    let warehouse = Warehouse::open(&storage).unwrap();
    let catalog = SignalCatalog::connect(&schema, &warehouse).await.unwrap();
    let id = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let location =
        ensure_table(&catalog, &id).await.unwrap().metadata_location().unwrap().to_string();
    drop(catalog);
    // Rebuild the table as Java's V0 schema has it, keeping the row.
    let url = format!("sqlite://{}/catalog.db", tmp.path().display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
    for statement in [
        "CREATE TABLE v0 (catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, \
         table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000), \
         previous_metadata_location VARCHAR(1000), \
         PRIMARY KEY (catalog_name, table_namespace, table_name))",
        "INSERT INTO v0 SELECT catalog_name, table_namespace, table_name, metadata_location, \
         previous_metadata_location FROM iceberg_tables",
        "DROP TABLE iceberg_tables",
        "ALTER TABLE v0 RENAME TO iceberg_tables",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let probe = "SELECT iceberg_type FROM iceberg_tables";
    assert!(sqlx::query(probe).fetch_all(&pool).await.is_err(), "no iceberg_type now");
    pool.close().await;

    let reopened = SignalCatalog::connect(&schema, &warehouse).await.unwrap();
    let found = list_signal_tables(&reopened, Some("acme"), Some("prod")).await.unwrap();
    assert_eq!(found.len(), 1);
    let table = reopened.catalog().load_table(&id.ident()).await.unwrap();
    assert_eq!(table.metadata_location(), Some(location.as_str()));
}

#[tokio::test]
async fn signal_tables_are_created_with_their_default_sort_order() {
    use iceberg::spec::{NullOrder, SortDirection, Transform};
    let tmp = tempfile::tempdir().unwrap();
    let (storage, schema) = sqlite_and_local(tmp.path());
    let warehouse = Warehouse::open(&storage).unwrap();
    let catalog = SignalCatalog::connect(&schema, &warehouse).await.unwrap();
    for signal in TableKind::SIGNAL_NAMED {
        let id = TableId::new("acme", "prod", signal).unwrap();
        ensure_table(&catalog, &id).await.unwrap();
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        let md = table.metadata();
        let order = md.default_sort_order();
        assert_eq!(order.order_id, 1, "{signal}");
        let names: Vec<&str> = order
            .fields
            .iter()
            .map(|f| md.current_schema().field_by_id(f.source_id).unwrap().name.as_str())
            .collect();
        assert_eq!(names, crate::tables::default_sort_columns(signal.signal()), "{signal}");
        for field in &order.fields {
            assert_eq!(field.transform, Transform::Identity);
            assert_eq!(field.direction, SortDirection::Ascending);
            assert_eq!(field.null_order, NullOrder::First);
        }
    }
}

#[tokio::test]
async fn tables_of_tenant_namespaces_that_are_no_signal_table_are_listed_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let (storage, schema) = sqlite_and_local(tmp.path());
    let warehouse = Warehouse::open(&storage).unwrap();
    let catalog = SignalCatalog::connect(&schema, &warehouse).await.unwrap();
    let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    ensure_table(&catalog, &logs).await.unwrap();
    let mut spans = crate::tables::creation(&logs, warehouse.location()).unwrap();
    spans.name = "spans".to_string();
    spans.location = Some(format!("{}/acme/prod/spans", warehouse.location()));
    catalog.catalog().create_table(&logs.namespace(), spans).await.unwrap();

    assert_eq!(list_signal_tables(&catalog, None, None).await.unwrap(), [logs]);
    let other = list_other_tables(&catalog, None, None).await.unwrap();
    assert_eq!(other.len(), 1, "{other:?}");
    assert_eq!((other[0].tenant.as_str(), other[0].table.as_str()), ("acme", "spans"));
    assert!(other[0].reason.contains("is not a signal table"), "{}", other[0].reason);
    assert!(list_other_tables(&catalog, Some("beta"), None).await.unwrap().is_empty());
}

#[tokio::test]
async fn unsupported_uri_names_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let storage =
        StorageConfig { dsn: format!("file://{}", tmp.path().display()), ..Default::default() };
    let schema = SchemaConfig {
        catalog_uri: "mysql://root:hunter2@127.0.0.1/db".into(),
        ..Default::default()
    };
    let warehouse = Warehouse::open(&storage).unwrap();
    let err = SignalCatalog::connect(&schema, &warehouse).await.unwrap_err().to_string();
    assert!(err.contains("schema.catalog_uri"), "{err}");
    assert!(!err.contains("hunter2"), "password leaked: {err}");
}
