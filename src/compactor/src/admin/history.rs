//! `GET /runs`, the run history of every table a page at a time, and `GET /leases`, who
//! holds which table now: the fleet at a glance.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::context::AdminContext;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiQuery, NoQuery, checked_id, shown};
use crate::job::JobKind;
use crate::state::{Holder, RunCursor, RunFilter, RunOutcome, RunRecord, StateStore};

/// Runs a page holds unless `limit` says otherwise.
const DEFAULT_PAGE: usize = 50;
/// Most runs a page holds.
const MAX_PAGE: usize = 500;

/// Which runs `GET /runs` lists.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsQuery {
    /// Only this tenant's tables.
    tenant: Option<String>,
    /// Only this dataset's tables.
    dataset: Option<String>,
    /// Only tables of this name (`logs`, `traces`, ...).
    table: Option<String>,
    /// Only this job's runs: `compaction`, `retention` or `orphan_cleanup`.
    #[param(value_type = Option<String>)]
    job: Option<JobKind>,
    /// Only runs that ended so: `success`, `failure` or `dry_run`.
    #[param(value_type = Option<String>)]
    outcome: Option<RunOutcome>,
    /// Runs per page, 1 to 500; default 50.
    limit: Option<usize>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

/// One run of the history, with its table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct HistoryRun {
    /// Tenant id.
    pub tenant: String,
    /// Dataset id.
    pub dataset: String,
    /// The table's name.
    pub table: String,
    /// The run, as `compactor status --json` shows a job's last pass.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub run: RunRecord,
}

/// A page of the run history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct RunsPage {
    /// The runs, newest first.
    pub runs: Vec<HistoryRun>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next: Option<String>,
}

/// `GET /runs`: every job's passes over every table, newest first, filtered and paged.
#[utoipa::path(
    get, path = "/api/v1/runs", tag = "runs",
    params(RunsQuery),
    responses(
        (status = 200, body = RunsPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub(crate) async fn runs(
    State(cx): State<Arc<AdminContext>>,
    ApiQuery(query): ApiQuery<RunsQuery>,
) -> Result<Json<RunsPage>, ApiError> {
    let RunsQuery { tenant, dataset, table, job, outcome, limit, cursor } = query;
    for (what, id) in [("tenant", &tenant), ("dataset", &dataset)] {
        if let Some(id) = id {
            checked_id(what, id)?;
        }
    }
    if let Some(t) = &table
        && common::TableKind::from_name(t).is_none()
    {
        return Err(ApiError::bad_request(format!("table {}: no table is named so", shown(t))));
    }
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit {limit}: it must be 1 to {MAX_PAGE}")));
    }
    let cursor = cursor
        .map(|c| c.parse::<RunCursor>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let store = cx.store().await?;
    let filter = RunFilter { tenant, dataset, table, job, outcome };
    let page = store
        .runs()
        .list(&filter, limit, cursor.as_ref())
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let runs = page
        .runs
        .into_iter()
        .map(|listed| {
            let (tenant, dataset) =
                listed.namespace.split_once('.').unwrap_or((&listed.namespace, ""));
            HistoryRun {
                tenant: tenant.to_string(),
                dataset: dataset.to_string(),
                table: listed.table.clone(),
                run: listed.run,
            }
        })
        .collect();
    Ok(Json(RunsPage { runs, next: page.next.map(|c| c.to_string()) }))
}

/// One instance of the fleet, as the leases show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct InstanceView {
    /// Its id (host or pod name and a nonce).
    pub instance: String,
    /// Whether it is the instance answering.
    pub this: bool,
    /// Leases it holds now.
    pub leases: usize,
}

/// `GET /leases`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct LeasesView {
    /// The instance answering.
    pub instance: String,
    /// When the leases were read.
    pub read_at: DateTime<Utc>,
    /// The instances holding leases now, and this one.
    pub instances: Vec<InstanceView>,
    /// Every live lease: which instance works on which table, for which job, until when.
    #[schema(value_type = Vec<Object>)]
    pub leases: Vec<Holder>,
}

/// `GET /leases`: who holds what, until when.
#[utoipa::path(
    get, path = "/api/v1/leases", tag = "fleet",
    responses(
        (status = 200, body = LeasesView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub(crate) async fn leases(
    State(cx): State<Arc<AdminContext>>,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<LeasesView>, ApiError> {
    Ok(Json(cx.leases().await?))
}

impl AdminContext {
    /// The state store of the catalog; `503` when it cannot be opened.
    pub(crate) async fn store(&self) -> Result<StateStore, ApiError> {
        let catalog =
            self.assembly.catalog().get().await.map_err(|e| {
                ApiError::unavailable(format!("the catalog cannot be reached: {e}"))
            })?;
        StateStore::open(&catalog)
            .await
            .map_err(|e| ApiError::unavailable(format!("the state store cannot be opened: {e}")))
    }

    /// The live leases and the instances holding them.
    pub(crate) async fn leases(&self) -> Result<LeasesView, ApiError> {
        let store = self.store().await?;
        let leases =
            store.leases().holders().await.map_err(|e| ApiError::unavailable(e.to_string()))?;
        let this = self.assembly.instance().as_str().to_string();
        let mut held: BTreeMap<String, usize> = BTreeMap::from([(this.clone(), 0)]);
        for lease in &leases {
            *held.entry(lease.owner.clone()).or_default() += 1;
        }
        let instances = held
            .into_iter()
            .map(|(instance, leases)| InstanceView { this: instance == this, instance, leases })
            .collect();
        Ok(LeasesView { instance: this, read_at: self.assembly.clock().now(), instances, leases })
    }
}
