//! The results of one benchmark run: every contender on every workload, what each pass did to
//! the table's metadata, the planning times, the ratios the targets are stated in, and whether
//! each target is met. Everything comes from the files the run wrote; nothing is carried over
//! from earlier runs.
//!
//! A results directory holds `meta.json` and, per workload:
//! - `workload.json`: the loadgen's summary (or the streaming load's) plus the shape;
//! - per contender that ran, `<contender>.measure.json` (wall time and peak RSS of the
//!   process), `<contender>.out.json` (what it printed) and, for those that change the table,
//!   `<contender>.verify.json` (rows checked, and the table's metadata afterwards);
//! - `before.stats.json` (the loaded table's metadata) and, for the streaming shape,
//!   `fresh.stats.json` (the same rows loaded in one commit);
//! - `plan-before.measure.json`, `plan-after.measure.json` and `plan-fresh.measure.json`:
//!   repeated `compactor plan` runs on the loaded table, after ours with the default
//!   settings, and on the freshly loaded table.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;

use crate::measure::Measurement;
use crate::targets::{Check, checks};

/// Our compactor with `max_concurrent_jobs = 1`.
pub const OURS_1JOB: &str = "ours-1job";
/// Our compactor with the default `max_concurrent_jobs`.
pub const OURS_DEFAULT: &str = "ours-default";
/// Contender (a): arrow-rs read-all-then-write-one-file.
pub const ARROW: &str = "arrow-baseline";
/// Contender (b): pyiceberg's per-partition overwrite.
pub const PYICEBERG: &str = "pyiceberg";
const CONTENDERS: [&str; 4] = [OURS_1JOB, OURS_DEFAULT, ARROW, PYICEBERG];

/// Bytes in a MiB.
pub const MIB: f64 = 1024.0 * 1024.0;

/// A workload as generated.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    /// `small`, `large`, `ingestion`, `streaming`.
    pub name: String,
    /// How the table was written: `loadgen` or `pyiceberg appends`.
    pub loaded_by: String,
    /// Hour partitions.
    pub hours: u64,
    /// Files per hour partition (for the streaming shape: appends into its one hour).
    pub files_per_hour: u64,
    /// Rows per file.
    pub rows_per_file: u64,
    /// Rows written.
    pub rows: u64,
    /// Data files written.
    pub files: u64,
    /// Snapshots the load committed.
    pub commits: u64,
    /// The loadgen's checksum of the rows (for the streaming shape: of its source rows).
    pub checksum: String,
    /// Position in the script's list of workloads.
    pub order: u64,
}

/// One contender on one workload.
#[derive(Debug, Clone, Serialize)]
pub struct ContenderResult {
    /// Which contender.
    pub contender: String,
    /// Which workload.
    pub workload: String,
    /// Rows compacted.
    pub rows: u64,
    /// Bytes of the input files.
    pub bytes_in: u64,
    /// Bytes of the files written (similar sizes show that the writer settings match).
    pub bytes_out: u64,
    /// Seconds the ratios use (see `time_source`).
    pub seconds: f64,
    /// What `seconds` is: the process's wall time, or the contender's own timing.
    pub time_source: String,
    /// Wall time of the whole process.
    pub process_wall_secs: f64,
    /// Rows per second.
    pub rows_per_sec: f64,
    /// Input MiB per second.
    pub mib_per_sec: f64,
    /// Peak RSS of the process, in bytes.
    pub peak_rss_bytes: u64,
    /// How the peak RSS was measured.
    pub rss_method: String,
    /// Snapshots the pass added to the table (none for contenders that commit nothing).
    pub commits: Option<u64>,
    /// Manifests in the table's current snapshot after the pass.
    pub manifests_after: Option<u64>,
    /// The most manifests any one hour partition has entries in after the pass.
    pub max_manifests_per_hour_after: Option<u64>,
}

/// The table's metadata of one workload and its planning times.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metadata {
    /// Which workload.
    pub workload: String,
    /// Hour partitions of the loaded table.
    pub partitions: u64,
    /// Manifests in the loaded table's current snapshot.
    pub manifests_before: u64,
    /// The most manifests any one hour partition had entries in, as loaded.
    pub max_manifests_per_hour_before: u64,
    /// Manifests after ours with the default settings.
    pub manifests_after: Option<u64>,
    /// The most manifests per hour partition after ours with the default settings.
    pub max_manifests_per_hour_after: Option<u64>,
    /// Manifests of the same rows loaded in one commit (streaming shape).
    pub manifests_fresh: Option<u64>,
    /// Median seconds of `compactor plan` on the loaded table.
    pub plan_secs_before: Option<f64>,
    /// Median seconds of `compactor plan` after ours with the default settings.
    pub plan_secs_after: Option<f64>,
    /// Median seconds of `compactor plan` on the same rows loaded in one commit.
    pub plan_secs_fresh: Option<f64>,
    /// How many `compactor plan` runs each median is taken over.
    pub plan_runs: usize,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// Date, machine and settings of the run, as the script recorded them.
    pub meta: Value,
    /// The workloads, in the script's order.
    pub workloads: Vec<Workload>,
    /// Every contender that ran, per workload.
    pub results: Vec<ContenderResult>,
    /// Per workload, the table's metadata and planning times.
    pub metadata: Vec<Metadata>,
    /// The targets.
    pub checks: Vec<Check>,
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// `path` parsed when it exists, `None` when it does not.
fn read_optional(path: &Path) -> anyhow::Result<Option<Value>> {
    if path.is_file() { read_json(path).map(Some) } else { Ok(None) }
}

fn read_measurement(path: &Path) -> anyhow::Result<Option<Measurement>> {
    read_optional(path)?
        .map(|v| serde_json::from_value(v).with_context(|| format!("parsing {}", path.display())))
        .transpose()
}

fn u64_at(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The largest value of a `manifests_per_hour` object (0 when empty).
fn max_per_hour(stats: &Value) -> u64 {
    stats["manifests_per_hour"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_u64)
        .max()
        .unwrap_or(0)
}

/// Reads a run's results directory.
pub fn collect(dir: &Path) -> anyhow::Result<Document> {
    let meta = read_json(&dir.join("meta.json")).unwrap_or(Value::Null);
    let mut workloads = Vec::new();
    let mut results = Vec::new();
    let mut metadata = Vec::new();
    let entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("workload.json").is_file())
        .collect();
    for wdir in entries {
        let name = wdir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let w = read_json(&wdir.join("workload.json"))?;
        workloads.push(Workload {
            name: name.clone(),
            loaded_by: w["loaded_by"].as_str().unwrap_or("loadgen").into(),
            hours: u64_at(&w, "hours"),
            files_per_hour: u64_at(&w, "files_per_hour"),
            rows_per_file: u64_at(&w, "rows_per_file"),
            rows: u64_at(&w, "total_rows"),
            files: u64_at(&w, "total_files"),
            commits: u64_at(&w, "total_snapshots"),
            checksum: w.get("checksum").and_then(Value::as_str).unwrap_or_default().into(),
            order: u64_at(&w, "order"),
        });
        let before = read_optional(&wdir.join("before.stats.json"))?;
        for contender in CONTENDERS {
            let Some(m) = read_measurement(&wdir.join(format!("{contender}.measure.json")))? else {
                continue;
            };
            let out = read_json(&wdir.join(format!("{contender}.out.json")))?;
            let after = read_optional(&wdir.join(format!("{contender}.verify.json")))?;
            let mut r = contender_result(contender, &name, &m, &out)?;
            if let Some(after) = &after {
                r.commits = before
                    .as_ref()
                    .map(|b| u64_at(after, "snapshots").saturating_sub(u64_at(b, "snapshots")));
                r.manifests_after = Some(u64_at(after, "manifests"));
                r.max_manifests_per_hour_after = Some(max_per_hour(after));
            }
            results.push(r);
        }
        metadata.push(collect_metadata(&wdir, &name, before.as_ref(), &results)?);
    }
    workloads.sort_by_key(|w| (w.order, w.name.clone()));
    let position = |name: &str| workloads.iter().position(|w| w.name == name);
    results.sort_by_key(|r| position(&r.workload));
    metadata.sort_by_key(|m| position(&m.workload));
    let checks = checks(&workloads, &results, &metadata);
    Ok(Document { meta, workloads, results, metadata, checks })
}

fn collect_metadata(
    wdir: &Path,
    name: &str,
    before: Option<&Value>,
    results: &[ContenderResult],
) -> anyhow::Result<Metadata> {
    let fresh = read_optional(&wdir.join("fresh.stats.json"))?;
    let ours = find(results, OURS_DEFAULT, name);
    let plan = |phase: &str| read_measurement(&wdir.join(format!("plan-{phase}.measure.json")));
    let (plan_before, plan_after, plan_fresh) = (plan("before")?, plan("after")?, plan("fresh")?);
    let plan_runs = [&plan_before, &plan_after, &plan_fresh]
        .into_iter()
        .flatten()
        .map(|m| m.runs_wall_secs.len().max(1))
        .max()
        .unwrap_or(0);
    let secs = |m: Option<Measurement>| m.map(|m| m.wall_secs);
    Ok(Metadata {
        workload: name.into(),
        partitions: before.map_or(0, |b| u64_at(b, "partitions")),
        manifests_before: before.map_or(0, |b| u64_at(b, "manifests")),
        max_manifests_per_hour_before: before.map_or(0, max_per_hour),
        manifests_after: ours.and_then(|o| o.manifests_after),
        max_manifests_per_hour_after: ours.and_then(|o| o.max_manifests_per_hour_after),
        manifests_fresh: fresh.map(|f| u64_at(&f, "manifests")),
        plan_secs_before: secs(plan_before),
        plan_secs_after: secs(plan_after),
        plan_secs_fresh: secs(plan_fresh),
        plan_runs,
    })
}

fn contender_result(
    contender: &str,
    workload: &str,
    m: &Measurement,
    out: &Value,
) -> anyhow::Result<ContenderResult> {
    let (rows, bytes_in, bytes_out, seconds, time_source) = match contender {
        OURS_1JOB | OURS_DEFAULT => {
            let (mut rows, mut bytes, mut written) = (0, 0, 0);
            for table in out["reports"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["tables"].as_array().into_iter().flatten().collect::<Vec<_>>())
            {
                let Some(exec) = table["details"].get("execution") else {
                    bail!(
                        "{contender} on {workload}: the compactor did not execute the plan ({})",
                        table["summary"]
                    );
                };
                rows += u64_at(exec, "rows");
                bytes += u64_at(exec, "bytes_rewritten");
                written += u64_at(exec, "bytes_written");
            }
            (rows, bytes, written, m.wall_secs, "process wall time")
        }
        ARROW => (
            u64_at(out, "rows_read"),
            u64_at(out, "bytes_in"),
            u64_at(out, "bytes_out"),
            m.wall_secs,
            "process wall time",
        ),
        _ => {
            let secs = out.get("seconds").and_then(Value::as_f64).unwrap_or(m.wall_secs);
            let (rows, bytes_in, bytes_out) =
                (u64_at(out, "rows"), u64_at(out, "bytes_in"), u64_at(out, "bytes_out"));
            (rows, bytes_in, bytes_out, secs, "overwrite loop (no startup)")
        }
    };
    let per_sec = |x: f64| if seconds > 0.0 { x / seconds } else { 0.0 };
    Ok(ContenderResult {
        contender: contender.into(),
        workload: workload.into(),
        rows,
        bytes_in,
        bytes_out,
        seconds,
        time_source: time_source.into(),
        process_wall_secs: m.wall_secs,
        rows_per_sec: per_sec(rows as f64),
        mib_per_sec: per_sec(bytes_in as f64 / MIB),
        peak_rss_bytes: m.peak_rss_bytes,
        rss_method: m.rss_method.clone(),
        commits: None,
        manifests_after: None,
        max_manifests_per_hour_after: None,
    })
}

/// The result of contender `c` on workload `w`, if it ran.
pub fn find<'a>(results: &'a [ContenderResult], c: &str, w: &str) -> Option<&'a ContenderResult> {
    results.iter().find(|r| r.contender == c && r.workload == w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, v: &Value) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec(v).unwrap()).unwrap();
    }

    fn measurement(wall_secs: f64, runs: &[f64]) -> Value {
        serde_json::json!({"command": ["x"], "wall_secs": wall_secs, "peak_rss_bytes": 1 << 20,
                           "rss_method": "gnu-time", "exit_code": 0, "runs_wall_secs": runs})
    }

    #[test]
    fn collects_commits_manifests_and_plan_times_of_a_workload() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("streaming");
        write(
            &w.join("workload.json"),
            &serde_json::json!({"loaded_by": "pyiceberg appends", "hours": 1,
                "files_per_hour": 3, "rows_per_file": 10, "total_rows": 30, "total_files": 3,
                "total_snapshots": 3, "order": 3}),
        );
        write(
            &w.join("before.stats.json"),
            &serde_json::json!({"snapshots": 3, "manifests": 3, "partitions": 1,
                                "manifests_per_hour": {"473000": 3}}),
        );
        write(&w.join("fresh.stats.json"), &serde_json::json!({"manifests": 1}));
        write(&w.join("ours-default.measure.json"), &measurement(2.0, &[]));
        write(
            &w.join("ours-default.out.json"),
            &serde_json::json!({"reports": [{"tables": [{"details": {"execution":
                {"rows": 30, "bytes_rewritten": 300, "bytes_written": 200}}}]}]}),
        );
        write(
            &w.join("ours-default.verify.json"),
            &serde_json::json!({"snapshots": 4, "manifests": 2,
                                "manifests_per_hour": {"473000": 2}}),
        );
        write(&w.join("plan-after.measure.json"), &measurement(0.2, &[0.3, 0.2, 0.1]));
        write(&w.join("plan-fresh.measure.json"), &measurement(0.1, &[0.1, 0.1, 0.1]));

        let doc = collect(dir.path()).unwrap();
        let r = find(&doc.results, OURS_DEFAULT, "streaming").unwrap();
        assert_eq!((r.rows, r.commits, r.manifests_after), (30, Some(1), Some(2)));
        let m = &doc.metadata[0];
        assert_eq!(
            (m.manifests_before, m.manifests_after, m.manifests_fresh),
            (3, Some(2), Some(1))
        );
        assert_eq!((m.plan_secs_after, m.plan_secs_fresh, m.plan_runs), (Some(0.2), Some(0.1), 3));
        assert_eq!(m.plan_secs_before, None);
        assert_eq!(doc.workloads[0].commits, 3);
    }
}
