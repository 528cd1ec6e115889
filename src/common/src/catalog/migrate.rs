//! Additive migrations of the catalog's own tables: `iceberg_tables` gains `iceberg_type` when
//! Java's `JdbcCatalog` created it without ([`ensure_column`]). The compactor's tables in the
//! same database are migrated by the compactor's state store, with versions of its own.

use sqlx::AnyPool;

/// Adds `column` (declared `definition`, which must give existing rows a value) to `table`
/// unless it is there already. Safe when several instances migrate at once: a failed `ALTER`
/// is fine when the column exists afterwards.
pub async fn ensure_column(
    pool: &AnyPool,
    table: &str,
    column: &str,
    definition: &str,
) -> Result<(), sqlx::Error> {
    let probe = format!("SELECT {column} FROM {table} WHERE 1 = 0");
    if sqlx::query(&probe).fetch_all(pool).await.is_ok() {
        return Ok(());
    }
    let alter = format!("ALTER TABLE {table} ADD COLUMN {column} {definition}");
    let altered = sqlx::query(&alter).execute(pool).await;
    match sqlx::query(&probe).fetch_all(pool).await {
        Ok(_) => Ok(()),
        Err(probe_error) => Err(altered.err().unwrap_or(probe_error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn any_pool(url: &str) -> AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::any::AnyPoolOptions::new().max_connections(4).connect(url).await.unwrap()
    }

    #[tokio::test]
    async fn a_missing_column_is_added_once_and_old_rows_get_its_default() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/catalog.db?mode=rwc", dir.path().display());
        let pool = any_pool(&url).await;
        sqlx::query("CREATE TABLE old_layout (a BIGINT NOT NULL)").execute(&pool).await.unwrap();
        sqlx::query("INSERT INTO old_layout (a) VALUES (1)").execute(&pool).await.unwrap();
        for _ in 0..2 {
            ensure_column(&pool, "old_layout", "b", "VARCHAR(16) NOT NULL DEFAULT ''")
                .await
                .unwrap();
        }
        let row: (i64, String) =
            sqlx::query_as("SELECT a, b FROM old_layout").fetch_one(&pool).await.unwrap();
        assert_eq!(row, (1, String::new()));
        let err = ensure_column(&pool, "no_such_table", "b", "BIGINT").await.unwrap_err();
        assert!(err.to_string().contains("no_such_table"), "{err}");
    }
}
