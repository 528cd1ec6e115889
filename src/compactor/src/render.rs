//! The human forms of pass reports that say more than [`JobReport::render_text`]: the
//! compaction plan (`compactor plan`) and the retention report (`compactor retention`).
//!
//! Both read the typed outcomes of the report's tables.

use std::fmt::Write;

use crate::compaction::output_ratio::{OutputRatio, RatioSource};
use crate::compaction::{OrderSource, OutputOrder};
use crate::report::{JobReport, TableOutcome};

/// How a plan's output is ordered: `sorted by trace_id, timestamp (table sort order 1)`.
fn sort_line(order: Option<&OutputOrder>) -> String {
    let Some(order) = order else { return "unsorted".to_string() };
    let source = match (order.source, order.sort_order_id) {
        (OrderSource::Table, Some(id)) => format!("table sort order {id}"),
        (OrderSource::Table, None) => "table sort order".to_string(),
        (OrderSource::Config, Some(id)) => format!("compactor.sort, table sort order {id}"),
        (OrderSource::Config, None) => "compactor.sort, not a table sort order".to_string(),
    };
    let mut line = format!("sorted by {} ({source})", order.describe());
    if let Some(reason) = &order.table_order_ignored {
        line.push_str(&format!("; the table's sort order is not used: {reason}"));
    }
    line
}

/// What groups are sized for: `0.72x the input bytes (measured on a sample of the inputs)`.
fn ratio_line(ratio: OutputRatio) -> String {
    let source = match ratio.source {
        RatioSource::Assumed => "assumed",
        RatioSource::CompactedFiles => "measured on the table's recent compacted files",
        RatioSource::Sample => "measured on a sample of the inputs",
    };
    format!("{:.2}x the input bytes ({source})", ratio.ratio)
}

/// Renders the plans held in a compaction pass's report.
pub fn plans(report: &JobReport) -> String {
    let mut out = String::new();
    let (mut before, mut after, mut bytes, mut candidates) = (0, 0, 0, 0);
    for t in &report.tables {
        let name = format!("{}.{}.{}", t.tenant, t.dataset, t.table);
        let plan = match (&t.error, t.details.as_ref().and_then(TableOutcome::compaction)) {
            (Some(e), _) => {
                let _ = writeln!(out, "{name}: FAILED: {e}\n");
                continue;
            }
            (None, Some(outcome)) => &outcome.plan,
            (None, None) => {
                let _ = writeln!(out, "{name}: {}\n", t.summary);
                continue;
            }
        };
        let _ = writeln!(
            out,
            "{name}: {} of {} partitions are candidates, {} -> {} files (-{}), {} bytes to rewrite",
            plan.candidates.len(),
            plan.partitions,
            plan.files_before,
            plan.files_after,
            plan.file_reduction(),
            plan.bytes_to_rewrite
        );
        let _ = writeln!(out, "  output: {}", sort_line(plan.sort.as_ref()));
        if !plan.candidates.is_empty() {
            let _ = writeln!(out, "  sized for: {}", ratio_line(plan.output_ratio));
        }
        if let Some(reason) = &plan.not_maintainable {
            let _ = writeln!(out, "  not maintained: {reason}");
        }
        if plan.delete_files > 0 {
            let _ = writeln!(
                out,
                "  delete files: {} live, {} applied by this pass's rewrites",
                plan.delete_files, plan.delete_files_to_apply
            );
        }
        if !plan.candidates.is_empty() {
            let _ = writeln!(
                out,
                "  {:<13} {:>7} {:>7} {:>7} {:>14} {:>12}  method",
                "hour", "files", "after", "groups", "bytes", "rows"
            );
            for c in &plan.candidates {
                let mut moved = match c.other_spec_files {
                    0 => String::new(),
                    n => format!(" ({n} file(s) of an older spec into spec {})", c.spec_id),
                };
                if c.delete_files > 0 {
                    let _ = write!(
                        moved,
                        " ({} delete file(s), {} rows, applied)",
                        c.delete_files, c.delete_rows
                    );
                }
                let _ = writeln!(
                    out,
                    "  {:<13} {:>7} {:>7} {:>7} {:>14} {:>12}  {}{moved}",
                    c.hour_label,
                    c.files_before,
                    c.files_after,
                    c.groups.len(),
                    c.bytes,
                    c.rows,
                    c.method.as_str()
                );
            }
        }
        for (reason, count) in plan.skipped_by_reason() {
            let _ = writeln!(out, "  skipped {count} partition(s): {}", reason.as_str());
        }
        if plan.deferred_groups > 0 {
            let _ = writeln!(
                out,
                "  deferred {} group(s) ({} bytes) to the next pass: tenant_cap",
                plan.deferred_groups, plan.deferred_bytes
            );
        }
        out.push('\n');
        before += plan.files_before;
        after += plan.files_after;
        bytes += plan.bytes_to_rewrite;
        candidates += plan.candidates.len();
    }
    let _ = writeln!(
        out,
        "total: {} table(s), {candidates} candidate partition(s), {before} -> {after} files (-{}), {bytes} bytes to rewrite, {} failure(s); nothing was changed",
        report.tables.len(),
        before - after.min(before),
        report.failures()
    );
    for e in &report.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

/// The text report of a retention pass: the job's header line, then per table its summary line
/// and the policy, cutoff (configured timezone and UTC), partitions, rows and bytes removed and
/// snapshots expired.
pub fn retention(report: &JobReport) -> String {
    let text = report.render_text();
    let mut out = text.lines().next().map(|l| format!("{l}\n")).unwrap_or_default();
    for t in &report.tables {
        let _ = writeln!(out, "  {}.{}.{}: {}", t.tenant, t.dataset, t.table, t.summary);
        if let Some(details) = t.details.as_ref().and_then(TableOutcome::retention) {
            details.render_lines(&mut out);
        }
        if let (Some(e), false) = (&t.error, t.summary.starts_with("failed")) {
            let _ = writeln!(out, "      error: {e}");
        }
    }
    for e in &report.errors {
        let _ = writeln!(out, "  error: {e}");
    }
    out
}
