//! Reading what `compactor status` shows: the tables in scope, each one's committed metadata,
//! its run history and the live leases; then the warning signs and the score, computed from
//! what was read.

use chrono::{DateTime, Utc};
use common::catalog::{CatalogHandle, SignalCatalog, list_other_tables, list_signal_tables};
use common::config::CompactorConfig;
use common::partition::hour_label;
use common::tables::TableId;

use super::report::{JobStatus, RetentionStatus, StatusReport, TableStatus};
use super::score::{Facts, health};
use crate::job::{JobSpec, Scope};
use crate::live_files::ManifestCache;
use crate::retention::TablePolicy;
use crate::state::{RecentRuns, Runs, StateStore};
use crate::table_state::TableState;
use crate::warnings::{config_warnings, cutoff_hour, table_warnings};

/// The status of every table in `scope`, read through `handle` (connecting it when it is not
/// yet); when the catalog cannot be reached, a report holding only the configuration's warnings
/// and why.
pub(crate) async fn status_through(
    handle: &CatalogHandle,
    c: &CompactorConfig,
    scope: &Scope,
    now: DateTime<Utc>,
) -> StatusReport {
    match handle.get().await {
        Ok(catalog) => status(&catalog, c, scope, now).await,
        Err(e) => StatusReport {
            generated_at: now,
            config_warnings: config_warnings(c),
            tables: Vec::new(),
            not_maintained: Vec::new(),
            errors: vec![e.to_string()],
        },
    }
}

/// Reads the status of every table of `catalog` in `scope` under configuration `c` at `now`.
pub(crate) async fn status(
    catalog: &SignalCatalog,
    c: &CompactorConfig,
    scope: &Scope,
    now: DateTime<Utc>,
) -> StatusReport {
    let mut report = StatusReport {
        generated_at: now,
        config_warnings: config_warnings(c),
        tables: Vec::new(),
        not_maintained: Vec::new(),
        errors: Vec::new(),
    };
    let (tenant, dataset) = (scope.tenant.as_deref(), scope.dataset.as_deref());
    match list_other_tables(catalog, tenant, dataset).await {
        Ok(other) => report.not_maintained = other,
        Err(e) => report.errors.push(e.to_string()),
    }
    let ids = match list_signal_tables(catalog, scope.tenant.as_deref(), scope.dataset.as_deref())
        .await
    {
        Ok(ids) => ids.into_iter().filter(|id| scope.contains(id)).collect::<Vec<_>>(),
        Err(e) => {
            report.errors.push(e.to_string());
            return report;
        }
    };
    let store = StateStore::open(catalog).await;
    let history = store.as_ref().map(StateStore::runs).map_err(|e| e.to_string());
    let held = match &store {
        Ok(store) => store.leases().holders().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let held = held.unwrap_or_else(|e| {
        report.errors.push(e);
        Vec::new()
    });
    for id in ids {
        let mut table = table_status(catalog, c, &history, &id, now).await;
        let (namespace, name) = (id.ident().namespace().join("."), id.table.as_str());
        table.lease = held.iter().find(|h| h.namespace == namespace && h.table == name).cloned();
        report.tables.push(table);
    }
    report
}

/// The status of table `id`, its lease aside.
async fn table_status(
    catalog: &SignalCatalog,
    c: &CompactorConfig,
    history: &Result<Runs, String>,
    id: &TableId,
    now: DateTime<Utc>,
) -> TableStatus {
    let mut errors = Vec::new();
    let state = match catalog.load_table(&id.ident()).await {
        Ok(table) => {
            match TableState::read(&table, c.small_file_threshold_bytes, &ManifestCache::new())
                .await
            {
                Ok(state) => Some(state),
                Err(e) => {
                    errors.push(format!("reading the manifests: {e}"));
                    None
                }
            }
        }
        Err(e) => {
            errors.push(format!("loading the table metadata: {e}"));
            None
        }
    };
    let runs = match history {
        Ok(history) => history.recent(id).await.unwrap_or_else(|e| {
            errors.push(e.to_string());
            RecentRuns::default()
        }),
        Err(e) => {
            errors.push(e.clone());
            RecentRuns::default()
        }
    };
    let policy = TablePolicy::resolve(&c.retention, id, now);
    let past = state.as_ref().map(|s| s.before(cutoff_hour(policy.cutoff))).unwrap_or_default();
    let retention = RetentionStatus {
        enabled: c.retention.enabled,
        dry_run: c.retention.dry_run,
        days: policy.days,
        cutoff: policy.cutoff,
        oldest_hour: state.as_ref().and_then(|s| s.oldest_hour).map(hour_label),
        files_past_retention: past.files,
        bytes_past_retention: past.bytes,
    };
    let jobs = runs
        .by_job
        .iter()
        .map(|(job, newest, success)| JobStatus {
            job: *job,
            enabled: JobSpec::of(c, *job).enabled,
            last_run: newest.clone(),
            last_success_age_secs: success.as_ref().map(|s| (now - s.finished_at).num_seconds()),
        })
        .collect::<Vec<_>>();
    let warnings = state.as_ref().map(|s| table_warnings(c, id, s, &runs, now)).unwrap_or_default();
    let error = (!errors.is_empty()).then(|| errors.join("; "));
    let last_runs: Vec<_> =
        jobs.iter().filter(|j| j.enabled).filter_map(|j| j.last_run.as_ref()).collect();
    let facts = Facts {
        state: state.as_ref(),
        last_runs: &last_runs,
        warnings: &warnings,
        error: error.as_deref(),
    };
    let health = health(c, &facts, now);
    TableStatus {
        tenant: id.tenant.clone(),
        dataset: id.dataset.clone(),
        table: id.table,
        state,
        target_file_size_bytes: c.target_file_size_bytes,
        retention,
        jobs,
        warnings,
        health,
        lease: None,
        error,
    }
}
