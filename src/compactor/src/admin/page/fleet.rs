//! `GET /`: the fleet at a glance. This instance and the readiness of what it depends on, the
//! instances and the leases they hold, then every table in scope with its health, size,
//! warnings, lease and last compaction, each row a link to the table's page.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::error::PageError;
use super::format;
use super::respond::html;
use crate::admin::context::AdminContext;
use crate::admin::error::ApiError;
use crate::admin::extract::shown;
use crate::admin::history::LeasesView;
use crate::health::{ComponentState, ComponentStatus};
use crate::job::{JobKind, Scope};
use crate::status::StatusReport;
use crate::status::report::TableStatus;
use crate::warnings::Warning;

/// The query string of `/`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetQuery {
    /// Only this tenant's tables; empty is every tenant.
    tenant: Option<String>,
}

/// `GET /`: the fleet, its tables limited to `?tenant=` when given.
pub(super) async fn page(
    State(cx): State<Arc<AdminContext>>,
    uri: Uri,
) -> Result<Response, PageError> {
    let tenant = tenant_filter(&uri)?;
    let scope = Scope { tenant: tenant.clone(), dry_run: true, ..Scope::default() };
    let (report, leases) = tokio::join!(cx.status(&scope), cx.leases());
    let page = FleetPage::new(&cx, tenant.unwrap_or_default(), &report, leases);
    Ok(html(StatusCode::OK, &page))
}

/// The `?tenant=` of `uri`, validated like the API's; `None` when absent or empty.
fn tenant_filter(uri: &Uri) -> Result<Option<String>, PageError> {
    let Query(query) = Query::<FleetQuery>::try_from_uri(uri)
        .map_err(|e| PageError::bad_request(e.body_text()))?;
    let tenant = query.tenant.filter(|t| !t.is_empty());
    if let Some(t) = &tenant {
        common::ids::validate_id(t)
            .map_err(|e| PageError::bad_request(format!("tenant {}: {e}", shown(t))))?;
    }
    Ok(tenant)
}

/// The fleet page.
#[derive(Template)]
#[template(path = "admin/fleet.html")]
struct FleetPage {
    /// This instance's id.
    instance: String,
    /// When the page was rendered.
    generated_at: String,
    /// Whether an admin token is configured: without one the API refuses every run.
    changes_enabled: bool,
    /// Whether reads (the pages among them) need the token.
    reads_protected: bool,
    /// The catalog's and the object store's readiness.
    components: Vec<ComponentRow>,
    /// The configuration's warning signs.
    config_warnings: Vec<Warning>,
    /// Failures not tied to one table (the catalog could not be listed).
    errors: Vec<String>,
    /// The instances holding leases, and this one.
    instances: Vec<InstanceRow>,
    /// Every live lease.
    leases: Vec<LeaseRow>,
    /// Why the leases could not be read.
    leases_error: Option<String>,
    /// The tenant filter; empty for every tenant.
    tenant: String,
    /// Every table in scope.
    tables: Vec<TableRow>,
    /// How many of them are unhealthy.
    unhealthy: usize,
}

/// One dependency's readiness.
struct ComponentRow {
    /// `catalog` or `object_store`.
    name: &'static str,
    /// Whether it counts as ready.
    ready: bool,
    /// `ok`, `failing`, `stale` or `unknown`.
    state: &'static str,
    /// Its latest error, or how long ago it last answered.
    detail: String,
}

/// One instance of the fleet.
struct InstanceRow {
    /// Its id.
    instance: String,
    /// Whether it is the one answering.
    this: bool,
    /// Leases it holds.
    leases: usize,
}

/// One live lease.
struct LeaseRow {
    /// `tenant.dataset.table`.
    name: String,
    /// The table's page.
    href: String,
    /// The job it is held for.
    job: JobKind,
    /// The instance holding it.
    holder: String,
    /// When it expires.
    until: String,
}

/// One table of the fleet.
struct TableRow {
    /// `tenant.dataset.table`: what the text filter matches.
    name: String,
    /// Tenant id.
    tenant: String,
    /// Dataset id.
    dataset: String,
    /// The table's name.
    table: String,
    /// Its page.
    href: String,
    /// Its health score, 0 to 100.
    score: u8,
    /// Whether that is healthy.
    healthy: bool,
    /// Live data files.
    files: u64,
    /// Those below the small-file threshold.
    small_files: u64,
    /// Their bytes.
    bytes: u64,
    /// The same, in binary units.
    bytes_text: String,
    /// The warning signs that fire, by check name.
    warnings: Vec<&'static str>,
    /// Who holds its lease, for which job.
    lease: Option<String>,
    /// Its last compaction pass.
    last_compaction: Option<LastRun>,
    /// Why it (or part of its status) could not be read.
    error: Option<String>,
}

/// A job's last pass on a table.
struct LastRun {
    /// `success`, `failure` or `dry_run`.
    outcome: &'static str,
    /// How long ago it finished.
    ago: String,
    /// When it finished, to the second.
    at: String,
    /// When it finished, in seconds since the epoch: what the column sorts by.
    sort: i64,
}

impl FleetPage {
    /// The page of `report` and `leases` as `cx` sees them, filtered to `tenant`.
    fn new(
        cx: &AdminContext,
        tenant: String,
        report: &StatusReport,
        leases: Result<LeasesView, ApiError>,
    ) -> Self {
        let readiness = cx.health.readiness().components;
        let components = vec![
            ComponentRow::of("catalog", &readiness.catalog),
            ComponentRow::of("object_store", &readiness.object_store),
        ];
        let (instances, leases, leases_error) = match leases {
            Ok(view) => (
                view.instances
                    .into_iter()
                    .map(|i| InstanceRow { instance: i.instance, this: i.this, leases: i.leases })
                    .collect(),
                view.leases.iter().map(LeaseRow::of).collect(),
                None,
            ),
            Err(e) => {
                let this = InstanceRow {
                    instance: cx.assembly.instance().as_str().to_string(),
                    this: true,
                    leases: 0,
                };
                (vec![this], Vec::new(), Some(e.message().to_string()))
            }
        };
        let now = report.generated_at;
        Self {
            instance: cx.assembly.instance().as_str().to_string(),
            generated_at: format::time(now),
            changes_enabled: cx.access.changes_enabled(),
            reads_protected: cx.access.reads_protected(),
            components,
            config_warnings: report.config_warnings.clone(),
            errors: report.errors.clone(),
            instances,
            leases,
            leases_error,
            tenant,
            tables: report.tables.iter().map(|t| TableRow::of(t, now)).collect(),
            unhealthy: report.unhealthy(),
        }
    }
}

impl ComponentRow {
    fn of(name: &'static str, status: &ComponentStatus) -> Self {
        let state = match status.state {
            ComponentState::Ok => "ok",
            ComponentState::Failing => "failing",
            ComponentState::Stale => "stale",
            ComponentState::Unknown => "unknown",
        };
        let detail = match (&status.last_error, status.last_ok_seconds_ago) {
            (Some(e), _) => e.clone(),
            (None, Some(secs)) => format!("answered {secs:.0}s ago"),
            (None, None) => "has not answered yet".to_string(),
        };
        Self { name, ready: status.ready, state, detail }
    }
}

impl LeaseRow {
    fn of(lease: &crate::state::Holder) -> Self {
        let (tenant, dataset) = lease.namespace.split_once('.').unwrap_or((&lease.namespace, ""));
        Self {
            name: format!("{}.{}", lease.namespace, lease.table),
            href: format::table_href(tenant, dataset, &lease.table),
            job: lease.job,
            holder: lease.owner.clone(),
            until: format::time(lease.expires_at),
        }
    }
}

impl TableRow {
    fn of(t: &TableStatus, now: DateTime<Utc>) -> Self {
        let table = t.table.as_str();
        let state = t.state.clone().unwrap_or_default();
        let last_compaction = t
            .jobs
            .iter()
            .find(|j| j.job == JobKind::Compaction)
            .and_then(|j| j.last_run.as_ref())
            .map(|run| LastRun {
                outcome: run.outcome.as_str(),
                ago: format::ago(now, run.finished_at),
                at: format::time(run.finished_at),
                sort: run.finished_at.timestamp(),
            });
        Self {
            name: format!("{}.{}.{table}", t.tenant, t.dataset),
            tenant: t.tenant.clone(),
            dataset: t.dataset.clone(),
            table: table.to_string(),
            href: format::table_href(&t.tenant, &t.dataset, table),
            score: t.health.score,
            healthy: t.health.healthy,
            files: state.data_files,
            small_files: state.small_files,
            bytes: state.data_bytes,
            bytes_text: format::bytes(state.data_bytes),
            warnings: t.warnings.iter().map(|w| w.check).collect(),
            lease: t.lease.as_ref().map(|l| format!("{} ({})", l.owner, l.job)),
            last_compaction,
            error: t.error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tenant: &str, warning: &'static str) -> TableRow {
        TableRow {
            name: format!("{tenant}.prod.logs"),
            tenant: tenant.to_string(),
            dataset: "prod".to_string(),
            table: "logs".to_string(),
            href: format::table_href(tenant, "prod", "logs"),
            score: 55,
            healthy: false,
            files: 18,
            small_files: 18,
            bytes: 1536,
            bytes_text: format::bytes(1536),
            warnings: vec![warning],
            lease: None,
            last_compaction: None,
            error: Some("<img src=x onerror=alert(1)>".to_string()),
        }
    }

    fn page(tables: Vec<TableRow>) -> FleetPage {
        FleetPage {
            instance: "host-1<b>".to_string(),
            generated_at: "2026-01-15 12:00:00Z".to_string(),
            changes_enabled: false,
            reads_protected: false,
            components: vec![ComponentRow {
                name: "catalog",
                ready: false,
                state: "failing",
                detail: "connection refused <script>".to_string(),
            }],
            config_warnings: vec![Warning {
                check: "orphan_cleanup_disabled",
                message: "enable <b>orphan cleanup</b>".to_string(),
            }],
            errors: Vec::new(),
            instances: Vec::new(),
            leases: Vec::new(),
            leases_error: None,
            tenant: "\"><script>alert(1)</script>".to_string(),
            tables,
            unhealthy: 1,
        }
    }

    #[test]
    fn every_table_is_a_row_with_its_score_linking_to_its_page() {
        let body =
            page(vec![row("acme", "snapshots_unbounded"), row("globex", "x")]).render().unwrap();
        assert_eq!(body.matches("<tr class=\"table-row").count(), 2, "{body}");
        assert!(body.contains("href=\"/tables/acme/prod/logs\""), "{body}");
        assert!(body.contains("data-name=\"globex.prod.logs\""), "{body}");
        assert!(body.contains("class=\"score unhealthy\">55<"), "{body}");
        assert!(body.contains("snapshots_unbounded"), "{body}");
        assert!(body.contains("1.5 KiB"), "{body}");
    }

    #[test]
    fn what_the_catalog_or_a_request_says_is_escaped() {
        let body = page(vec![row("<script>alert(1)</script>", "x")]).render().unwrap();
        assert!(!body.contains("<script>alert"), "{body}");
        assert!(!body.contains("<img src=x"), "{body}");
        assert!(!body.contains("<b>"), "{body}");
        assert!(body.contains("&#60;script&#62;alert(1)&#60;/script&#62;.prod.logs"), "{body}");
        assert!(body.contains("value=\"&#34;&#62;&#60;script&#62;"), "{body}");
    }
}
