//! `GET /tables/{tenant}/{dataset}/{table}`: one table. Its state, health, warnings, retention
//! and lease; its partitions charted before and after the compaction plan; the recent passes
//! of each job and the runs started through the API; and the buttons that start a run.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use common::tables::TableId;

use super::chart::{Chart, Measure, chart};
use super::error::PageError;
use super::format;
use super::respond::html;
use crate::admin::context::AdminContext;
use crate::admin::extract::table_id;
use crate::admin::runs::RunView;
use crate::admin::tables::{PlanView, TableDetail};
use crate::changes::Changes;
use crate::job::JobKind;
use crate::state::RunRecord;
use crate::warnings::Warning;

/// `GET /tables/{tenant}/{dataset}/{table}`: `400` for a malformed id, `404` for a table the
/// catalog does not have, both as HTML.
pub(super) async fn page(
    State(cx): State<Arc<AdminContext>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, PageError> {
    let Path((tenant, dataset, table)) = path.map_err(|e| PageError::bad_request(e.body_text()))?;
    let id = table_id(&tenant, &dataset, &table)?;
    // The detail reads the table's status once; the plan's partitions are drawn on it.
    let (detail, reports) =
        tokio::join!(cx.table_detail(&id), cx.dry_runs(&id, &[JobKind::Compaction]));
    let detail = detail?;
    let plan = PlanView::of(reports, detail.status.state.as_ref());
    let page = TablePage::new(&cx, &id, detail, &plan);
    Ok(html(StatusCode::OK, &page))
}

/// The table page.
#[derive(Template)]
#[template(path = "admin/table.html")]
struct TablePage {
    /// `tenant.dataset.table`.
    name: String,
    /// The table's API path, which the buttons post to.
    api: String,
    /// Whether an admin token is configured, without which the API refuses every run.
    changes_enabled: bool,
    /// When the page was rendered.
    generated_at: String,
    /// The state's numbers, named.
    facts: Vec<Fact>,
    /// The health score, 0 to 100.
    score: u8,
    /// Whether that is healthy.
    healthy: bool,
    /// What lowered it.
    reasons: Vec<String>,
    /// The warning signs that fire.
    warnings: Vec<Warning>,
    /// The retention's numbers, named.
    retention: Vec<Fact>,
    /// Who holds the table's lease now, for which job, until when.
    lease: Option<String>,
    /// Why the table (or part of its status) could not be read.
    error: Option<String>,
    /// What the compaction plan would do, in a line.
    plan_summary: Option<String>,
    /// Failures of the plan.
    plan_errors: Vec<String>,
    /// Files and bytes per partition, before and after the plan.
    charts: Vec<Chart>,
    /// The recent passes of each job.
    jobs: Vec<JobRuns>,
    /// The runs started through the API, newest first.
    requested: Vec<RequestedRow>,
}

/// A named number.
struct Fact {
    /// What it is.
    label: &'static str,
    /// Its value, written out.
    value: String,
}

/// The recent passes of one job.
struct JobRuns {
    /// The job.
    job: JobKind,
    /// Its passes, newest first.
    runs: Vec<RunRow>,
}

/// One pass from the run history.
struct RunRow {
    /// When it started.
    started: String,
    /// How long it took.
    took: String,
    /// `success`, `failure` or `dry_run`.
    outcome: &'static str,
    /// What it changed.
    changes: String,
    /// Its failure.
    error: Option<String>,
    /// The instance that ran it.
    instance: String,
}

/// One run started through the API.
struct RequestedRow {
    /// Its id.
    id: String,
    /// The job.
    job: JobKind,
    /// Whether it only reported.
    dry_run: bool,
    /// Where it is.
    state: &'static str,
    /// When it was requested.
    requested: String,
    /// Its summary, once it ended.
    summary: Option<String>,
    /// Its failure.
    error: Option<String>,
}

impl TablePage {
    /// The page of table `id` from its `detail` and compaction `plan`.
    fn new(cx: &AdminContext, id: &TableId, detail: TableDetail, plan: &PlanView) -> Self {
        let TableDetail { status, partitions: _, runs, requested_runs } = detail;
        let now = cx.assembly.clock().now();
        let state = status.state.clone().unwrap_or_default();
        let facts = vec![
            fact("Data files", state.data_files.to_string()),
            fact("Small files", state.small_files.to_string()),
            fact("Data bytes", format::bytes(state.data_bytes)),
            fact("Average file", format::bytes(state.average_file_bytes())),
            fact("Target file size", format::bytes(status.target_file_size_bytes)),
            fact("Delete files", format!("{} ({} rows)", state.delete_files, state.delete_rows)),
            fact("Manifests", state.manifests.to_string()),
            fact("Snapshots", state.snapshots.to_string()),
            fact("Metadata file", format::bytes(state.metadata_bytes)),
            fact("Partitions", plan.partitions.len().to_string()),
        ];
        let r = &status.retention;
        let retention = vec![
            fact("Retention", format!("{} days", r.days)),
            fact(
                "Job",
                match (r.enabled, r.dry_run) {
                    (false, _) => "disabled".to_string(),
                    (true, true) => "enabled, dry run".to_string(),
                    (true, false) => "enabled".to_string(),
                },
            ),
            fact("Cutoff", format::time(r.cutoff)),
            fact("Oldest partition", r.oldest_hour.clone().unwrap_or_else(|| "none".into())),
            fact(
                "Past retention",
                format!(
                    "{} files, {}",
                    r.files_past_retention,
                    format::bytes(r.bytes_past_retention)
                ),
            ),
        ];
        let compaction = plan.reports.iter().flat_map(|r| &r.tables).next();
        Self {
            name: id.to_string(),
            api: format::table_api(&id.tenant, &id.dataset, id.table.as_str()),
            changes_enabled: cx.access.changes_enabled(),
            generated_at: format::time(now),
            facts,
            score: status.health.score,
            healthy: status.health.healthy,
            reasons: status.health.reasons.iter().map(ToString::to_string).collect(),
            warnings: status.warnings.clone(),
            retention,
            lease: status.lease.as_ref().map(|l| {
                format!("{} holds it for {} until {}", l.owner, l.job, format::time(l.expires_at))
            }),
            error: status.error.clone(),
            plan_summary: compaction.map(|t| t.summary.clone()),
            plan_errors: plan
                .reports
                .iter()
                .flat_map(|r| r.errors.iter().cloned())
                .chain(compaction.and_then(|t| t.error.clone()))
                .collect(),
            charts: vec![
                chart(Measure::Files, &plan.partitions),
                chart(Measure::Bytes, &plan.partitions),
            ],
            jobs: runs
                .into_iter()
                .map(|j| JobRuns { job: j.job, runs: j.runs.iter().map(RunRow::of).collect() })
                .collect(),
            requested: requested_runs.iter().map(|r| RequestedRow::of(r, now)).collect(),
        }
    }
}

fn fact(label: &'static str, value: String) -> Fact {
    Fact { label, value }
}

impl RunRow {
    fn of(run: &RunRecord) -> Self {
        let took = (run.finished_at - run.started_at).num_milliseconds().max(0);
        Self {
            started: format::time(run.started_at),
            took: format!("{:.1}s", took as f64 / 1000.0),
            outcome: run.outcome.as_str(),
            changes: changes_text(&run.changes),
            error: run.error.clone(),
            instance: run.instance.clone(),
        }
    }
}

impl RequestedRow {
    fn of(run: &RunView, now: DateTime<Utc>) -> Self {
        Self {
            id: run.id.clone(),
            job: run.job,
            dry_run: run.dry_run,
            state: run.state.as_str(),
            requested: format::ago(now, run.requested_at),
            summary: run.summary.clone(),
            error: run.error.clone(),
        }
    }
}

/// What a pass changed, in a few words: `-18 +3 files (-1.2 MiB +800.0 KiB), 3 partition(s),
/// 1 snapshot(s)`; `nothing` when it changed nothing.
fn changes_text(c: &Changes) -> String {
    let Changes { files_removed, files_added, bytes_removed, bytes_added, partitions, snapshots } =
        *c;
    if *c == Changes::default() {
        return "nothing".to_string();
    }
    format!(
        "-{files_removed} +{files_added} files (-{} +{}), {partitions} partition(s), \
         {snapshots} snapshot(s)",
        format::bytes(bytes_removed),
        format::bytes(bytes_added)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_in_a_line() {
        assert_eq!(changes_text(&Changes::default()), "nothing");
        let c = Changes {
            files_removed: 18,
            files_added: 3,
            bytes_removed: 2048,
            bytes_added: 1024,
            partitions: 3,
            snapshots: 1,
        };
        assert_eq!(
            changes_text(&c),
            "-18 +3 files (-2.0 KiB +1.0 KiB), 3 partition(s), 1 snapshot(s)"
        );
    }
}
