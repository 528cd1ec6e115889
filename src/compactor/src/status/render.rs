//! The human form of a [`StatusReport`] (`compactor status` without `--json`).

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::report::StatusReport;
use super::score::{Deduction, HEALTHY_SCORE};
use crate::job::JobKind;
use crate::state::{RunOutcome, RunRecord};

/// The human form of `report`: one row per table, then each table's lease, warnings and the
/// health deductions other than warnings (each warning is listed once, with its message).
pub fn render(report: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:>7} {:>6} {:>9} {:>5} {:>5} {:<13} {:>10} {:<9} {:<9} {:<9} {:>6}",
        "TABLE",
        "FILES",
        "SMALL",
        "AVG/TGT",
        "MANIF",
        "SNAPS",
        "OLDEST",
        "PAST-RET",
        "COMPACT",
        "RETAIN",
        "ORPHANS",
        "HEALTH"
    );
    for t in &report.tables {
        let name = format!("{}.{}.{}", t.tenant, t.dataset, t.table);
        let s = t.state.clone().unwrap_or_default();
        let ratio = if t.target_file_size_bytes > 0 {
            s.average_file_bytes() as f64 / t.target_file_size_bytes as f64
        } else {
            0.0
        };
        let job = |kind: JobKind| {
            let j = t.jobs.iter().find(|j| j.job == kind);
            match j.and_then(|j| j.last_run.as_ref()) {
                _ if j.is_some_and(|j| !j.enabled) => "off".to_string(),
                None => "-".to_string(),
                Some(run) => format!("{} {}", short(run.outcome), age(report.generated_at, run)),
            }
        };
        let health = if t.health.healthy { "ok" } else { "BAD" };
        let _ = writeln!(
            out,
            "{name:<28} {:>7} {:>6} {:>9.2} {:>5} {:>5} {:<13} {:>10} {:<9} {:<9} {:<9} {:>3} {health}",
            s.data_files,
            s.small_files,
            ratio,
            s.manifests,
            s.snapshots,
            t.retention.oldest_hour.as_deref().unwrap_or("-"),
            t.retention.bytes_past_retention,
            job(JobKind::Compaction),
            job(JobKind::Retention),
            job(JobKind::OrphanCleanup),
            t.health.score,
        );
        if let Some(l) = &t.lease {
            let from = l.taken_from.as_ref().map(|f| format!(", taken over from {f}"));
            let until = l.expires_at.format("%H:%M:%S");
            let from = from.unwrap_or_default();
            let _ = writeln!(out, "  lease {} held by {} until {until}Z{from}", l.job, l.owner);
        }
        for w in &t.warnings {
            let _ = writeln!(out, "  warning {}: {}", w.check, w.message);
        }
        for r in t.health.reasons.iter().filter(|r| !matches!(r.deduction, Deduction::Warning)) {
            let _ = writeln!(out, "  health {r}");
        }
    }
    for o in &report.not_maintained {
        let name = format!("{}.{}.{}", o.tenant, o.dataset, o.table);
        let _ = writeln!(out, "not maintained {name}: {}", o.reason);
    }
    for w in &report.config_warnings {
        let _ = writeln!(out, "config warning {}: {}", w.check, w.message);
    }
    for e in &report.errors {
        let _ = writeln!(out, "error: {e}");
    }
    let _ = writeln!(
        out,
        "{} table(s), {} unhealthy (health below {HEALTHY_SCORE})",
        report.tables.len(),
        report.unhealthy()
    );
    out
}

/// The job column's word for `outcome`.
fn short(outcome: RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Success => "ok",
        RunOutcome::Failure => "FAIL",
        RunOutcome::DryRun => "dry",
    }
}

/// How long ago `run` finished, coarsely (`42s`, `17m`, `5h`, `3d`).
fn age(now: DateTime<Utc>, run: &RunRecord) -> String {
    coarse_age(now, run.finished_at)
}

/// How long before `now` `at` was, coarsely (`42s`, `17m`, `5h`, `3d`).
pub(crate) fn coarse_age(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use common::TableKind;

    use super::*;
    use crate::status::report::{RetentionStatus, TableStatus};
    use crate::status::score::{Health, Reason};
    use crate::warnings::{SNAPSHOTS_UNBOUNDED, Warning};

    #[test]
    fn a_warning_is_listed_once_and_every_other_deduction_as_a_health_line() {
        let now = Utc::now();
        let reason =
            |deduction, points, detail: &str| Reason { deduction, points, detail: detail.into() };
        let table = TableStatus {
            tenant: "acme".into(),
            dataset: "prod".into(),
            table: TableKind::Logs,
            state: None,
            target_file_size_bytes: 0,
            retention: RetentionStatus {
                enabled: true,
                dry_run: false,
                days: 3,
                cutoff: now,
                oldest_hour: None,
                files_past_retention: 0,
                bytes_past_retention: 0,
            },
            jobs: Vec::new(),
            warnings: vec![Warning { check: SNAPSHOTS_UNBOUNDED, message: "they grow".into() }],
            health: Health {
                score: 55,
                healthy: false,
                reasons: vec![
                    reason(Deduction::Snapshots, 10, "11 snapshots (more than 10)"),
                    reason(Deduction::Warning, 20, "warning snapshots_unbounded"),
                    // A reason whose text merely mentions a warning is still printed.
                    reason(Deduction::FailedPass, 15, "the last retention pass failed: warning x"),
                ],
            },
            lease: None,
            error: None,
        };
        let report = StatusReport {
            generated_at: now,
            config_warnings: Vec::new(),
            tables: vec![table],
            not_maintained: Vec::new(),
            errors: Vec::new(),
        };
        let text = render(&report);
        let lines: Vec<_> = text.lines().filter(|l| l.starts_with("  ")).collect();
        assert_eq!(
            lines,
            [
                "  warning snapshots_unbounded: they grow",
                "  health -10: 11 snapshots (more than 10)",
                "  health -15: the last retention pass failed: warning x",
            ],
            "{text}"
        );
        assert!(text.ends_with("1 table(s), 1 unhealthy (health below 70)\n"), "{text}");
    }
}
