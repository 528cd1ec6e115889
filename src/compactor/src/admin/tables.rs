//! `GET /api/v1/tables`, a table's detail and its dry-run plan: what `compactor status` and
//! `compactor plan` show, for one table or a filtered fleet.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use common::Signal;
use common::partition::TimePartition;
use common::tables::TableId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::context::AdminContext;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiQuery, NoQuery, TablePath, checked_id};
use super::runs::RunView;
use crate::compaction::plan::TablePlan;
use crate::job::{JobKind, Scope};
use crate::report::JobReport;
use crate::state::{RunRecord, StateStore};
use crate::status::StatusReport;
use crate::status::report::TableStatus;
use crate::table_state::TableState;

/// Runs of each job a table's detail lists.
const DETAIL_RUNS: usize = 10;

/// Which tables `GET /tables` lists.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TablesQuery {
    /// Only this tenant's tables.
    tenant: Option<String>,
    /// Only this dataset's tables.
    dataset: Option<String>,
    /// Only this signal's tables: `traces`, `logs`, `metrics` or `profiles`.
    #[param(value_type = Option<String>)]
    signal: Option<Signal>,
    /// Only tables whose health is this: `healthy` or `unhealthy`.
    health: Option<HealthFilter>,
}

/// A health to filter by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HealthFilter {
    /// A score of at least 70.
    Healthy,
    /// A score below 70, or a table that cannot be read.
    Unhealthy,
}

/// `GET /tables`: the status of every table in scope, as `compactor status --json` prints it.
#[utoipa::path(
    get, path = "/api/v1/tables", tag = "tables",
    params(TablesQuery),
    responses(
        (status = 200, description = "Every table in scope (`compactor status --json`)", body = Object),
        (status = 400, description = "A malformed or unknown parameter", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(cx): State<Arc<AdminContext>>,
    ApiQuery(query): ApiQuery<TablesQuery>,
) -> Result<Json<StatusReport>, ApiError> {
    let TablesQuery { tenant, dataset, signal, health } = query;
    for (what, id) in [("tenant", &tenant), ("dataset", &dataset)] {
        if let Some(id) = id {
            checked_id(what, id)?;
        }
    }
    let scope = Scope { tenant, dataset, signal, dry_run: true, tables: None };
    let mut report = cx.status(&scope).await;
    if let Some(wanted) = health {
        report.tables.retain(|t| t.health.healthy == (wanted == HealthFilter::Healthy));
    }
    Ok(Json(report))
}

/// One time partition of a table, with what compaction would make of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct PartitionView {
    /// `YYYY-MM-DD-HH` for an hour, `YYYY-MM-DD` for a day (UTC).
    pub partition: String,
    /// Its first hour since the epoch.
    pub hour: i64,
    /// Live data files.
    pub files: u64,
    /// Those below the small-file threshold.
    pub small_files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Live delete files of the partition.
    pub delete_files: u64,
    /// Their rows.
    pub delete_rows: u64,
    /// Files after compaction, when the plan compacts the partition.
    pub planned_files: Option<u64>,
    /// Expected bytes after compaction, when the plan compacts the partition.
    pub planned_bytes: Option<u64>,
}

/// The runs of one job on a table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct JobRuns {
    /// The job.
    pub job: JobKind,
    /// Its newest runs, newest first.
    #[schema(value_type = Vec<Object>)]
    pub runs: Vec<RunRecord>,
}

/// `GET /tables/{tenant}/{dataset}/{table}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TableDetail {
    /// What `compactor status --json` says of the table: state, health and its reasons,
    /// warnings, retention, each job's last pass and the lease holder.
    #[schema(value_type = Object)]
    pub status: TableStatus,
    /// Its time partitions, oldest first.
    pub partitions: Vec<PartitionView>,
    /// The newest runs of each job.
    pub runs: Vec<JobRuns>,
    /// Runs started through the API on the table, newest first.
    pub requested_runs: Vec<RunView>,
}

/// `GET /tables/{tenant}/{dataset}/{table}`: one table's status, partitions, runs.
#[utoipa::path(
    get, path = "/api/v1/tables/{tenant}/{dataset}/{table}", tag = "tables",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("dataset" = String, Path, description = "Dataset id"),
        ("table" = String, Path, description = "Table name: traces, logs, metrics_gauge, ..."),
    ),
    responses(
        (status = 200, body = TableDetail),
        (status = 400, description = "A malformed tenant or dataset id", body = ErrorBody),
        (status = 404, description = "No such table", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, description = "The catalog cannot be read now", body = ErrorBody),
    )
)]
pub(crate) async fn detail(
    State(cx): State<Arc<AdminContext>>,
    TablePath(id): TablePath,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<TableDetail>, ApiError> {
    Ok(Json(cx.table_detail(&id).await?))
}

/// Which plans `GET /tables/.../plan` makes.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PlanQuery {
    /// Only this job's plan: `compaction`, `retention` or `orphan_cleanup`; without it,
    /// compaction's and retention's.
    #[param(value_type = Option<String>)]
    job: Option<JobKind>,
}

/// `GET /tables/{tenant}/{dataset}/{table}/plan`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct PlanView {
    /// One dry-run report per job, as `compactor plan --json` and `compactor retention
    /// --dry-run --json` give them.
    #[schema(value_type = Vec<Object>)]
    pub reports: Vec<JobReport>,
    /// The table's partitions with what the compaction plan makes of them.
    pub partitions: Vec<PartitionView>,
}

/// `GET /tables/{tenant}/{dataset}/{table}/plan`: what each job would do to the table now.
#[utoipa::path(
    get, path = "/api/v1/tables/{tenant}/{dataset}/{table}/plan", tag = "tables",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("dataset" = String, Path, description = "Dataset id"),
        ("table" = String, Path, description = "Table name"),
        PlanQuery,
    ),
    responses(
        (status = 200, body = PlanView),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub(crate) async fn plan(
    State(cx): State<Arc<AdminContext>>,
    TablePath(id): TablePath,
    ApiQuery(query): ApiQuery<PlanQuery>,
) -> Result<Json<PlanView>, ApiError> {
    let jobs = match query.job {
        Some(job) => vec![job],
        None => vec![JobKind::Compaction, JobKind::Retention],
    };
    Ok(Json(cx.plan(&id, &jobs).await?))
}

impl AdminContext {
    /// The status of the tables in `scope`.
    pub(crate) async fn status(&self, scope: &Scope) -> StatusReport {
        let assembly = &self.assembly;
        let now = assembly.clock().now();
        crate::status::status_through(assembly.catalog(), assembly.config(), scope, now).await
    }

    /// The status of table `id`: `404` when the catalog has no such table.
    pub(crate) async fn table_status(&self, id: &TableId) -> Result<TableStatus, ApiError> {
        let scope = Scope {
            tenant: Some(id.tenant.clone()),
            dataset: Some(id.dataset.clone()),
            tables: Some(BTreeSet::from([id.clone()])),
            ..Scope::default()
        };
        let report = self.status(&scope).await;
        if let Some(table) = report.tables.into_iter().next() {
            return Ok(table);
        }
        match report.errors.first() {
            Some(e) => Err(ApiError::unavailable(format!("the catalog cannot be read: {e}"))),
            None => Err(ApiError::not_found(format!(
                "no table {}.{}.{} is in the catalog",
                id.tenant, id.dataset, id.table
            ))),
        }
    }

    /// Table `id`'s detail.
    pub(crate) async fn table_detail(&self, id: &TableId) -> Result<TableDetail, ApiError> {
        let status = self.table_status(id).await?;
        let partitions = partitions(status.state.as_ref(), None);
        let mut runs = Vec::new();
        if let Ok(catalog) = self.assembly.catalog().get().await
            && let Ok(store) = StateStore::open(&catalog).await
        {
            let history = store.runs();
            for job in JobKind::ALL {
                let newest = history.runs(id, job, DETAIL_RUNS).await.unwrap_or_default();
                runs.push(JobRuns { job, runs: newest });
            }
        }
        let requested_runs =
            self.runs.list().iter().filter(|r| r.table == *id).map(|r| r.view()).collect();
        Ok(TableDetail { status, partitions, runs, requested_runs })
    }

    /// The dry-run reports of `jobs` on table `id`, and its partitions as compaction would
    /// leave them.
    pub(crate) async fn plan(&self, id: &TableId, jobs: &[JobKind]) -> Result<PlanView, ApiError> {
        let status = self.table_status(id).await?;
        Ok(PlanView::of(self.dry_runs(id, jobs).await, status.state.as_ref()))
    }

    /// The dry-run report of each of `jobs` on table `id`, in order.
    pub(crate) async fn dry_runs(&self, id: &TableId, jobs: &[JobKind]) -> Vec<JobReport> {
        let scope =
            Scope { dry_run: true, tables: Some(BTreeSet::from([id.clone()])), ..Scope::default() };
        let cancel = tokio_util::sync::CancellationToken::new();
        let mut reports = Vec::new();
        for job in jobs {
            reports.push(self.assembly.preview(*job).run(&scope, &cancel).await);
        }
        reports
    }
}

impl PlanView {
    /// The view of `reports` on a table whose state is `state`: its partitions with what the
    /// compaction report among them plans for each.
    pub(crate) fn of(reports: Vec<JobReport>, state: Option<&TableState>) -> Self {
        let plan = reports
            .iter()
            .flat_map(|r| &r.tables)
            .filter_map(|t| t.details.as_ref()?.compaction())
            .map(|c| &c.plan)
            .next();
        let partitions = partitions(state, plan);
        Self { reports, partitions }
    }
}

/// The partitions of `state`, oldest first, with what `plan` makes of each it compacts.
pub(crate) fn partitions(
    state: Option<&TableState>,
    plan: Option<&TablePlan>,
) -> Vec<PartitionView> {
    let Some(state) = state else { return Vec::new() };
    let deletes: BTreeMap<&str, (u64, u64)> = state
        .deletes_by_partition
        .iter()
        .map(|d| (d.partition.as_str(), (d.delete_files, d.delete_rows)))
        .collect();
    let planned: BTreeMap<i64, (u64, u64)> = plan
        .map(|p| {
            p.candidates
                .iter()
                .map(|c| {
                    let grouped: u64 = c.groups.iter().map(|g| g.bytes).sum();
                    let expected: u64 = c.groups.iter().map(|g| g.expected_bytes).sum();
                    let bytes = c.bytes.saturating_sub(grouped).saturating_add(expected);
                    (c.hour, (c.files_after as u64, bytes))
                })
                .collect()
        })
        .unwrap_or_default();
    state
        .hours
        .iter()
        .map(|(hour, files)| {
            let partition = if files.end_hour - hour == 24 {
                TimePartition::day(hour.div_euclid(24))
            } else {
                TimePartition::hour(*hour)
            };
            let label = partition.label();
            let (delete_files, delete_rows) =
                deletes.get(label.as_str()).copied().unwrap_or_default();
            let after = planned.get(hour);
            PartitionView {
                partition: label,
                hour: *hour,
                files: files.files,
                small_files: files.small_files,
                bytes: files.bytes,
                delete_files,
                delete_rows,
                planned_files: after.map(|a| a.0),
                planned_bytes: after.map(|a| a.1),
            }
        })
        .collect()
}
