//! The Iceberg SQL catalog on SQLite and on PostgreSQL: tables created through `common` are
//! listed by iceberg-rust and opened by pyiceberg under the same catalog name.

use common::TableKind;
use common::catalog::ensure_table;
use common::tables::{HOUR_PARTITION_FIELD, TIMESTAMP_COLUMN, TableId};
use iceberg::{Catalog, NamespaceIdent};
use serde_json::json;
use sqlx::Connection;
use tests_integration::{Backend, TestEnv, require_python, run_pyiceberg};

async fn catalog_roundtrip(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };

    let catalog = env.catalog().await;
    let ids: Vec<TableId> = TableKind::SIGNAL_NAMED
        .into_iter()
        .map(|signal| TableId::new("acme", "prod", signal).unwrap())
        .collect();
    for id in &ids {
        let table = ensure_table(&catalog, id).await.unwrap();
        assert_eq!(table.metadata().location(), id.location(env.warehouse_uri()));
        // Idempotent: the second call loads the existing table.
        let again = ensure_table(&catalog, id).await.unwrap();
        assert_eq!(again.metadata().uuid(), table.metadata().uuid());
    }

    // A second connection (as another process would make) lists them.
    let reopened = env.catalog().await;
    let namespace = NamespaceIdent::from_strs(["acme", "prod"]).unwrap();
    let mut names: Vec<String> = reopened
        .catalog()
        .list_tables(&namespace)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["logs", "metrics", "traces"]);

    // Every row is under the configured catalog name, which is what other clients must use.
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(catalog.database_uri()).await.unwrap();
    let catalog_names: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT catalog_name FROM iceberg_tables")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(catalog_names, [env.catalog_name()]);
    conn.close().await.unwrap();

    let idents: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let py = run_pyiceberg(&env, &idents);
    assert!(
        py["namespaces"].as_array().unwrap().contains(&json!(["acme", "prod"])),
        "pyiceberg namespaces: {}",
        py["namespaces"]
    );
    for ident in &idents {
        let t = &py["tables"][ident];
        assert_eq!(t["exists"], true, "{ident}: {t}");
        assert_eq!(t["format_version"], 2, "{ident}");
        assert_eq!(t["total_rows"], 0, "{ident}");
        assert_eq!(t["snapshot_count"], 0, "{ident}");
        assert_eq!(t["schema_fields"][0], TIMESTAMP_COLUMN, "{ident}: {}", t["schema_fields"]);
        assert_eq!(
            t["partition_fields"],
            json!([{"name": HOUR_PARTITION_FIELD, "transform": "hour", "source": TIMESTAMP_COLUMN}]),
            "{ident}"
        );
        assert_eq!(t["namespace_tables"], json!(["logs", "metrics", "traces"]), "{ident}");
    }
}

#[tokio::test]
async fn catalog_on_sqlite() {
    catalog_roundtrip(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn catalog_on_postgres() {
    catalog_roundtrip(Backend::Postgres).await;
}
