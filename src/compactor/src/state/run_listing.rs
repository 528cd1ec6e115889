//! The run history across tables, newest first, a page at a time: what `GET /runs` of the
//! admin API lists.
//!
//! Pages are cut by a keyset [`RunCursor`] (the last row's start, table and job), so a page
//! never repeats nor skips a row while new runs are recorded.

use std::fmt;
use std::str::FromStr;

use sqlx::Row;

use super::error::{StateError, Store};
use super::runs::{COLUMNS, RUNS_TABLE, RunOutcome, RunRecord, Runs, record};
use crate::job::JobKind;

/// Which runs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RunFilter {
    /// Only this tenant's tables.
    pub tenant: Option<String>,
    /// Only this dataset's tables (with `tenant`, or of every tenant).
    pub dataset: Option<String>,
    /// Only tables of this name (`logs`, `traces`, ...).
    pub table: Option<String>,
    /// Only this job's runs.
    pub job: Option<JobKind>,
    /// Only runs that ended so.
    pub outcome: Option<RunOutcome>,
}

/// Where a page of the listing ends: the last row's start, namespace, table and job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunCursor {
    started_at_ms: i64,
    namespace: String,
    table: String,
    job: String,
}

/// A string that is not a [`RunCursor`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is malformed: pass on the `next` value of the previous page unchanged")]
pub(crate) struct InvalidCursor;

impl fmt::Display for RunCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}~{}~{}~{}", self.started_at_ms, self.namespace, self.table, self.job)
    }
}

impl FromStr for RunCursor {
    type Err = InvalidCursor;

    fn from_str(s: &str) -> Result<Self, InvalidCursor> {
        let mut parts = s.split('~');
        let (Some(ms), Some(namespace), Some(table), Some(job), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidCursor);
        };
        let plain = |p: &str| {
            !p.is_empty()
                && p.len() <= 256
                && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if !(plain(namespace) && plain(table) && plain(job)) {
            return Err(InvalidCursor);
        }
        let started_at_ms = ms.parse().map_err(|_| InvalidCursor)?;
        Ok(Self {
            started_at_ms,
            namespace: namespace.into(),
            table: table.into(),
            job: job.into(),
        })
    }
}

/// A run of the listing: its table and the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedRun {
    /// The table's namespace, `tenant.dataset`.
    pub namespace: String,
    /// The table's name.
    pub table: String,
    /// The run.
    pub run: RunRecord,
}

/// One page of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<ListedRun>,
    /// Where the next page starts, when there may be one.
    pub next: Option<RunCursor>,
}

/// `value` matched literally by `LIKE … ESCAPE '!'`.
fn like_literal(value: &str) -> String {
    value.replace('!', "!!").replace('%', "!%").replace('_', "!_")
}

impl Runs {
    /// Up to `limit` runs that `filter` selects, newest first, after `after` when given.
    pub(crate) async fn list(
        &self,
        filter: &RunFilter,
        limit: usize,
        after: Option<&RunCursor>,
    ) -> Result<RunPage, StateError> {
        let mut conditions = vec!["catalog_name = ?".to_string()];
        let mut binds: Vec<String> = vec![self.db.catalog_name.to_string()];
        match (&filter.tenant, &filter.dataset) {
            (Some(t), Some(d)) => {
                conditions.push("table_namespace = ?".into());
                binds.push(format!("{t}.{d}"));
            }
            (Some(t), None) => {
                conditions.push("table_namespace LIKE ? ESCAPE '!'".into());
                binds.push(format!("{}.%", like_literal(t)));
            }
            (None, Some(d)) => {
                conditions.push("table_namespace LIKE ? ESCAPE '!'".into());
                binds.push(format!("%.{}", like_literal(d)));
            }
            (None, None) => {}
        }
        let exact = [
            ("table_name", filter.table.clone()),
            ("job", filter.job.map(|j| j.as_str().to_string())),
            ("outcome", filter.outcome.map(|o| o.as_str().to_string())),
        ];
        for (column, value) in exact {
            if let Some(value) = value {
                conditions.push(format!("{column} = ?"));
                binds.push(value);
            }
        }
        let mut after_ms = None;
        if let Some(c) = after {
            // Rows strictly after the cursor in the listing's order.
            conditions.push(
                "(started_at_ms < ? OR (started_at_ms = ? AND (table_namespace < ? OR \
                 (table_namespace = ? AND (table_name < ? OR (table_name = ? AND job < ?))))))"
                    .into(),
            );
            after_ms = Some(c.started_at_ms);
            let cursor_binds = [&c.namespace, &c.namespace, &c.table, &c.table, &c.job];
            binds.extend(cursor_binds.into_iter().cloned());
        }
        let sql = self.db.sql(&format!(
            "SELECT table_namespace, table_name, {COLUMNS} FROM {RUNS_TABLE} WHERE {} \
             ORDER BY started_at_ms DESC, table_namespace DESC, table_name DESC, job DESC \
             LIMIT ?",
            conditions.join(" AND ")
        ));
        let mut query = sqlx::query(&sql);
        // The cursor's time is bound twice, as integers, before its strings.
        let (plain, cursor_strings) =
            binds.split_at(binds.len() - if after.is_some() { 5 } else { 0 });
        for value in plain {
            query = query.bind(value.clone());
        }
        if let Some(ms) = after_ms {
            query = query.bind(ms).bind(ms);
        }
        for value in cursor_strings {
            query = query.bind(value.clone());
        }
        let fetch = limit.saturating_add(1);
        query = query.bind(i64::try_from(fetch).unwrap_or(i64::MAX));
        let err = StateError::of(Store::Runs, "list");
        let rows = query.fetch_all(&self.db.pool).await.map_err(&err)?;
        let mut runs = Vec::with_capacity(rows.len().min(limit));
        for row in rows.iter().take(limit) {
            runs.push(ListedRun {
                namespace: row.try_get("table_namespace").map_err(&err)?,
                table: row.try_get("table_name").map_err(&err)?,
                run: record(row).map_err(&err)?,
            });
        }
        let next = (rows.len() > limit).then(|| runs.last()).flatten().map(|last| RunCursor {
            started_at_ms: last.run.started_at.timestamp_millis(),
            namespace: last.namespace.clone(),
            table: last.table.clone(),
            job: last.run.job.as_str().to_string(),
        });
        Ok(RunPage { runs, next })
    }
}

#[cfg(test)]
mod tests;
