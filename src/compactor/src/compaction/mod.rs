//! Compaction: merge the small Parquet files of quiet `hour` partitions into target-size files.
//!
//! A pass over a table reads its live files from the manifests, resolves the [`order`] its
//! output is written in (the table's sort order, else `[compactor.sort]`) and [`plan`]s the
//! rewrite groups (a dry run stops there and reports the plan); it then [`execute`]s the plan:
//! each group is [`rewrite`]n into new files, its rows through the bounded-memory [`sort`]
//! when ordered, and the finished groups are committed together in one
//! atomic `replace` snapshot (every `groups_per_commit` groups when set), which also merges the
//! table's small manifests when it has too many; [`manifests`] merges them on its own when
//! the pass committed nothing. The step is the compaction job's [`TableStep`]; its typed outcome is [`CompactionOutcome`].

mod abandon;
mod batch;
pub(crate) mod copy;
mod encodings;
pub(crate) mod execute;
pub(crate) mod manifests;
pub(crate) mod order;
pub(crate) mod output_ratio;
pub(crate) mod plan;
pub(crate) mod props;
pub(crate) mod read;
pub(crate) mod rewrite;
mod rewrite_error;
pub(crate) mod roll;
pub(crate) mod sample;
pub(crate) mod scan;
pub(crate) mod slots;
pub(crate) mod sort;
pub(crate) mod tenant_cap;
pub(crate) mod write_props;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use common::catalog::SignalCatalog;
use common::clock::Clock;
use common::signal::Signal;
use common::tables::TableId;
use iceberg::table::Table;
use serde::Serialize;
use tracing::info;

pub(crate) use execute::{ExecuteSettings, GroupStatus, TableExecution};
pub(crate) use manifests::ManifestsReport;
pub(crate) use order::{OrderSource, OutputOrder};
#[cfg(test)]
pub(crate) use plan::Method;
pub(crate) use plan::{PlanSettings, TablePlan};
pub(crate) use rewrite::RewriteSettings;
#[cfg(test)]
pub(crate) use rewrite::{RewriteError, RewriteOutput, rewrite_group};
pub(crate) use sort::SortSettings;
pub(crate) use tenant_cap::{TenantCap, TenantShares};

use output_ratio::OutputRatio;
use slots::RewriteSlots;

use crate::failure::Failure;
use crate::job::{JobKind, Scope};
use crate::live_files::{ManifestCache, live_files_listed};
use crate::log_target;
use crate::step::{StepError, StepOutcome, TableContext, TableStep};
use crate::time_partition::current_time_field;

/// Everything a compaction pass needs to know, from `[compactor]`; a table's own `write.*`
/// properties win over it ([`CompactionSettings::for_table`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactionSettings {
    /// How partitions are chosen and grouped.
    pub plan: PlanSettings,
    /// Whether and by which columns output is sorted (`[compactor.sort]`); a table's own sort
    /// order wins over the columns.
    pub sort: SortPolicy,
    /// How groups are rewritten and committed.
    pub execute: ExecuteSettings,
    /// How much of a pass one tenant is given, over all its tables.
    pub tenant_cap: TenantCap,
}

impl CompactionSettings {
    /// The settings for a table whose properties are `properties`: its target file size
    /// (which also bounds what counts as small), Parquet codec, row-group size and bloom
    /// filters win over the configuration.
    pub fn for_table(
        &self,
        properties: &std::collections::HashMap<String, String>,
    ) -> Result<Self, write_props::BadProperty> {
        let write = write_props::WriteProperties::from_table(properties)?;
        let mut out = self.clone();
        out.execute.rewrite = self.execute.rewrite.for_table(write);
        let target = out.execute.rewrite.target_file_size_bytes;
        out.plan.target_file_size_bytes = target;
        out.plan.small_file_threshold_bytes = out.plan.small_file_threshold_bytes.min(target);
        Ok(out)
    }
}

/// Whether compaction sorts its output, and by which columns per signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortPolicy {
    /// Whether output is sorted at all (by the table's order or the columns).
    pub enabled: bool,
    /// Sort columns of traces tables.
    pub traces: Vec<String>,
    /// Sort columns of logs tables.
    pub logs: Vec<String>,
    /// Sort columns of metrics tables.
    pub metrics: Vec<String>,
    /// Sort columns of profiles tables.
    pub profiles: Vec<String>,
}

impl SortPolicy {
    /// No sorting.
    pub fn unsorted() -> Self {
        Self {
            enabled: false,
            traces: Vec::new(),
            logs: Vec::new(),
            metrics: Vec::new(),
            profiles: Vec::new(),
        }
    }

    /// The output order of `table` (of `id`): `None` when sorting is off or nothing sorts it.
    pub fn resolve(
        &self,
        id: &TableId,
        table: &Table,
    ) -> Result<Option<OutputOrder>, order::MissingSortColumn> {
        if !self.enabled {
            return Ok(None);
        }
        let signal = id.signal();
        let columns = match signal {
            Signal::Traces => &self.traces,
            Signal::Logs => &self.logs,
            Signal::Metrics => &self.metrics,
            Signal::Profiles => &self.profiles,
        };
        order::resolve(table.metadata(), columns, &id.to_string(), signal.as_str())
    }
}

/// What compaction did to one table: the plan and, unless a dry run, what executing it did.
///
/// Its `--json` form is the plan's fields, plus `execution` when the plan was executed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactionOutcome {
    /// The plan.
    #[serde(flatten)]
    pub plan: TablePlan,
    /// The execution of the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<TableExecution>,
    /// What the pass did (or, in a dry run, would do) to the table's manifests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifests: Option<ManifestsReport>,
}

impl CompactionOutcome {
    /// Whether the pass found nothing to do on the table, now or once a partition quiets
    /// down: no candidate partition, no partition left for being active (it becomes a
    /// candidate with time alone), no group deferred by its tenant's cap (the next pass takes
    /// it, though the table will not have changed), no manifest merged or to merge, nothing
    /// committed.
    pub fn idle(&self) -> bool {
        let manifests_idle = self.manifests.as_ref().is_none_or(|m| {
            m.rewritten == 0
                && m.merge_snapshot_id.is_none()
                && m.error.is_none()
                && m.would_merge.unwrap_or(0) == 0
        });
        self.plan.candidates.is_empty()
            && self.plan.deferred_groups == 0
            && !self.plan.skipped.iter().any(|s| s.reason == plan::SkipReason::ActiveHour)
            && manifests_idle
            && self.changes() == crate::changes::Changes::default()
    }

    /// What the execution committed: files and bytes removed and added, the partitions of
    /// its committed groups, and its snapshots (the manifest merge's included); nothing for a
    /// dry run.
    pub fn changes(&self) -> crate::changes::Changes {
        let Some(e) = &self.execution else { return crate::changes::Changes::default() };
        let hours: std::collections::BTreeSet<i64> =
            e.groups.iter().filter(|g| g.committed()).map(|g| g.hour).collect();
        let snapshots: std::collections::BTreeSet<i64> = e
            .groups
            .iter()
            .filter_map(|g| match g.status {
                GroupStatus::Committed { snapshot_id } => Some(snapshot_id),
                _ => None,
            })
            .chain(self.manifests.as_ref().and_then(|m| m.merge_snapshot_id))
            .collect();
        crate::changes::Changes {
            files_removed: e.files_removed as u64,
            files_added: e.files_added as u64,
            bytes_removed: e.bytes_rewritten,
            bytes_added: e.bytes_written,
            partitions: hours.len() as u64,
            snapshots: snapshots.len() as u64,
        }
    }
}

/// The compaction job's work on one table.
#[derive(Debug, Clone)]
pub struct CompactionStep {
    settings: CompactionSettings,
    clock: Arc<dyn Clock>,
    /// Shared by every table of a pass: groups of all tables in flight rewrite at most
    /// `max_concurrent_groups` at a time, so tables worked on together share the cores.
    rewrites: Arc<RewriteSlots>,
}

impl CompactionStep {
    /// A step working with `settings`, at the time `clock` tells.
    pub fn new(settings: CompactionSettings, clock: Arc<dyn Clock>) -> Self {
        let rewrites = Arc::new(RewriteSlots::new(settings.execute.max_concurrent_groups));
        Self { settings, clock, rewrites }
    }

    /// A step working with `settings` whose rewrites share `rewrites` with every other step
    /// made with them: the process's scheduled passes and the runs an operator starts never
    /// rewrite more groups at once than the slots allow.
    pub(crate) fn sharing(
        settings: CompactionSettings,
        clock: Arc<dyn Clock>,
        rewrites: Arc<RewriteSlots>,
    ) -> Self {
        Self { settings, clock, rewrites }
    }

    /// Plans the compaction of the table in `cx`.
    pub async fn plan(&self, cx: &TableContext<'_>) -> Result<TablePlan, StepError> {
        Ok(self.survey(cx, &cx.files).await?.0)
    }

    /// The settings for the table in `cx`, its own `write.*` properties applied.
    fn table_settings(&self, cx: &TableContext<'_>) -> Result<CompactionSettings, StepError> {
        let properties = cx.table.metadata().properties();
        self.settings.for_table(properties).map_err(|e| StepError::Unfit(format!("{}: {e}", cx.id)))
    }

    /// The plan of the table in `cx`, what its manifests are (from one read of its manifest
    /// list; what the manifests list stays in `cache`) and the settings it is compacted with.
    async fn survey(
        &self,
        cx: &TableContext<'_>,
        cache: &ManifestCache,
    ) -> Result<(TablePlan, manifests::Found, CompactionSettings), StepError> {
        let table_settings = self.table_settings(cx)?;
        let list = cache.list(cx.table).await.map_err(StepError::iceberg("read manifest list"))?;
        let files = live_files_listed(cx.table, &list, cache)
            .await
            .map_err(StepError::iceberg("read manifests"))?;
        let default_spec = cx.table.metadata().default_partition_spec_id();
        let sort = self
            .settings
            .sort
            .resolve(cx.id, cx.table)
            .map_err(|e| StepError::Unfit(e.to_string()))?;
        let settings = &table_settings.plan;
        let now = self.clock.now();
        let time_field = current_time_field(cx.table.metadata());
        let grain = time_field.as_ref().ok().map(|f| f.grain);
        let output = plan::OutputSpec { spec_id: default_spec, grain };
        let small = settings.small_file_threshold_bytes;
        let plan_with =
            |ratio| plan::plan_ordered(&files, output, settings, now, sort.as_ref(), ratio);
        let measured = output_ratio::from_compacted(&files, default_spec, small);
        let mut plan = plan_with(measured.unwrap_or(OutputRatio::ASSUMED));
        if measured.is_none() {
            let rewrite = &table_settings.execute.rewrite;
            let sampled = sample::sample_plan(cx, &plan, rewrite, sort.as_ref(), cache).await;
            if let Some(ratio) = sampled {
                plan = plan_with(ratio);
            }
        }
        plan.sort = sort;
        plan.not_maintainable = time_field.err().map(|e| e.to_string());
        let found = manifests::found(cx.table, &list, table_settings.execute.merge);
        Ok((plan, found, table_settings))
    }

    /// Plans and executes the compaction of the table in `cx`, as much of it as its
    /// tenant's share of the pass in `shares` allows, then merges its small manifests when
    /// its commits left too many.
    pub async fn compact(
        &self,
        cx: &TableContext<'_>,
        shares: &TenantShares,
    ) -> Result<(TablePlan, TableExecution, ManifestsReport), StepError> {
        // One cache for the run: the scan, the commits and a manifest merge reuse what the
        // plan read, so each manifest is decoded once per run.
        let cache = cx.files.as_ref();
        let (mut plan, found, table_settings) = self.survey(cx, cache).await?;
        shares.admit(&cx.id.tenant, &mut plan);
        let settings = &table_settings.execute;
        let clock = self.clock.as_ref();
        let execution = execute::execute(cx, &plan, settings, clock, &self.rewrites, cache).await;
        let manifests = manifests::upkeep(cx, settings, clock, found, &execution, cache).await;
        Ok((plan, execution, manifests))
    }

    fn dry_run(
        &self,
        cx: &TableContext<'_>,
        plan: TablePlan,
        found: manifests::Found,
    ) -> StepOutcome<CompactionOutcome> {
        let id = cx.id;
        for c in &plan.candidates {
            info!(
                target: log_target::SERVICE,
                tenant = %id.tenant, dataset = %id.dataset, table = %id.table, hour = %c.hour_label,
                files_before = c.files_before, files_after = c.files_after, bytes = c.bytes,
                "[DRY-RUN] Compaction candidate"
            );
        }
        let manifests = ManifestsReport {
            before: found.count,
            after: found.count,
            would_merge: found.would_merge,
            ..ManifestsReport::default()
        };
        let summary = format!(
            "would compact {} of {} partitions: {} -> {} files ({} bytes){}",
            plan.candidates.len(),
            plan.partitions,
            plan.files_before,
            plan.files_after,
            plan.bytes_to_rewrite,
            manifests.summary()
        ) + &deferred(&plan)
            + &not_maintained(&plan);
        let details = CompactionOutcome { plan, execution: None, manifests: Some(manifests) };
        StepOutcome::ok(summary, details)
    }
}
/// The one-line summary of an executed plan.
fn summarize(plan: &TablePlan, execution: &TableExecution, manifests: &ManifestsReport) -> String {
    let TableExecution {
        groups_committed,
        groups_abandoned,
        groups_not_started,
        files_removed,
        files_added,
        bytes_rewritten,
        bytes_written: _,
        rows,
        delete_files_removed,
        conflicts,
        manifest_merge: _,
        manifests_after: _,
        groups: _,
    } = execution;
    let after = (plan.files_before + files_added).saturating_sub(*files_removed);
    let mut summary = format!(
        "compacted {} of {} partitions: {groups_committed} group(s) committed, \
         {groups_abandoned} abandoned; {} -> {after} files (planned {}), {bytes_rewritten} bytes \
         and {rows} rows rewritten, {conflicts} conflict(s)",
        execution
            .groups
            .iter()
            .filter(|g| g.committed())
            .map(|g| g.hour)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        plan.candidates.len(),
        plan.files_before,
        plan.files_after,
    );
    if *delete_files_removed > 0 {
        summary.push_str(&format!("; {delete_files_removed} delete file(s) applied and removed"));
    }
    if *groups_not_started > 0 {
        summary.push_str(&format!(
            "; {groups_not_started} group(s) not started (the pass was cancelled)"
        ));
    }
    summary.push_str(&manifests.summary());
    summary.push_str(&deferred(plan));
    summary.push_str(&not_maintained(plan));
    summary
}

/// `; N group(s) deferred to the next pass (tenant cap)` when the tenant's share of the pass
/// left some out, else nothing.
fn deferred(plan: &TablePlan) -> String {
    match plan.deferred_groups {
        0 => String::new(),
        n => format!("; {n} group(s) deferred to the next pass (tenant cap)"),
    }
}

/// `; not maintained: <reason>` when the table cannot be maintained, else nothing.
fn not_maintained(plan: &TablePlan) -> String {
    plan.not_maintainable.as_ref().map(|r| format!("; not maintained: {r}")).unwrap_or_default()
}

#[async_trait]
impl TableStep for CompactionStep {
    type Outcome = CompactionOutcome;
    /// What each tenant has been given so far in the pass.
    type Pass = TenantShares;

    fn kind(&self) -> JobKind {
        JobKind::Compaction
    }

    /// The table with the most small files first: the most files to rewrite.
    fn urgency(&self, state: &crate::table_state::TableState) -> i64 {
        i64::try_from(state.small_files).unwrap_or(i64::MAX)
    }

    /// Every tenant's share of the pass, none of it given yet.
    async fn begin_pass(&self, _: &SignalCatalog, _: &Scope) -> Result<TenantShares, Failure> {
        Ok(TenantShares::new(self.settings.tenant_cap))
    }

    /// Compacts the table in `cx` (plans it in a dry run), as much as its tenant's share of
    /// the pass in `shares` allows.
    async fn run_table(
        &self,
        shares: &TenantShares,
        cx: TableContext<'_>,
    ) -> Result<StepOutcome<CompactionOutcome>, StepError> {
        if cx.scope.dry_run {
            let (mut plan, found, _) = self.survey(&cx, &cx.files).await?;
            shares.admit(&cx.id.tenant, &mut plan);
            return Ok(self.dry_run(&cx, plan, found));
        }
        let (plan, execution, manifests) = self.compact(&cx, shares).await?;
        let summary = summarize(&plan, &execution, &manifests);
        let mut failures = execution.failures();
        failures.extend(manifests.error.iter().map(|e| {
            crate::failure::Failure::new(e.kind, format!("manifest merge: {}", e.message))
        }));
        let error = crate::failure::Failure::joined(failures);
        let details =
            CompactionOutcome { plan, execution: Some(execution), manifests: Some(manifests) };
        Ok(StepOutcome { summary, details, error })
    }
}
