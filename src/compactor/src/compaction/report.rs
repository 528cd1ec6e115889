//! The human form of a compaction plan: one table per Iceberg table, a row per candidate
//! partition, and the reasons other partitions were skipped.

use std::fmt::Write;

use crate::compaction::TablePlan;
use crate::job::JobReport;

/// Renders the plans held in a compaction pass's report.
pub fn render_plans(report: &JobReport) -> String {
    let mut out = String::new();
    let (mut before, mut after, mut bytes, mut candidates) = (0, 0, 0, 0);
    for t in &report.tables {
        let name = format!("{}.{}.{}", t.tenant, t.dataset, t.table);
        let plan = match (&t.error, serde_json::from_value::<TablePlan>(t.details.clone())) {
            (Some(e), _) => {
                let _ = writeln!(out, "{name}: FAILED: {e}\n");
                continue;
            }
            (None, Ok(plan)) => plan,
            (None, Err(_)) => {
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
        if !plan.candidates.is_empty() {
            let _ = writeln!(
                out,
                "  {:<13} {:>7} {:>7} {:>7} {:>14} {:>12}",
                "hour", "files", "after", "groups", "bytes", "rows"
            );
            for c in &plan.candidates {
                let _ = writeln!(
                    out,
                    "  {:<13} {:>7} {:>7} {:>7} {:>14} {:>12}",
                    c.hour_label,
                    c.files_before,
                    c.files_after,
                    c.groups.len(),
                    c.bytes,
                    c.rows
                );
            }
        }
        for (reason, count) in plan.skipped_by_reason() {
            let reason = serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let _ = writeln!(out, "  skipped {count} partition(s): {reason}");
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
