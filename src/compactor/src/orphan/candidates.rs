//! Candidate selection: a listed file is an orphan candidate when the reference set does not
//! reach it and it was last modified before the grace cutoff (`now − grace_period_hours`).
//!
//! A listed file whose location cannot be normalised, or that is not inside the table's
//! location, is never a candidate: it is counted as unrecognised and kept.

use chrono::{DateTime, Utc};
use object_store::ObjectMeta;
use object_store::path::Path;
use serde::Serialize;

use super::paths::NormalPath;
use super::reference::ReferenceSet;
use crate::log_target;

/// A file that no snapshot reaches and that is older than the grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Object path in the warehouse's store (the order candidates are processed in).
    pub path: Path,
    /// Normalised location, as compared with the reference set.
    pub location: NormalPath,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time.
    pub last_modified: DateTime<Utc>,
}

/// What the listing held, by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ScanCounts {
    /// Files listed.
    pub scanned: u64,
    /// Listed files the reference set reaches.
    pub referenced: u64,
    /// Unreferenced files younger than the grace period (kept).
    pub skipped_by_grace: u64,
    /// Listed files whose location could not be recognised (kept).
    pub unrecognised: u64,
    /// Orphan candidates.
    pub orphans: u64,
    /// Bytes of the orphan candidates.
    pub orphan_bytes: u64,
}

/// Sorts listed files into candidates and counts.
#[derive(Debug)]
pub(crate) struct Selector<'a> {
    refs: &'a ReferenceSet,
    table_location: &'a NormalPath,
    cutoff: DateTime<Utc>,
    counts: ScanCounts,
    candidates: Vec<Candidate>,
}

impl<'a> Selector<'a> {
    /// A selector for files of the table at `table_location`, with grace cutoff `cutoff`.
    pub(crate) fn new(
        refs: &'a ReferenceSet,
        table_location: &'a NormalPath,
        cutoff: DateTime<Utc>,
    ) -> Self {
        Self { refs, table_location, cutoff, counts: ScanCounts::default(), candidates: Vec::new() }
    }

    /// Considers one listed file, whose location URI is `location`.
    pub(crate) fn offer(&mut self, meta: ObjectMeta, location: &str) {
        self.counts.scanned += 1;
        let normal = match NormalPath::parse(location) {
            Ok(n) if n.is_within(self.table_location) && n != *self.table_location => n,
            _ => {
                self.counts.unrecognised += 1;
                tracing::warn!(
                    target: log_target::ORPHAN,
                    location,
                    "Keeping a listed file whose location cannot be recognised"
                );
                return;
            }
        };
        if self.refs.contains(&normal) {
            self.counts.referenced += 1;
        } else if meta.last_modified >= self.cutoff {
            self.counts.skipped_by_grace += 1;
        } else {
            self.counts.orphans += 1;
            self.counts.orphan_bytes += meta.size;
            self.candidates.push(Candidate {
                path: meta.location,
                location: normal,
                size: meta.size,
                last_modified: meta.last_modified,
            });
        }
    }

    /// The counts and the candidates, sorted by object path.
    pub(crate) fn finish(self) -> (ScanCounts, Vec<Candidate>) {
        let mut candidates = self.candidates;
        candidates.sort_by(|a, b| a.path.cmp(&b.path));
        (self.counts, candidates)
    }
}

/// How long ago `then` was, as the dry-run log shows it: `5days`, or `7hours` under a day.
pub(crate) fn age_label(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let age = now - then;
    if age.num_days() >= 1 {
        format!("{}days", age.num_days())
    } else {
        format!("{}hours", age.num_hours().max(0))
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use common::clock::{Clock, ManualClock};

    use super::*;

    fn meta(path: &str, size: u64, modified: DateTime<Utc>) -> ObjectMeta {
        ObjectMeta {
            location: Path::from(path),
            last_modified: modified,
            size,
            e_tag: None,
            version: None,
        }
    }

    #[test]
    fn only_unreferenced_files_older_than_the_grace_cutoff_are_candidates() {
        let t0 = "2026-01-15T12:00:00Z".parse().unwrap();
        let clock = ManualClock::new(t0);
        let table = NormalPath::parse("file:///w/acme/prod/traces").unwrap();
        let mut refs = ReferenceSet::new(table.clone());
        refs.add("file:///w/acme/prod/traces/data/live.parquet");
        let grace = Duration::hours(24);
        let cutoff = clock.now() - grace;
        let mut sel = Selector::new(&refs, &table, cutoff);
        let old = t0 - Duration::days(5);
        for (path, modified) in [
            ("w/acme/prod/traces/data/z-orphan.parquet", old),
            ("w/acme/prod/traces/data/live.parquet", old),
            ("w/acme/prod/traces/data/young.parquet", t0 - Duration::hours(23)),
            ("w/acme/prod/traces/data/at-cutoff.parquet", cutoff),
            ("w/acme/prod/traces/data/a-orphan.parquet", cutoff - Duration::seconds(1)),
        ] {
            sel.offer(meta(path, 10, modified), &format!("file:///{path}"));
        }
        sel.offer(meta("w/acme/prod/traces_old/x", 1, old), "file:///w/acme/prod/traces_old/x");
        sel.offer(meta("w/acme/prod/traces/a%25b", 1, old), "file:///w/acme/prod/traces/a%25b");
        let (counts, candidates) = sel.finish();
        let names: Vec<_> = candidates.iter().map(|c| c.path.filename().unwrap()).collect();
        assert_eq!(names, ["a-orphan.parquet", "z-orphan.parquet"]);
        assert_eq!(
            counts,
            ScanCounts {
                scanned: 7,
                referenced: 1,
                skipped_by_grace: 2,
                unrecognised: 2,
                orphans: 2,
                orphan_bytes: 20
            }
        );

        // The young file turns into a candidate the moment it is older than the grace period.
        let young = "w/acme/prod/traces/data/young.parquet";
        let orphans_at = |now: DateTime<Utc>| {
            let mut sel = Selector::new(&refs, &table, now - grace);
            sel.offer(meta(young, 1, t0 - Duration::hours(23)), &format!("file:///{young}"));
            sel.finish().0.orphans
        };
        clock.advance(Duration::hours(1));
        assert_eq!(orphans_at(clock.now()), 0);
        clock.advance(Duration::seconds(1));
        assert_eq!(orphans_at(clock.now()), 1);
    }

    #[test]
    fn ages_read_in_days_then_hours() {
        let now: DateTime<Utc> = "2026-01-15T12:00:00Z".parse().unwrap();
        assert_eq!(age_label(now, now - Duration::days(5) - Duration::hours(3)), "5days");
        assert_eq!(age_label(now, now - Duration::hours(7)), "7hours");
    }
}
