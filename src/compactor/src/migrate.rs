//! The migrations of the compactor's own tables in the catalog database live with the catalog
//! ([`common::catalog::migrate`]); they are used from here under their old names.

pub use common::catalog::migrate::{create_if_missing, ensure_column};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::any_pool;

    #[tokio::test]
    async fn instances_creating_one_table_at_once_all_succeed_on_postgres() {
        let Some(url) = crate::test_support::postgres_url("concurrent_create_on_postgres") else {
            return;
        };
        let pool = any_pool(&url).await;
        let table = format!("race_{}", uuid::Uuid::new_v4().simple());
        let ddl = format!("CREATE TABLE IF NOT EXISTS {table} (a BIGINT NOT NULL)");
        let creations = (0..8).map(|_| {
            let (pool, ddl) = (pool.clone(), ddl.clone());
            tokio::spawn(async move { create_if_missing(&pool, &ddl).await })
        });
        for created in futures::future::join_all(creations).await {
            created.unwrap().unwrap();
        }
        sqlx::query(&format!("DROP TABLE {table}")).execute(&pool).await.unwrap();
    }
}
