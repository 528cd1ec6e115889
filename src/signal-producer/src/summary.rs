//! What a run wrote: per-table counts, totals and a checksum of the generated values, printed
//! as a table for people or as one JSON object for scripts.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use common::tables::{Layout, TableId};
use serde_json::{Value, json};

use crate::checksum::Fnv64;

/// The digest of one generated file's rows, keyed by where the file sits in the run.
#[derive(Debug, Clone, Copy)]
struct FileDigest {
    hour: i64,
    file_index: u32,
    digest: u64,
}

/// What was written to one table.
#[derive(Debug, Clone)]
pub struct TableReport {
    /// The table.
    pub id: TableId,
    /// Parquet data files committed.
    pub files: u64,
    /// Rows committed.
    pub rows: u64,
    /// Snapshots (fast appends) committed.
    pub snapshots: u64,
    hours: BTreeSet<i64>,
    digests: Vec<FileDigest>,
}

impl TableReport {
    /// An empty report for `id`.
    pub fn new(id: TableId) -> Self {
        Self { id, files: 0, rows: 0, snapshots: 0, hours: BTreeSet::new(), digests: Vec::new() }
    }

    /// Records one committed fast append of generated files.
    pub fn record_commit(&mut self, hour: i64, files: &[(u32, u64)], data_files: u64, rows: u64) {
        self.snapshots += 1;
        self.files += data_files;
        self.rows += rows;
        self.hours.insert(hour);
        self.digests.extend(files.iter().map(|&(file_index, digest)| FileDigest {
            hour,
            file_index,
            digest,
        }));
    }

    /// Distinct hour partitions written.
    pub fn hours(&self) -> usize {
        self.hours.len()
    }

    /// This table's checksum: the run checksum restricted to its files.
    pub fn checksum(&self) -> u64 {
        checksum(std::slice::from_ref(self))
    }
}

/// The checksum of the rows written to `tables`.
///
/// Files are ordered hour first, then by the table's position in `tables`, then by file index;
/// for each, the hour, table name, file index and the file's row digest
/// ([`crate::checksum::batch_digest`]) are fed to FNV-1a. The result depends only on generated
/// values, never on timing or the order in which concurrent writers finished.
pub fn checksum(tables: &[TableReport]) -> u64 {
    let mut files: Vec<(i64, usize, u32, u64)> = tables
        .iter()
        .enumerate()
        .flat_map(|(pos, t)| t.digests.iter().map(move |d| (d.hour, pos, d.file_index, d.digest)))
        .collect();
    files.sort_unstable();
    let names: Vec<String> = tables.iter().map(|t| t.id.to_string()).collect();
    let mut h = Fnv64::default();
    for (hour, pos, file_index, digest) in files {
        h.write_i64(hour);
        h.write_str(&names[pos]);
        h.write_u64(u64::from(file_index));
        h.write_u64(digest);
    }
    h.finish()
}

/// The outcome of a whole run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The layout the tables were written in.
    pub layout: Layout,
    /// One entry per table, in the order of the command line.
    pub tables: Vec<TableReport>,
    /// Wall-clock time of the run.
    pub duration: Duration,
    /// Whether a signal stopped the back-dated phase before it was complete.
    pub interrupted: bool,
}

impl Report {
    /// Data files over all tables.
    pub fn total_files(&self) -> u64 {
        self.tables.iter().map(|t| t.files).sum()
    }

    /// Rows over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// Snapshots over all tables.
    pub fn total_snapshots(&self) -> u64 {
        self.tables.iter().map(|t| t.snapshots).sum()
    }

    /// The checksum over all tables, as 16 hex digits.
    pub fn checksum_hex(&self) -> String {
        format!("{:016x}", checksum(&self.tables))
    }

    /// The machine-readable summary.
    pub fn to_json(&self) -> Value {
        let tables: Vec<Value> = self
            .tables
            .iter()
            .map(|t| {
                json!({
                    "tenant": t.id.tenant,
                    "dataset": t.id.dataset,
                    // `signal` predates the SignalDB layout, whose table names are not
                    // signal names: it holds the table name, as `table` does.
                    "signal": t.id.table,
                    "table": t.id.table,
                    "files": t.files,
                    "rows": t.rows,
                    "hours": t.hours(),
                    "snapshots": t.snapshots,
                    "checksum": format!("{:016x}", t.checksum()),
                })
            })
            .collect();
        json!({
            "layout": self.layout,
            "tables": tables,
            "total_files": self.total_files(),
            "total_rows": self.total_rows(),
            "total_snapshots": self.total_snapshots(),
            "checksum": self.checksum_hex(),
            "duration_ms": u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX),
            "interrupted": self.interrupted,
        })
    }

    /// The human-readable summary, one line per table and a total.
    pub fn render(&self) -> String {
        let width = self.tables.iter().map(|t| t.id.to_string().len()).max().unwrap_or(0).max(5);
        let mut out = String::new();
        let line = |out: &mut String, name: &str, hours: &str, files, rows, snaps| {
            let _ = writeln!(out, "{name:<width$}  {hours:>5}  {files:>8}  {rows:>12}  {snaps:>9}");
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:>5}  {:>8}  {:>12}  {:>9}",
            "TABLE", "HOURS", "FILES", "ROWS", "SNAPSHOTS"
        );
        for t in &self.tables {
            line(&mut out, &t.id.to_string(), &t.hours().to_string(), t.files, t.rows, t.snapshots);
        }
        line(&mut out, "TOTAL", "", self.total_files(), self.total_rows(), self.total_snapshots());
        let _ = writeln!(
            out,
            "checksum {}  duration {:.1}s{}",
            self.checksum_hex(),
            self.duration.as_secs_f64(),
            if self.interrupted { "  (interrupted)" } else { "" }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use common::TableKind;

    use super::*;

    fn report(id: TableId, commits: &[(i64, &[(u32, u64)])]) -> TableReport {
        let mut t = TableReport::new(id);
        for (hour, files) in commits {
            t.record_commit(*hour, files, files.len() as u64, 10 * files.len() as u64);
        }
        t
    }

    #[test]
    fn checksum_ignores_commit_order_but_not_content() {
        let id = TableId::new("acme", "prod", TableKind::Logs).unwrap();
        let a = report(id.clone(), &[(1, &[(0, 11), (1, 12)]), (2, &[(0, 21)])]);
        let b = report(id.clone(), &[(2, &[(0, 21)]), (1, &[(1, 12), (0, 11)])]);
        let c = report(id, &[(1, &[(0, 11), (1, 12)]), (2, &[(0, 22)])]);
        assert_eq!(a.checksum(), b.checksum());
        assert_ne!(a.checksum(), c.checksum());
        assert_eq!((a.files, a.rows, a.hours(), a.snapshots), (3, 30, 2, 2));
    }

    #[test]
    fn json_has_the_documented_fields() {
        let id = TableId::new("acme", "prod", TableKind::Traces).unwrap();
        let gauge = TableId::new("acme", "prod", TableKind::MetricsGauge).unwrap();
        let r = Report {
            layout: Layout::Signaldb,
            tables: vec![report(id, &[(5, &[(0, 1)])]), report(gauge, &[(5, &[(0, 2)])])],
            duration: Duration::from_millis(1500),
            interrupted: false,
        };
        let v = r.to_json();
        assert_eq!(v["tables"][0]["tenant"], "acme");
        assert_eq!(v["tables"][0]["signal"], "traces");
        assert_eq!(v["tables"][0]["table"], "traces");
        assert_eq!(v["tables"][1]["signal"], "metrics_gauge");
        assert_eq!(v["tables"][1]["table"], "metrics_gauge");
        assert_eq!(v["tables"][0]["hours"], 1);
        assert_eq!(v["layout"], "signaldb");
        assert_eq!(v["total_files"], 2);
        assert_eq!(v["total_rows"], 20);
        assert_eq!(v["checksum"].as_str().unwrap().len(), 16);
        let text = r.render();
        assert!(text.contains("acme.prod.traces") && text.contains("acme.prod.metrics_gauge"));
    }
}
