//! Starting a job on one table now (`POST /tables/{...}/compact`, `/retention`, `/orphans`),
//! following the run (`GET /runs/{id}`) and cancelling it (`DELETE /runs/{id}`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::context::AdminContext;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiQuery, JsonBody, NoQuery, RunPath, TablePath};
use super::runs::{CancelRefused, RunView, StartRefused};
use crate::job::{JobKind, JobSpec};

/// The body of a `POST` that starts a run; it may be left out.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartRun {
    /// Only report what the run would do (the job's configured `dry_run` makes every run
    /// one). Default `false`.
    #[serde(default)]
    pub dry_run: bool,
}

/// A handler that starts `$job` on the table of its path: `POST $path`, documented once for
/// the three jobs.
macro_rules! start_endpoint {
    ($(#[$doc:meta])* $name:ident, $path:literal, $job:expr) => {
        $(#[$doc])*
        #[utoipa::path(
            post, path = $path, tag = "runs",
            params(
                ("tenant" = String, Path, description = "Tenant id"),
                ("dataset" = String, Path, description = "Dataset id"),
                ("table" = String, Path, description = "Table name"),
            ),
            request_body(content = Option<StartRun>, content_type = "application/json"),
            responses(
                (status = 202, description = "Started; follow it at the `Location`", body = RunView),
                (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
                (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
                (status = 409, description = "A run of the job on the table is in flight, or another instance holds its lease", body = ErrorBody),
                (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
                (status = 429, body = ErrorBody), (status = 503, body = ErrorBody),
            ),
            security(("bearer" = []))
        )]
        pub(crate) async fn $name(
            State(cx): State<Arc<AdminContext>>,
            TablePath(id): TablePath,
            ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
            JsonBody(body): JsonBody<StartRun>,
        ) -> Result<Response, ApiError> {
            cx.start(id, $job, body).await
        }
    };
}

start_endpoint!(
    /// `POST /tables/{tenant}/{dataset}/{table}/compact`: one compaction pass of the table now.
    compact,
    "/api/v1/tables/{tenant}/{dataset}/{table}/compact",
    JobKind::Compaction
);

start_endpoint!(
    /// `POST /tables/{tenant}/{dataset}/{table}/retention`: one retention pass of the table now.
    retention,
    "/api/v1/tables/{tenant}/{dataset}/{table}/retention",
    JobKind::Retention
);

start_endpoint!(
    /// `POST /tables/{tenant}/{dataset}/{table}/orphans`: one orphan-cleanup pass of the table
    /// now.
    orphans,
    "/api/v1/tables/{tenant}/{dataset}/{table}/orphans",
    JobKind::OrphanCleanup
);

/// `GET /runs/{id}`: a run started through the API, until its outcome.
#[utoipa::path(
    get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "The run id: `run-` and 32 hex digits")),
    responses(
        (status = 200, body = RunView),
        (status = 400, description = "A malformed run id", body = ErrorBody),
        (status = 404, description = "No such run (a restart forgets runs)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    )
)]
pub(crate) async fn follow(
    State(cx): State<Arc<AdminContext>>,
    RunPath(id): RunPath,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Json<RunView>, ApiError> {
    let run = cx.runs.get(id).ok_or_else(|| unknown_run(&id.to_string()))?;
    Ok(Json(run.view()))
}

/// `DELETE /runs/{id}`: stops a run at its next safe point; nothing is committed after it.
#[utoipa::path(
    delete, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "The run id")),
    responses(
        (status = 202, description = "Cancelling: follow it with `GET`", body = RunView),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The run has already ended", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn cancel(
    State(cx): State<Arc<AdminContext>>,
    RunPath(id): RunPath,
    ApiQuery(NoQuery {}): ApiQuery<NoQuery>,
) -> Result<Response, ApiError> {
    match cx.runs.cancel(id) {
        Ok(run) => Ok((StatusCode::ACCEPTED, Json(run.view())).into_response()),
        Err(CancelRefused::NotFound) => Err(unknown_run(&id.to_string())),
        Err(CancelRefused::Finished(state)) => Err(ApiError::conflict(format!(
            "run {id} has already ended ({}); there is nothing to cancel",
            state.as_str()
        ))),
    }
}

fn unknown_run(id: &str) -> ApiError {
    ApiError::not_found(format!(
        "no run {id} is known to this instance (runs are kept in memory: a restart, or \
         another instance, does not know it; GET /api/v1/runs lists the run history)"
    ))
}

impl AdminContext {
    /// Starts `kind` on `id` as `body` asks: `202` with the run and its `Location`.
    async fn start(
        &self,
        id: common::tables::TableId,
        kind: JobKind,
        body: StartRun,
    ) -> Result<Response, ApiError> {
        // The table must exist; its status read also tells who holds its lease.
        let status = self.table_status(&id).await?;
        let spec = JobSpec::of(self.assembly.config(), kind);
        let dry_run = body.dry_run || spec.dry_run;
        if !dry_run {
            let holder = match &status.lease {
                Some(h) => Some(h.clone()),
                None => self.holder(&id).await,
            };
            if let Some(h) = holder.filter(|h| h.owner != self.assembly.instance().as_str()) {
                return Err(ApiError::conflict(format!(
                    "the lease of {}.{}.{} is held by instance {} for {} until {}: it works on \
                     the table now; retry after it",
                    id.tenant,
                    id.dataset,
                    id.table,
                    h.owner,
                    h.job,
                    h.expires_at.to_rfc3339()
                )));
            }
        }
        let job = self.assembly.requested(kind);
        match self.runs.start(id.clone(), dry_run, job) {
            Ok(run) => {
                let location = format!("/api/v1/runs/{}", run.id);
                let mut response = (StatusCode::ACCEPTED, Json(run.view())).into_response();
                if let Ok(value) = HeaderValue::from_str(&location) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                Ok(response)
            }
            Err(StartRefused::InFlight(run)) => Err(ApiError::conflict(format!(
                "a {kind} run of {}.{}.{} is in flight: {run}; follow it at /api/v1/runs/{run} \
                 or cancel it",
                id.tenant, id.dataset, id.table
            ))),
            Err(StartRefused::TooMany(limit)) => Err(ApiError::too_many_runs(limit)),
            Err(StartRefused::ShuttingDown) => {
                Err(ApiError::unavailable("the compactor is shutting down"))
            }
        }
    }

    /// Who holds a lease on `id` now, as the state store says; `None` when none or unknown.
    async fn holder(&self, id: &common::tables::TableId) -> Option<crate::state::Holder> {
        let store = self.store().await.ok()?;
        store.leases().holder_of(id).await.ok().flatten()
    }
}
