//! The text form of a run's results: the workloads, one line per contender and workload, the
//! table metadata and planning times per workload, and the targets.

use std::fmt::Write;

use crate::report::{Document, MIB, OURS_DEFAULT};

/// `Some(x)` as text, `None` as `-`.
fn opt<T: ToString>(x: Option<T>) -> String {
    x.map_or_else(|| "-".into(), |x| x.to_string())
}

/// Seconds with three decimals, `-` when not measured.
fn secs(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{x:.3}"))
}

/// The human table.
pub fn render(doc: &Document) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "workloads:");
    for w in &doc.workloads {
        let per_hour = if w.loaded_by == "loadgen" { "files" } else { "appends" };
        let _ = writeln!(
            s,
            "  {:<9} {} hour partitions x {} {per_hour} x {} rows = {} rows in {} files, \
             {} commits by {} (checksum {})",
            w.name,
            w.hours,
            w.files_per_hour,
            w.rows_per_file,
            w.rows,
            w.files,
            w.commits,
            w.loaded_by,
            w.checksum
        );
    }
    let _ = writeln!(
        s,
        "\n{:<15} {:<9} {:>8} {:>7} {:>7} {:>8} {:>8} {:>6} {:>12} {:>7} {:>9}",
        "contender",
        "workload",
        "rows",
        "MiB in",
        "MiB out",
        "seconds",
        "rows/s",
        "MiB/s",
        "peak RSS MiB",
        "commits",
        "manifests"
    );
    for r in &doc.results {
        let _ = writeln!(
            s,
            "{:<15} {:<9} {:>8} {:>7.1} {:>7.1} {:>8.2} {:>8.0} {:>6.1} {:>12.1} {:>7} {:>9}",
            r.contender,
            r.workload,
            r.rows,
            r.bytes_in as f64 / MIB,
            r.bytes_out as f64 / MIB,
            r.seconds,
            r.rows_per_sec,
            r.mib_per_sec,
            r.peak_rss_bytes as f64 / MIB,
            opt(r.commits),
            opt(r.manifests_after)
        );
    }
    let runs = doc.metadata.iter().map(|m| m.plan_runs).max().unwrap_or(0);
    let _ = writeln!(
        s,
        "\nmanifests in the current snapshot (max per hour partition) and `compactor plan` \
         seconds (median of {runs} runs):\n  as loaded, after {OURS_DEFAULT}, and for the same \
         rows loaded in one commit (fresh)"
    );
    let _ = writeln!(
        s,
        "{:<9} {:>10} {:>16} {:>16} {:>9} {:>12} {:>11} {:>11}",
        "workload",
        "partitions",
        "manifests before",
        "manifests after",
        "fresh",
        "plan before",
        "plan after",
        "plan fresh"
    );
    for m in &doc.metadata {
        let before = format!("{} ({})", m.manifests_before, m.max_manifests_per_hour_before);
        let after = match (m.manifests_after, m.max_manifests_per_hour_after) {
            (Some(a), Some(h)) => format!("{a} ({h})"),
            (a, _) => opt(a),
        };
        let _ = writeln!(
            s,
            "{:<9} {:>10} {:>16} {:>16} {:>9} {:>12} {:>11} {:>11}",
            m.workload,
            m.partitions,
            before,
            after,
            opt(m.manifests_fresh),
            secs(m.plan_secs_before),
            secs(m.plan_secs_after),
            secs(m.plan_secs_fresh)
        );
    }
    let _ = writeln!(s, "\ntargets:");
    if doc.checks.is_empty() {
        let _ = writeln!(s, "  none could be checked: ours did not run");
    }
    for c in &doc.checks {
        let _ = writeln!(
            s,
            "  {:<4} {:<58} {:<9} {:>7.2} (target {})",
            c.verdict, c.name, c.workload, c.value, c.target
        );
    }
    s
}
