//! The results of one benchmark run: every contender on every workload, the ratios the targets
//! are stated in, and whether each target is met. Everything comes from the files the run
//! wrote; nothing is carried over from earlier runs.
//!
//! A results directory holds `meta.json` and, per workload, `<workload>/workload.json` (the
//! loadgen's summary plus the workload's shape) and, per contender that ran,
//! `<workload>/<contender>.measure.json` (wall time and peak RSS of the process) and
//! `<workload>/<contender>.out.json` (what the contender printed).

use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Serialize;
use serde_json::Value;

use crate::measure::Measurement;

/// Our compactor (`compactor compact --json`).
pub const OURS: &str = "ours";
/// Contender (a): arrow-rs read-all-then-write-one-file.
pub const ARROW: &str = "arrow-baseline";
/// Contender (b): pyiceberg's per-partition overwrite.
pub const PYICEBERG: &str = "pyiceberg";
const CONTENDERS: [&str; 3] = [OURS, ARROW, PYICEBERG];

/// Ours may take at most this many times the arrow-rs floor's time.
pub const MAX_OURS_OVER_ARROW: f64 = 1.2;
/// pyiceberg must take at least this many times our time.
pub const MIN_PYICEBERG_OVER_OURS: f64 = 10.0;
/// Our peak RSS on the large workload may be at most this many times that on the small one
/// (the partitions are several times larger: RSS that followed them would grow as much).
pub const MAX_RSS_GROWTH: f64 = 1.25;

const MIB: f64 = 1024.0 * 1024.0;

/// A workload as generated.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    /// `small`, `large`, …
    pub name: String,
    /// Hour partitions.
    pub hours: u64,
    /// Files per hour partition.
    pub files_per_hour: u64,
    /// Rows per file.
    pub rows_per_file: u64,
    /// Rows written by the loadgen.
    pub rows: u64,
    /// Files written by the loadgen.
    pub files: u64,
    /// The loadgen's checksum of the rows.
    pub checksum: String,
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
}

/// A target and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is compared.
    pub name: String,
    /// The workload, or `all`.
    pub workload: String,
    /// The measured ratio.
    pub value: f64,
    /// The target, as text.
    pub target: String,
    /// `PASS` or `MISS`.
    pub verdict: &'static str,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// Date, machine and settings of the run, as the script recorded them.
    pub meta: Value,
    /// The workloads, smallest first.
    pub workloads: Vec<Workload>,
    /// Every contender that ran, per workload.
    pub results: Vec<ContenderResult>,
    /// The targets.
    pub checks: Vec<Check>,
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn u64_at(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Reads a run's results directory.
pub fn collect(dir: &Path) -> anyhow::Result<Document> {
    let meta = read_json(&dir.join("meta.json")).unwrap_or(Value::Null);
    let mut workloads = Vec::new();
    let mut results = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("workload.json").is_file())
        .collect();
    entries.sort();
    for wdir in entries {
        let name = wdir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let w = read_json(&wdir.join("workload.json"))?;
        workloads.push(Workload {
            name: name.clone(),
            hours: u64_at(&w, "hours"),
            files_per_hour: u64_at(&w, "files_per_hour"),
            rows_per_file: u64_at(&w, "rows_per_file"),
            rows: u64_at(&w, "total_rows"),
            files: u64_at(&w, "total_files"),
            checksum: w.get("checksum").and_then(Value::as_str).unwrap_or_default().into(),
        });
        for contender in CONTENDERS {
            let measure = wdir.join(format!("{contender}.measure.json"));
            if !measure.is_file() {
                continue;
            }
            let m: Measurement = serde_json::from_value(read_json(&measure)?)
                .with_context(|| format!("parsing {}", measure.display()))?;
            let out = read_json(&wdir.join(format!("{contender}.out.json")))?;
            results.push(contender_result(contender, &name, &m, &out)?);
        }
    }
    workloads.sort_by_key(|w| w.rows);
    let checks = checks(&workloads, &results);
    Ok(Document { meta, workloads, results, checks })
}

fn contender_result(
    contender: &str,
    workload: &str,
    m: &Measurement,
    out: &Value,
) -> anyhow::Result<ContenderResult> {
    let (rows, bytes_in, bytes_out, seconds, time_source) = match contender {
        OURS => {
            let (mut rows, mut bytes, mut written) = (0, 0, 0);
            for table in out["reports"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["tables"].as_array().into_iter().flatten().collect::<Vec<_>>())
            {
                let Some(exec) = table["details"].get("execution") else {
                    bail!(
                        "ours on {workload}: the compactor did not execute the plan ({})",
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
    })
}

fn find<'a>(results: &'a [ContenderResult], c: &str, w: &str) -> Option<&'a ContenderResult> {
    results.iter().find(|r| r.contender == c && r.workload == w)
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

/// The targets, for every workload (and pair of workloads) where the contenders ran.
pub fn checks(workloads: &[Workload], results: &[ContenderResult]) -> Vec<Check> {
    let mut out = Vec::new();
    for w in workloads {
        let ours = find(results, OURS, &w.name);
        if let (Some(o), Some(a)) = (ours, find(results, ARROW, &w.name)) {
            let value = o.seconds / a.seconds;
            out.push(Check {
                name: "time ours / arrow-baseline".into(),
                workload: w.name.clone(),
                value,
                target: format!("<= {MAX_OURS_OVER_ARROW}"),
                verdict: verdict(value <= MAX_OURS_OVER_ARROW),
            });
        }
        if let (Some(o), Some(p)) = (ours, find(results, PYICEBERG, &w.name)) {
            let value = p.seconds / o.seconds;
            out.push(Check {
                name: "time pyiceberg / ours".into(),
                workload: w.name.clone(),
                value,
                target: format!(">= {MIN_PYICEBERG_OVER_OURS}"),
                verdict: verdict(value >= MIN_PYICEBERG_OVER_OURS),
            });
        }
    }
    if let (Some(small), Some(large)) = (workloads.first(), workloads.last())
        && small.name != large.name
        && let (Some(s), Some(l)) =
            (find(results, OURS, &small.name), find(results, OURS, &large.name))
        && s.peak_rss_bytes > 0
    {
        let value = l.peak_rss_bytes as f64 / s.peak_rss_bytes as f64;
        out.push(Check {
            name: format!(
                "peak RSS ours {} / {} (partitions {:.1}x larger)",
                large.name,
                small.name,
                partition_rows(large) as f64 / partition_rows(small).max(1) as f64
            ),
            workload: "all".into(),
            value,
            target: format!("<= {MAX_RSS_GROWTH}"),
            verdict: verdict(value <= MAX_RSS_GROWTH),
        });
    }
    out
}

fn partition_rows(w: &Workload) -> u64 {
    w.files_per_hour * w.rows_per_file
}

/// The human table.
pub fn render(doc: &Document) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "workloads:");
    for w in &doc.workloads {
        let _ = writeln!(
            s,
            "  {:<6} {} hour partitions x {} files x {} rows = {} rows in {} files (checksum {})",
            w.name, w.hours, w.files_per_hour, w.rows_per_file, w.rows, w.files, w.checksum
        );
    }
    let _ = writeln!(
        s,
        "\n{:<15} {:<8} {:>10} {:>8} {:>8} {:>8} {:>10} {:>7} {:>13}",
        "contender",
        "workload",
        "rows",
        "MiB in",
        "MiB out",
        "seconds",
        "rows/s",
        "MiB/s",
        "peak RSS MiB"
    );
    for w in &doc.workloads {
        for r in doc.results.iter().filter(|r| r.workload == w.name) {
            let _ = writeln!(
                s,
                "{:<15} {:<8} {:>10} {:>8.1} {:>8.1} {:>8.2} {:>10.0} {:>7.1} {:>13.1}",
                r.contender,
                r.workload,
                r.rows,
                r.bytes_in as f64 / MIB,
                r.bytes_out as f64 / MIB,
                r.seconds,
                r.rows_per_sec,
                r.mib_per_sec,
                r.peak_rss_bytes as f64 / MIB
            );
        }
    }
    let _ = writeln!(s, "\ntargets:");
    if doc.checks.is_empty() {
        let _ = writeln!(s, "  none could be checked: ours did not run");
    }
    for c in &doc.checks {
        let _ = writeln!(
            s,
            "  {:<4} {:<58} {:<6} {:>7.2} (target {})",
            c.verdict, c.name, c.workload, c.value, c.target
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(c: &str, w: &str, seconds: f64, rss: u64) -> ContenderResult {
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
        }
    }

    fn workload(name: &str, files_per_hour: u64) -> Workload {
        Workload {
            name: name.into(),
            hours: 4,
            files_per_hour,
            rows_per_file: 10,
            rows: 4 * files_per_hour * 10,
            files: 4 * files_per_hour,
            checksum: String::new(),
        }
    }

    #[test]
    fn checks_compute_ratios_from_the_measurements_and_say_pass_or_miss() {
        let ws = [workload("small", 10), workload("large", 40)];
        let rs = [
            result(OURS, "small", 1.0, 100 << 20),
            result(ARROW, "small", 1.0, 50 << 20),
            result(PYICEBERG, "small", 20.0, 300 << 20),
            result(OURS, "large", 3.0, 110 << 20),
            result(ARROW, "large", 2.0, 200 << 20),
            result(PYICEBERG, "large", 20.0, 900 << 20),
        ];
        let cs = checks(&ws, &rs);
        let got: Vec<_> = cs.iter().map(|c| (c.workload.as_str(), c.verdict)).collect();
        assert_eq!(
            got,
            [
                ("small", "PASS"),
                ("small", "PASS"),
                ("large", "MISS"),
                ("large", "MISS"),
                ("all", "PASS")
            ]
        );
        assert!((cs[2].value - 1.5).abs() < 1e-9);
        assert!(cs[4].name.contains("4.0x"), "{}", cs[4].name);
    }

    #[test]
    fn without_ours_nothing_is_checked() {
        let ws = [workload("small", 10)];
        let rs = [result(ARROW, "small", 1.0, 1), result(PYICEBERG, "small", 9.0, 1)];
        assert!(checks(&ws, &rs).is_empty());
    }
}
