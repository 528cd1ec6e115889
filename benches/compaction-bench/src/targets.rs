//! The benchmark's targets (docs/benchmarks.md), checked on the measurements of one run.
//!
//! A target is a ratio or a count with a bound; its verdict is `PASS` or `MISS`. A check is
//! made only where everything it compares ran in this run.

use serde::Serialize;

use crate::report::{
    ARROW, ContenderResult, Metadata, OURS_1JOB, OURS_DEFAULT, PYICEBERG, Workload, find,
};

/// Ours with one job may take at most this many times the floor's time (small and large).
pub const MAX_OURS_OVER_ARROW: f64 = 1.2;
/// Ingestion shape: ours with one job may take at most this many times the floor's time.
pub const MAX_INGESTION_1JOB_OVER_ARROW: f64 = 1.15;
/// Ingestion shape: ours with the default jobs may take at most this many times the
/// single-threaded floor's time.
pub const MAX_INGESTION_DEFAULT_OVER_ARROW: f64 = 0.65;
/// Ours (default settings) must take less time than pyiceberg: time ours / pyiceberg below this.
pub const MAX_OURS_OVER_PYICEBERG_TIME: f64 = 1.0;
/// Ours (default settings) may use at most this fraction of pyiceberg's peak RSS.
pub const MAX_OURS_OVER_PYICEBERG_RSS: f64 = 1.0 / 8.0;
/// Commits per table that one pass of ours with the default settings makes.
pub const COMMITS_PER_TABLE: u64 = 1;
/// Streaming shape: manifests after one pass at most this many per hour partition, plus one.
pub const MAX_MANIFESTS_PER_PARTITION: u64 = 2;
/// Streaming shape: `compactor plan` after the pass may take at most this many times its time
/// on a freshly loaded table with the same live files.
pub const MAX_PLAN_AFTER_OVER_FRESH: f64 = 1.2;
/// Our peak RSS (one job) on the large workload may be at most this many times that on the
/// small one (the partitions are several times larger: RSS that followed them would grow as
/// much).
pub const MAX_RSS_GROWTH: f64 = 1.25;

/// A target and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is compared.
    pub name: String,
    /// The workload, or `all`.
    pub workload: String,
    /// The measured ratio or count.
    pub value: f64,
    /// The target, as text.
    pub target: String,
    /// `PASS` or `MISS`.
    pub verdict: &'static str,
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

fn at_most(name: String, workload: &str, value: f64, max: f64) -> Check {
    Check {
        name,
        workload: workload.into(),
        value,
        target: format!("<= {}", trim(max)),
        verdict: verdict(value <= max),
    }
}

fn below(name: String, workload: &str, value: f64, max: f64) -> Check {
    Check {
        name,
        workload: workload.into(),
        value,
        target: format!("< {}", trim(max)),
        verdict: verdict(value < max),
    }
}

/// `x` with at most three decimals and no trailing zeros.
fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Which contenders a workload compares with the floor, and the bound of each.
fn floor_targets(workload: &str) -> &'static [(&'static str, f64)] {
    match workload {
        "ingestion" => &[
            (OURS_1JOB, MAX_INGESTION_1JOB_OVER_ARROW),
            (OURS_DEFAULT, MAX_INGESTION_DEFAULT_OVER_ARROW),
        ],
        "streaming" => &[],
        _ => &[(OURS_1JOB, MAX_OURS_OVER_ARROW)],
    }
}

/// The targets, for every workload (and pair of workloads) where the contenders ran.
pub fn checks(
    workloads: &[Workload],
    results: &[ContenderResult],
    metadata: &[Metadata],
) -> Vec<Check> {
    let mut out = Vec::new();
    for w in workloads {
        let name = w.name.as_str();
        if let Some(a) = find(results, ARROW, name) {
            for &(contender, max) in floor_targets(name) {
                if let Some(o) = find(results, contender, name) {
                    let label = format!("time {contender} / {ARROW}");
                    out.push(at_most(label, name, o.seconds / a.seconds, max));
                }
            }
        }
        let ours = find(results, OURS_DEFAULT, name);
        if let Some(commits) = ours.and_then(|o| o.commits) {
            let value = commits as f64;
            out.push(Check {
                name: format!("commits per table, {OURS_DEFAULT}"),
                workload: name.into(),
                value,
                target: format!("== {COMMITS_PER_TABLE}"),
                verdict: verdict(commits == COMMITS_PER_TABLE),
            });
        }
        if let (Some(o), Some(p)) = (ours, find(results, PYICEBERG, name)) {
            let label = format!("time {OURS_DEFAULT} / {PYICEBERG}");
            out.push(below(label, name, o.seconds / p.seconds, MAX_OURS_OVER_PYICEBERG_TIME));
            if p.peak_rss_bytes > 0 {
                let value = o.peak_rss_bytes as f64 / p.peak_rss_bytes as f64;
                let label = format!("peak RSS {OURS_DEFAULT} / {PYICEBERG}");
                out.push(at_most(label, name, value, MAX_OURS_OVER_PYICEBERG_RSS));
            }
        }
        if name == "streaming"
            && let Some(m) = metadata.iter().find(|m| m.workload == name)
        {
            if let Some(after) = m.manifests_after {
                let max = MAX_MANIFESTS_PER_PARTITION * m.partitions + 1;
                let label =
                    format!("manifests after {OURS_DEFAULT} (partitions: {})", m.partitions);
                out.push(at_most(label, name, after as f64, max as f64));
            }
            if let (Some(after), Some(fresh)) = (m.plan_secs_after, m.plan_secs_fresh)
                && fresh > 0.0
            {
                let label = "time plan after pass / freshly loaded".to_string();
                out.push(at_most(label, name, after / fresh, MAX_PLAN_AFTER_OVER_FRESH));
            }
        }
    }
    let named = |n: &str| workloads.iter().find(|w| w.name == n);
    if let (Some(small), Some(large)) = (named("small"), named("large"))
        && let (Some(s), Some(l)) =
            (find(results, OURS_1JOB, &small.name), find(results, OURS_1JOB, &large.name))
        && s.peak_rss_bytes > 0
    {
        let value = l.peak_rss_bytes as f64 / s.peak_rss_bytes as f64;
        let label = format!(
            "peak RSS {OURS_1JOB} large / small (partitions {:.1}x larger)",
            partition_rows(large) as f64 / partition_rows(small).max(1) as f64
        );
        out.push(at_most(label, "all", value, MAX_RSS_GROWTH));
    }
    out
}

fn partition_rows(w: &Workload) -> u64 {
    w.files_per_hour * w.rows_per_file
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(c: &str, w: &str, seconds: f64, rss: u64, commits: u64) -> ContenderResult {
        ContenderResult {
            contender: c.into(),
            workload: w.into(),
            rows: 100,
            bytes_in: 1 << 20,
            bytes_out: 1 << 20,
            seconds,
            time_source: String::new(),
            process_wall_secs: seconds,
            rows_per_sec: 100.0 / seconds,
            mib_per_sec: 1.0 / seconds,
            peak_rss_bytes: rss,
            rss_method: "gnu-time".into(),
            commits: (c != ARROW).then_some(commits),
            manifests_after: None,
            max_manifests_per_hour_after: None,
        }
    }

    fn workload(name: &str, files_per_hour: u64) -> Workload {
        Workload {
            name: name.into(),
            loaded_by: "loadgen".into(),
            hours: 4,
            files_per_hour,
            rows_per_file: 10,
            rows: 4 * files_per_hour * 10,
            files: 4 * files_per_hour,
            commits: 4,
            checksum: String::new(),
            order: 0,
        }
    }

    fn verdicts(cs: &[Check]) -> Vec<(&str, &str, &'static str)> {
        cs.iter().map(|c| (c.name.as_str(), c.workload.as_str(), c.verdict)).collect()
    }

    #[test]
    fn small_and_large_compare_one_job_with_the_floor_and_default_settings_with_pyiceberg() {
        let ws = [workload("small", 10), workload("large", 40)];
        let rs = [
            result(OURS_1JOB, "small", 1.0, 100 << 20, 1),
            result(OURS_DEFAULT, "small", 0.8, 30 << 20, 1),
            result(ARROW, "small", 1.0, 50 << 20, 0),
            result(PYICEBERG, "small", 20.0, 300 << 20, 8),
            result(OURS_1JOB, "large", 3.0, 110 << 20, 1),
            result(OURS_DEFAULT, "large", 2.5, 120 << 20, 2),
            result(ARROW, "large", 2.0, 200 << 20, 0),
            result(PYICEBERG, "large", 2.0, 900 << 20, 8),
        ];
        let cs = checks(&ws, &rs, &[]);
        assert_eq!(
            verdicts(&cs),
            [
                ("time ours-1job / arrow-baseline", "small", "PASS"),
                ("commits per table, ours-default", "small", "PASS"),
                ("time ours-default / pyiceberg", "small", "PASS"),
                ("peak RSS ours-default / pyiceberg", "small", "PASS"),
                ("time ours-1job / arrow-baseline", "large", "MISS"),
                ("commits per table, ours-default", "large", "MISS"),
                ("time ours-default / pyiceberg", "large", "MISS"),
                ("peak RSS ours-default / pyiceberg", "large", "MISS"),
                ("peak RSS ours-1job large / small (partitions 4.0x larger)", "all", "PASS"),
            ]
        );
        assert!((cs[4].value - 1.5).abs() < 1e-9);
        assert_eq!(cs[0].target, "<= 1.2");
        assert_eq!(cs[3].target, "<= 0.125");
    }

    #[test]
    fn ingestion_has_its_own_floor_targets_and_streaming_its_manifest_and_plan_targets() {
        let ws = [workload("ingestion", 20), workload("streaming", 300)];
        let rs = [
            result(OURS_1JOB, "ingestion", 1.1, 100, 1),
            result(OURS_DEFAULT, "ingestion", 0.7, 100, 1),
            result(ARROW, "ingestion", 1.0, 100, 0),
            result(ARROW, "streaming", 1.0, 100, 0),
        ];
        let md = [Metadata {
            workload: "streaming".into(),
            partitions: 1,
            manifests_after: Some(3),
            plan_secs_after: Some(0.13),
            plan_secs_fresh: Some(0.1),
            ..Metadata::default()
        }];
        let cs = checks(&ws, &rs, &md);
        assert_eq!(
            verdicts(&cs),
            [
                ("time ours-1job / arrow-baseline", "ingestion", "PASS"),
                ("time ours-default / arrow-baseline", "ingestion", "MISS"),
                ("commits per table, ours-default", "ingestion", "PASS"),
                ("manifests after ours-default (partitions: 1)", "streaming", "PASS"),
                ("time plan after pass / freshly loaded", "streaming", "MISS"),
            ]
        );
        assert_eq!(cs[3].target, "<= 3");
    }

    #[test]
    fn without_ours_nothing_is_checked() {
        let ws = [workload("small", 10)];
        let rs = [result(ARROW, "small", 1.0, 1, 0), result(PYICEBERG, "small", 9.0, 1, 2)];
        assert!(checks(&ws, &rs, &[]).is_empty());
    }
}
