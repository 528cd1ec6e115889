//! Run history: one row per job pass per table in the catalog database, so that every instance
//! (and `compactor status`) can tell when each job last worked on a table and what it did.
//!
//! Rows live in table `signaldb_compactor_runs`, keyed by catalog name, namespace, table, job
//! and start time; each record also removes the table's rows older than the kept age, so the
//! history stays bounded without a job of its own.

use chrono::{DateTime, Duration, Utc};
use common::catalog::{SignalCatalog, SqlDialect};
use common::config::CompactorConfig;
use common::tables::TableId;
use serde::Serialize;
use sqlx::{AnyPool, Row};

pub use crate::changes::Changes;
use crate::job::JobKind;

/// Compaction passes looked back over for the last one that rewrote files.
const REWRITE_LOOKBACK: usize = 50;

/// Name of the run-history table in the catalog database.
pub const RUNS_TABLE: &str = "signaldb_compactor_runs";

/// How long the history keeps a pass under `c` (`run_history_days`).
pub fn kept(c: &CompactorConfig) -> Duration {
    i64::try_from(c.run_history_days).ok().and_then(Duration::try_days).unwrap_or(Duration::MAX)
}

/// A failed run-history query.
#[derive(Debug, thiserror::Error)]
#[error("run history ({action}): {source}")]
pub struct HistoryError {
    /// What was being done.
    pub action: &'static str,
    /// The underlying error.
    pub source: sqlx::Error,
}

/// How a job's pass over a table ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// The pass did its work (which may have been nothing).
    Success,
    /// The pass, or part of it, failed.
    Failure,
    /// A dry run: nothing was changed.
    DryRun,
}

impl RunOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::DryRun => "dry_run",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "success" => Self::Success,
            "dry_run" => Self::DryRun,
            _ => Self::Failure,
        }
    }
}

/// One job's pass over one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRecord {
    /// The job.
    pub job: JobKind,
    /// When the pass started on the table.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// What it changed.
    pub changes: Changes,
    /// The failure, when it failed.
    pub error: Option<String>,
    /// The instance that ran it (empty for passes recorded before instances had ids, or
    /// run without a lease).
    pub instance: String,
}

/// What the table checks know of a table's recent passes: per job, the newest run and the
/// newest successful run (from the run history).
#[derive(Debug, Clone, Default)]
pub struct RecentRuns {
    /// By job: (newest run, newest successful run).
    pub by_job: Vec<(JobKind, Option<RunRecord>, Option<RunRecord>)>,
    /// The newest compaction run that rewrote files.
    pub last_rewrite: Option<RunRecord>,
}

/// Reads and writes run-history rows through the catalog database's pool.
#[derive(Debug, Clone)]
pub struct RunHistory {
    pool: AnyPool,
    dialect: SqlDialect,
    catalog_name: String,
    keep: Duration,
}

impl RunHistory {
    /// The history of `catalog`'s database, keeping rows for `keep`, creating its table if it
    /// does not exist.
    pub async fn of(catalog: &SignalCatalog, keep: Duration) -> Result<Self, HistoryError> {
        let history = Self {
            pool: catalog.pool().clone(),
            dialect: catalog.dialect(),
            catalog_name: catalog.name().to_string(),
            keep,
        };
        for ddl in [
            format!(
                "CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (\
                 catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, \
                 table_name VARCHAR(255) NOT NULL, job VARCHAR(32) NOT NULL, \
                 started_at_ms BIGINT NOT NULL, finished_at_ms BIGINT NOT NULL, \
                 outcome VARCHAR(16) NOT NULL, files_removed BIGINT NOT NULL, \
                 files_added BIGINT NOT NULL, bytes_removed BIGINT NOT NULL, \
                 bytes_added BIGINT NOT NULL, partitions BIGINT NOT NULL, \
                 snapshots BIGINT NOT NULL, error TEXT NOT NULL, \
                 instance VARCHAR(255) NOT NULL DEFAULT '')"
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {RUNS_TABLE}_by_table ON {RUNS_TABLE} \
                 (catalog_name, table_namespace, table_name, job, started_at_ms)"
            ),
        ] {
            crate::migrate::create_if_missing(&history.pool, &ddl)
                .await
                .map_err(|source| HistoryError { action: "create table", source })?;
        }
        // Histories written before instances had ids lack the column.
        let instance = "VARCHAR(255) NOT NULL DEFAULT ''";
        crate::migrate::ensure_column(&history.pool, RUNS_TABLE, "instance", instance)
            .await
            .map_err(|source| HistoryError { action: "add column instance", source })?;
        Ok(history)
    }

    /// Records `run` of `table`, and forgets the table's runs older than the kept age.
    pub async fn record(&self, table: &TableId, run: &RunRecord) -> Result<(), HistoryError> {
        let insert = self.dialect.sql(&format!(
            "INSERT INTO {RUNS_TABLE} (catalog_name, table_namespace, table_name, job, \
             started_at_ms, finished_at_ms, outcome, files_removed, files_added, bytes_removed, \
             bytes_added, partitions, snapshots, error, instance) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ));
        let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let c = run.changes;
        let ident = table.ident();
        sqlx::query(&insert)
            .bind(&self.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(run.job.as_str())
            .bind(run.started_at.timestamp_millis())
            .bind(run.finished_at.timestamp_millis())
            .bind(run.outcome.as_str())
            .bind(signed(c.files_removed))
            .bind(signed(c.files_added))
            .bind(signed(c.bytes_removed))
            .bind(signed(c.bytes_added))
            .bind(signed(c.partitions))
            .bind(signed(c.snapshots))
            .bind(run.error.clone().unwrap_or_default())
            .bind(&run.instance)
            .execute(&self.pool)
            .await
            .map_err(|source| HistoryError { action: "record", source })?;
        let prune = self.dialect.sql(&format!(
            "DELETE FROM {RUNS_TABLE} WHERE catalog_name = ? AND table_namespace = ? \
             AND table_name = ? AND started_at_ms < ?"
        ));
        // A kept age past the calendar's start keeps everything.
        let oldest = run
            .finished_at
            .checked_sub_signed(self.keep)
            .map_or(i64::MIN, |t| t.timestamp_millis());
        sqlx::query(&prune)
            .bind(&self.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(oldest)
            .execute(&self.pool)
            .await
            .map_err(|source| HistoryError { action: "prune", source })?;
        Ok(())
    }

    /// The runs of `job` on `table`, newest first, at most `limit`.
    pub async fn runs(
        &self,
        table: &TableId,
        job: JobKind,
        limit: usize,
    ) -> Result<Vec<RunRecord>, HistoryError> {
        self.select(table, job, None, limit).await
    }

    /// What the history says of `table`'s recent passes, for the warning checks and `status`.
    pub async fn recent(&self, table: &TableId) -> Result<RecentRuns, HistoryError> {
        let mut out = RecentRuns::default();
        for job in JobKind::ALL {
            let newest = self.runs(table, job, 1).await?.into_iter().next();
            let success = self.last_with(table, job, RunOutcome::Success).await?;
            out.by_job.push((job, newest, success));
        }
        let compactions = self.runs(table, JobKind::Compaction, REWRITE_LOOKBACK).await?;
        out.last_rewrite = compactions.into_iter().find(|r| r.changes.files_removed > 0);
        Ok(out)
    }

    /// The newest run of `job` on `table` that ended in `outcome`.
    pub async fn last_with(
        &self,
        table: &TableId,
        job: JobKind,
        outcome: RunOutcome,
    ) -> Result<Option<RunRecord>, HistoryError> {
        Ok(self.select(table, job, Some(outcome), 1).await?.into_iter().next())
    }

    /// The runs of `job` on `table` (only those that ended in `outcome`, when given), newest
    /// first, at most `limit`.
    async fn select(
        &self,
        table: &TableId,
        job: JobKind,
        outcome: Option<RunOutcome>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, HistoryError> {
        let only = if outcome.is_some() { " AND outcome = ?" } else { "" };
        let sql = self.dialect.sql(&format!(
            "SELECT started_at_ms, finished_at_ms, outcome, files_removed, files_added, \
             bytes_removed, bytes_added, partitions, snapshots, error, instance \
             FROM {RUNS_TABLE} \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND job = ?{only} \
             ORDER BY started_at_ms DESC LIMIT ?"
        ));
        let ident = table.ident();
        let mut query = sqlx::query(&sql)
            .bind(&self.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(job.as_str());
        if let Some(outcome) = outcome {
            query = query.bind(outcome.as_str());
        }
        let err = |source| HistoryError { action: "read", source };
        let rows = query
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(|row| record(job, row).map_err(err)).collect()
    }
}

/// The record of `job` that `row` (the columns of [`RunHistory::runs`]) holds.
fn record(job: JobKind, row: &sqlx::any::AnyRow) -> Result<RunRecord, sqlx::Error> {
    let time = |i: usize| {
        row.try_get::<i64, _>(i)
            .map(|ms| DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH))
    };
    let count = |i: usize| row.try_get::<i64, _>(i).map(|v| v.max(0) as u64);
    let error: String = row.try_get(9)?;
    Ok(RunRecord {
        job,
        started_at: time(0)?,
        finished_at: time(1)?,
        outcome: RunOutcome::parse(&row.try_get::<String, _>(2)?),
        changes: Changes {
            files_removed: count(3)?,
            files_added: count(4)?,
            bytes_removed: count(5)?,
            bytes_added: count(6)?,
            partitions: count(7)?,
            snapshots: count(8)?,
        },
        error: (!error.is_empty()).then_some(error),
        instance: row.try_get(10)?,
    })
}

#[cfg(test)]
mod tests {
    use common::TableKind;

    use super::*;
    use crate::test_support::TempCatalog;

    fn run(job: JobKind, minutes_ago: i64, outcome: RunOutcome, now: DateTime<Utc>) -> RunRecord {
        let started_at = now - Duration::minutes(minutes_ago);
        RunRecord {
            job,
            started_at,
            finished_at: started_at + Duration::seconds(2),
            outcome,
            changes: Changes { files_removed: 20, files_added: 1, ..Changes::default() },
            error: (outcome == RunOutcome::Failure).then(|| "catalog unreachable".to_string()),
            instance: "node-1-0badcafe".to_string(),
        }
    }

    #[test]
    fn the_kept_age_is_the_configured_days_and_saturates() {
        let mut c = CompactorConfig::default();
        assert_eq!(kept(&c), Duration::days(30));
        c.run_history_days = u64::MAX;
        assert_eq!(kept(&c), Duration::MAX);
    }

    #[tokio::test]
    async fn runs_are_recorded_read_newest_first_and_pruned_by_age() {
        let tmp = TempCatalog::new().await;
        let history = RunHistory::of(&tmp.catalog, Duration::days(1)).await.unwrap();
        let logs = TableId::new("acme", "prod", TableKind::Logs).unwrap();
        let traces = TableId::new("acme", "prod", TableKind::Traces).unwrap();
        let now = Utc::now();
        let old = run(JobKind::Compaction, 60, RunOutcome::Success, now);
        let new = run(JobKind::Compaction, 5, RunOutcome::Failure, now);
        history.record(&logs, &old).await.unwrap();
        history.record(&logs, &new).await.unwrap();
        history
            .record(&traces, &run(JobKind::Retention, 1, RunOutcome::DryRun, now))
            .await
            .unwrap();

        let runs = history.runs(&logs, JobKind::Compaction, 10).await.unwrap();
        let millis = |r: &RunRecord| r.started_at.timestamp_millis();
        assert_eq!(runs.iter().map(millis).collect::<Vec<_>>(), [millis(&new), millis(&old)]);
        assert_eq!(runs[0].error.as_deref(), Some("catalog unreachable"));
        assert_eq!(runs[1].changes.files_removed, 20);
        assert!(history.runs(&logs, JobKind::Retention, 10).await.unwrap().is_empty());
        let ok = history.last_with(&logs, JobKind::Compaction, RunOutcome::Success).await;
        assert_eq!(ok.unwrap().map(|r| millis(&r)), Some(millis(&old)));

        // A run two days later forgets what is older than a day, for that table only.
        let later = run(JobKind::Compaction, -2 * 24 * 60, RunOutcome::Success, now);
        history.record(&logs, &later).await.unwrap();
        assert_eq!(history.runs(&logs, JobKind::Compaction, 10).await.unwrap().len(), 1);
        assert_eq!(history.runs(&traces, JobKind::Retention, 10).await.unwrap().len(), 1);

        // A history kept "forever" prunes nothing and does not overflow.
        let forever = RunHistory::of(&tmp.catalog, Duration::MAX).await.unwrap();
        forever.record(&logs, &new).await.unwrap();
        assert_eq!(forever.runs(&logs, JobKind::Compaction, 10).await.unwrap().len(), 2);
    }
}
