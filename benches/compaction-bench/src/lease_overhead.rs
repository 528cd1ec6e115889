//! The lease overhead of a pass, per table: what `TablePass` adds around a table's step when it
//! leases it (acquire, the final check that the lease still holds, release), timed against
//! the catalog database the benchmark runs on.

use std::time::Instant;

use anyhow::Context;
use common::TableKind;
use common::catalog::SqlDialect;
use common::config::CatalogBackend;
use common::tables::TableId;
use compactor::JobKind;
use compactor::StateStore;
use serde::Serialize;

/// What `lease-overhead` measured.
#[derive(Debug, Serialize)]
pub struct Overhead {
    /// Leased tables per round.
    pub tables: usize,
    /// Rounds (passes) timed.
    pub rounds: usize,
    /// Median over the rounds of the mean time per table, in milliseconds.
    pub per_table_ms_median: f64,
    /// Every round's mean time per table, in milliseconds.
    pub per_table_ms: Vec<f64>,
}

/// Leases `tables` tables the way one pass does, `rounds` times, on the catalog database at
/// `uri` (under a catalog name of its own, so no real table is touched).
pub async fn run(uri: &str, tables: usize, rounds: usize) -> anyhow::Result<Overhead> {
    sqlx::any::install_default_drivers();
    let backend = CatalogBackend::of(uri).context("catalog URI")?;
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(4).connect(uri).await?;
    let catalog = format!("lease-bench-{}", std::process::id());
    let store = StateStore::open_pool(pool, SqlDialect::new(backend), &catalog).await?.leases();
    let ids: Vec<TableId> = (0..tables)
        .map(|i| TableId::new(&format!("tenant{i}"), "prod", TableKind::Logs))
        .collect::<Result<_, _>>()?;
    let ttl = std::time::Duration::from_secs(60);
    let mut per_table_ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        for id in &ids {
            let mut lease = store
                .acquire(id, JobKind::Compaction, "bench", ttl)
                .await?
                .context("a free lease was refused")?;
            anyhow::ensure!(store.renew(&mut lease, ttl).await?, "lease lost");
            store.release(&lease).await?;
        }
        per_table_ms.push(started.elapsed().as_secs_f64() * 1000.0 / tables.max(1) as f64);
    }
    let mut sorted = per_table_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let per_table_ms_median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    Ok(Overhead { tables, rounds, per_table_ms_median, per_table_ms })
}
