//! Run history: one row per job pass per table, so that every instance (and `compactor
//! status`) can tell when each job last worked on a table and what it did.
//!
//! Rows live in table `signaldb_compactor_runs`, keyed by catalog name, namespace, table, job
//! and start time; each record also removes the table's rows older than the kept age, so the
//! history stays bounded without a job of its own.

use chrono::{DateTime, Duration, Utc};
use common::config::CompactorConfig;
use common::storage::counted::RequestCounts;
use common::tables::TableId;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::db::{Db, count, signed, time};
use super::error::{StateError, Store};
use crate::changes::Changes;
use crate::failure::FailureKind;
use crate::job::JobKind;

/// Compaction passes looked back over for the last one that rewrote files.
const REWRITE_LOOKBACK: usize = 50;

/// Name of the run-history table in the catalog database.
pub(crate) const RUNS_TABLE: &str = "signaldb_compactor_runs";

/// The columns of a run's object-store requests, in the order of
/// [`RequestCounts`]' fields.
pub(super) const REQUEST_COLUMNS: [&str; 7] = [
    "requests_get",
    "requests_put",
    "requests_list",
    "requests_head",
    "requests_delete",
    "request_bytes_read",
    "request_bytes_written",
];

/// The columns a [`RunRecord`] is read from.
pub(super) const COLUMNS: &str = "job, started_at_ms, finished_at_ms, outcome, files_removed, files_added, \
    bytes_removed, bytes_added, partitions, snapshots, error, error_kind, instance, \
    requests_get, requests_put, requests_list, requests_head, requests_delete, \
    request_bytes_read, request_bytes_written";

/// How long the history keeps a pass under `c` (`run_history_days`).
pub(crate) fn kept(c: &CompactorConfig) -> Duration {
    i64::try_from(c.run_history_days).ok().and_then(Duration::try_days).unwrap_or(Duration::MAX)
}

/// How a job's pass over a table ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// The kind of the failure, when it failed and its kind was known (passes recorded before
    /// kinds were have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<FailureKind>,
    /// The instance that ran it (empty for passes recorded before instances had ids, or
    /// run without a lease).
    pub instance: String,
    /// The object-store requests it made (all 0 for passes recorded before they were
    /// counted).
    pub requests: RequestCounts,
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

/// The run history of one catalog's tables.
#[derive(Debug, Clone)]
pub struct Runs {
    pub(super) db: Db,
}

impl Runs {
    pub(super) fn new(db: Db) -> Self {
        Self { db }
    }

    /// Records `run` of `table`, and forgets the table's runs older than `keep`.
    pub async fn record(
        &self,
        table: &TableId,
        run: &RunRecord,
        keep: Duration,
    ) -> Result<(), StateError> {
        let insert = self.db.sql(&format!(
            "INSERT INTO {RUNS_TABLE} (catalog_name, table_namespace, table_name, job, \
             started_at_ms, finished_at_ms, outcome, files_removed, files_added, bytes_removed, \
             bytes_added, partitions, snapshots, error, error_kind, instance, {}) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            REQUEST_COLUMNS.join(", ")
        ));
        let c = run.changes;
        let RequestCounts { get, put, list, head, delete, bytes_read, bytes_written } =
            run.requests;
        let ident = table.ident();
        sqlx::query(&insert)
            .bind(&*self.db.catalog_name)
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
            .bind(run.error_kind.map(FailureKind::as_str))
            .bind(&run.instance)
            .bind(signed(get))
            .bind(signed(put))
            .bind(signed(list))
            .bind(signed(head))
            .bind(signed(delete))
            .bind(signed(bytes_read))
            .bind(signed(bytes_written))
            .execute(&self.db.pool)
            .await
            .map_err(StateError::of(Store::Runs, "record"))?;
        let prune = self.db.sql(&format!(
            "DELETE FROM {RUNS_TABLE} WHERE catalog_name = ? AND table_namespace = ? \
             AND table_name = ? AND started_at_ms < ?"
        ));
        // A kept age past the calendar's start keeps everything.
        let oldest =
            run.finished_at.checked_sub_signed(keep).map_or(i64::MIN, |t| t.timestamp_millis());
        sqlx::query(&prune)
            .bind(&*self.db.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(oldest)
            .execute(&self.db.pool)
            .await
            .map_err(StateError::of(Store::Runs, "prune"))?;
        Ok(())
    }

    /// The runs of `job` on `table`, newest first, at most `limit`.
    pub async fn runs(
        &self,
        table: &TableId,
        job: JobKind,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StateError> {
        self.select(table, job, None, limit).await
    }

    /// The newest run of `job` on `table` that ended in `outcome`.
    pub async fn last_with(
        &self,
        table: &TableId,
        job: JobKind,
        outcome: RunOutcome,
    ) -> Result<Option<RunRecord>, StateError> {
        Ok(self.select(table, job, Some(outcome), 1).await?.into_iter().next())
    }

    /// What the history says of `table`'s recent passes, for the warning checks and `status`,
    /// in one statement: per job its newest run and its newest success, and the newest of the
    /// last compactions that rewrote files, each part an indexed scan of its own.
    pub async fn recent(&self, table: &TableId) -> Result<RecentRuns, StateError> {
        let of_table = "catalog_name = ? AND table_namespace = ? AND table_name = ?";
        let newest = |part: usize, job: JobKind, only: &str| {
            format!(
                "SELECT * FROM (SELECT CAST({part} AS BIGINT) AS part, {COLUMNS} \
                 FROM {RUNS_TABLE} WHERE {of_table} AND job = '{job}'{only} \
                 ORDER BY started_at_ms DESC LIMIT 1) AS part{part}"
            )
        };
        let mut parts = Vec::new();
        for (i, job) in JobKind::ALL.into_iter().enumerate() {
            parts.push(newest(2 * i, job, ""));
            parts.push(newest(2 * i + 1, job, " AND outcome = 'success'"));
        }
        let rewrite = 2 * JobKind::ALL.len();
        parts.push(format!(
            "SELECT * FROM (SELECT CAST({rewrite} AS BIGINT) AS part, {COLUMNS} FROM (\
             SELECT {COLUMNS} FROM {RUNS_TABLE} WHERE {of_table} AND job = '{}' \
             ORDER BY started_at_ms DESC LIMIT {REWRITE_LOOKBACK}) AS lookback \
             WHERE files_removed > 0 ORDER BY started_at_ms DESC LIMIT 1) AS part{rewrite}",
            JobKind::Compaction
        ));
        let sql = self.db.sql(&parts.join(" UNION ALL "));
        let ident = table.ident();
        let namespace = ident.namespace().join(".");
        let mut query = sqlx::query(&sql);
        for _ in 0..parts.len() {
            query = query.bind(&*self.db.catalog_name).bind(&namespace).bind(ident.name());
        }
        let err = StateError::of(Store::Runs, "read");
        let rows = query.fetch_all(&self.db.pool).await.map_err(&err)?;
        let mut found: Vec<Option<RunRecord>> = vec![None; parts.len()];
        for row in &rows {
            let part: i64 = row.try_get("part").map_err(&err)?;
            if let Some(slot) = usize::try_from(part).ok().and_then(|p| found.get_mut(p)) {
                *slot = Some(record(row).map_err(&err)?);
            }
        }
        let mut found = found.into_iter();
        let mut out = RecentRuns::default();
        for job in JobKind::ALL {
            let (newest, success) = (found.next().flatten(), found.next().flatten());
            out.by_job.push((job, newest, success));
        }
        out.last_rewrite = found.next().flatten();
        Ok(out)
    }

    /// The runs of `job` on `table` (only those that ended in `outcome`, when given), newest
    /// first, at most `limit`.
    async fn select(
        &self,
        table: &TableId,
        job: JobKind,
        outcome: Option<RunOutcome>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, StateError> {
        let only = if outcome.is_some() { " AND outcome = ?" } else { "" };
        let sql = self.db.sql(&format!(
            "SELECT {COLUMNS} FROM {RUNS_TABLE} \
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND job = ?{only} \
             ORDER BY started_at_ms DESC LIMIT ?"
        ));
        let ident = table.ident();
        let mut query = sqlx::query(&sql)
            .bind(&*self.db.catalog_name)
            .bind(ident.namespace().join("."))
            .bind(ident.name())
            .bind(job.as_str());
        if let Some(outcome) = outcome {
            query = query.bind(outcome.as_str());
        }
        let err = StateError::of(Store::Runs, "read");
        let rows = query
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.db.pool)
            .await
            .map_err(&err)?;
        rows.iter().map(|row| record(row).map_err(&err)).collect()
    }
}

/// The record `row` (the columns [`COLUMNS`]) holds.
pub(super) fn record(row: &AnyRow) -> Result<RunRecord, sqlx::Error> {
    let job: String = row.try_get("job")?;
    let job = JobKind::ALL.into_iter().find(|j| j.as_str() == job).ok_or_else(|| {
        sqlx::Error::ColumnDecode {
            index: "job".to_string(),
            source: format!("no job is named {job:?}").into(),
        }
    })?;
    let error: String = row.try_get("error")?;
    let error_kind: Option<String> = row.try_get("error_kind")?;
    Ok(RunRecord {
        job,
        started_at: time(row, "started_at_ms")?,
        finished_at: time(row, "finished_at_ms")?,
        outcome: RunOutcome::parse(&row.try_get::<String, _>("outcome")?),
        changes: Changes {
            files_removed: count(row, "files_removed")?,
            files_added: count(row, "files_added")?,
            bytes_removed: count(row, "bytes_removed")?,
            bytes_added: count(row, "bytes_added")?,
            partitions: count(row, "partitions")?,
            snapshots: count(row, "snapshots")?,
        },
        error: (!error.is_empty()).then_some(error),
        error_kind: error_kind.as_deref().and_then(FailureKind::parse),
        instance: row.try_get("instance")?,
        requests: RequestCounts {
            get: count(row, "requests_get")?,
            put: count(row, "requests_put")?,
            list: count(row, "requests_list")?,
            head: count(row, "requests_head")?,
            delete: count(row, "requests_delete")?,
            bytes_read: count(row, "request_bytes_read")?,
            bytes_written: count(row, "request_bytes_written")?,
        },
    })
}

#[cfg(test)]
mod tests;
