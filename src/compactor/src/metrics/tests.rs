use common::TableKind;
use common::tables::TableId;
use prometheus_parse::{LineInfo, Scrape, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::job::JobKind;

/// Every family the spec and the service requirements name, with its type and label names,
/// written out independently of the code under test.
const EXPECTED: &[(&str, &str, &[&str])] = &[
    ("compactor_compaction_runs_total", "counter", &["tenant", "dataset", "signal"]),
    ("compactor_files_compacted_total", "counter", &["tenant", "dataset", "signal"]),
    ("compactor_bytes_compacted_total", "counter", &["tenant", "dataset", "signal"]),
    ("compactor_compaction_duration_seconds", "histogram", &["tenant", "dataset", "signal"]),
    ("compactor_retention_cutoffs_computed", "counter", &["tenant", "dataset", "signal"]),
    ("compactor_partitions_evaluated_total", "counter", &["tenant", "dataset", "signal"]),
    ("compactor_partitions_dropped_total", "counter", &["tenant", "dataset", "signal"]),
    ("compactor_snapshots_expired_total", "counter", &["tenant", "dataset", "table"]),
    ("compactor_retention_enforcement_duration_seconds", "histogram", &["tenant", "dataset"]),
    ("compactor_orphan_cleanup_runs_total", "counter", &["tenant", "dataset", "table"]),
    ("compactor_files_scanned_total", "counter", &["tenant", "dataset", "table"]),
    ("compactor_orphans_identified_total", "counter", &["tenant", "dataset", "table"]),
    ("compactor_files_deleted_total", "counter", &["tenant", "dataset", "table"]),
    ("compactor_deletion_failures_total", "counter", &["tenant", "dataset", "table"]),
    ("compactor_bytes_freed_total", "counter", &["tenant", "dataset", "table"]),
    ("compactor_orphan_cleanup_duration_seconds", "histogram", &["tenant", "dataset", "table"]),
    ("compactor_scheduler_cycles_total", "counter", &["task", "outcome"]),
    ("compactor_table_data_files", "gauge", &["tenant", "dataset", "table"]),
    ("compactor_table_data_bytes", "gauge", &["tenant", "dataset", "table"]),
    ("compactor_table_snapshots", "gauge", &["tenant", "dataset", "table"]),
    ("compactor_table_manifests", "gauge", &["tenant", "dataset", "table"]),
    ("compactor_table_small_files", "gauge", &["tenant", "dataset", "table"]),
    ("compactor_table_delete_files", "gauge", &["tenant", "dataset", "table"]),
    (
        "compactor_table_oldest_partition_timestamp_seconds",
        "gauge",
        &["tenant", "dataset", "table"],
    ),
    ("compactor_table_metadata_bytes", "gauge", &["tenant", "dataset", "table"]),
    // Named by the service requirements without an exact spelling.
    ("compactor_compaction_conflicts_total", "counter", &["tenant", "dataset", "signal"]),
    ("compactor_compaction_groups_abandoned_total", "counter", &["tenant", "dataset", "signal"]),
    ("compactor_manifests_rewritten_total", "counter", &["tenant", "dataset", "signal"]),
    ("compactor_scheduler_skipped_ticks_total", "counter", &["task"]),
    ("compactor_scheduler_cycle_duration_seconds", "histogram", &["task"]),
    ("compactor_scheduler_last_success_timestamp_seconds", "gauge", &["task"]),
    ("compactor_table_failures_total", "counter", &["tenant", "dataset", "table", "task", "kind"]),
    ("compactor_warnings", "gauge", &["check", "tenant", "dataset", "table"]),
    ("compactor_ready", "gauge", &["component"]),
    ("compactor_leases_held", "gauge", &["task"]),
    ("compactor_leases_acquired_total", "counter", &["task"]),
    ("compactor_leases_taken_over_total", "counter", &["task"]),
    ("compactor_leases_lost_total", "counter", &["task"]),
    ("compactor_leases_skipped_total", "counter", &["task"]),
    ("compactor_instance_info", "gauge", &["instance_id"]),
    ("compactor_storage_requests_total", "counter", &["operation"]),
    ("compactor_storage_request_bytes_total", "counter", &["direction"]),
    ("compactor_storage_retries_total", "counter", &["operation"]),
    ("compactor_catalog_errors_total", "counter", &["kind"]),
];

fn table(tenant: &str, signal: TableKind) -> TableId {
    TableId::new(tenant, "prod", signal).unwrap()
}

fn touched() -> Metrics {
    let m = Metrics::new();
    m.touch_table(&table("acme", TableKind::Traces));
    for job in JobKind::ALL {
        m.touch_job(job);
    }
    m.leases.set_instance("node-1-0badcafe");
    m
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// Checks every line strictly, since the parser crate silently skips lines it cannot read:
/// each is a HELP, a TYPE or a sample of a declared family whose value is a number. Returns
/// each declared family's type.
fn validate_exposition(text: &str) -> BTreeMap<String, String> {
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&ty), "{line}");
            assert!(types.insert(name.to_string(), ty.to_string()).is_none(), "dup: {line}");
            continue;
        }
        match LineInfo::parse(line) {
            LineInfo::Doc { doc, .. } => assert!(!doc.is_empty(), "{line}"),
            LineInfo::Sample { metric_name, value, labels, .. } => {
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .filter_map(|s| metric_name.strip_suffix(s))
                    .find(|base| types.get(*base).is_some_and(|t| t == "histogram"))
                    .unwrap_or(metric_name);
                assert!(types.contains_key(family), "sample before its TYPE: {line}");
                assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
                for pair in labels.unwrap_or_default().split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap();
                    assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
                    assert!(v.starts_with('"') && v.ends_with('"') && v.len() >= 2, "{line}");
                }
            }
            other => panic!("unexpected line {line:?}: {other:?}"),
        }
    }
    types
}

fn label_names(scrape: &Scrape, family: &str) -> BTreeSet<BTreeSet<String>> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == family)
        .map(|s| s.labels.keys().cloned().collect())
        .collect()
}

fn counter_value(scrape: &Scrape, family: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == family && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no {family} sample with {labels:?}"));
    match sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        ref other => panic!("{family} is not a scalar: {other:?}"),
    }
}

#[test]
fn spec_families_are_the_exactly_named_ones() {
    let expected: Vec<&str> = EXPECTED.iter().take(20).map(|(n, _, _)| *n).collect();
    assert_eq!(SPEC_FAMILIES, expected.as_slice());
}

#[test]
fn touched_output_is_valid_and_holds_every_family_with_its_labels() {
    let m = touched();
    let text = m.encode();
    let types = validate_exposition(&text);
    let scrape = parse(&text);

    for (name, ty, labels) in EXPECTED {
        assert_eq!(types.get(*name).map(String::as_str), Some(*ty), "TYPE of {name}");
        assert!(scrape.docs.get(*name).is_some_and(|d| d.len() > 10), "HELP of {name}");
        let want: BTreeSet<String> = labels.iter().map(|l| l.to_string()).collect();
        let got = label_names(&scrape, name);
        assert_eq!(got, BTreeSet::from([want]), "labels of {name}");
    }
    // Nothing registered that the contract does not list.
    let listed: BTreeSet<&str> = EXPECTED.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(types.keys().map(String::as_str).collect::<BTreeSet<_>>(), listed);
}

#[test]
fn no_label_collides_with_the_target_labels_prometheus_attaches() {
    // Prometheus renames a scraped `job` or `instance` label to `exported_job` or
    // `exported_instance`, so queries grouping by ours would group by the scrape target's.
    let scrape = parse(&touched().encode());
    for sample in &scrape.samples {
        for target_label in ["job", "instance"] {
            assert!(sample.labels.get(target_label).is_none(), "{}: {target_label}", sample.metric);
        }
    }
}

#[test]
fn per_table_labels_carry_the_signal_as_signal_and_table() {
    let text = touched().encode();
    assert!(text.contains(
        r#"compactor_compaction_runs_total{dataset="prod",signal="traces",tenant="acme"} 0"#
    ));
    assert!(
        text.contains(
            r#"compactor_bytes_freed_total{dataset="prod",table="traces",tenant="acme"} 0"#
        )
    );
    for job in ["compaction", "retention", "orphan_cleanup"] {
        assert!(text.contains(&format!(
            r#"compactor_table_failures_total{{dataset="prod",kind="storage",table="traces",task="{job}",tenant="acme"}} 0"#
        )));
        for outcome in ["success", "failure"] {
            assert!(text.contains(&format!(
                r#"compactor_scheduler_cycles_total{{outcome="{outcome}",task="{job}"}} 0"#
            )));
        }
    }
}

#[test]
fn untouched_registry_exposes_nothing() {
    assert_eq!(Metrics::new().encode(), "");
}

#[test]
fn histograms_expose_buckets_sum_and_count() {
    let m = touched();
    let t = table("acme", TableKind::Traces);
    m.compaction.duration.with_label_values(&table_labels(&t)).observe(42.0);
    m.retention.duration.with_label_values(&["acme", "prod"]).observe(0.3);
    let text = m.encode();
    validate_exposition(&text);
    for (name, ..) in EXPECTED.iter().filter(|(_, ty, _)| *ty == "histogram") {
        for suffix in ["_sum", "_count"] {
            assert!(text.contains(&format!("{name}{suffix}{{")), "{name}{suffix}");
        }
        assert!(text.contains(&format!("{name}_bucket{{")), "{name}_bucket");
        assert!(text.contains(&format!(r#"{name}_bucket{{"#)) && text.contains(r#"le="+Inf""#));
    }
    assert!(text.contains(
        r#"compactor_compaction_duration_seconds_bucket{dataset="prod",signal="traces",tenant="acme",le="60"} 1"#
    ));
    assert!(text.contains(
        r#"compactor_compaction_duration_seconds_bucket{dataset="prod",signal="traces",tenant="acme",le="30"} 0"#
    ));
    assert!(text.contains(
        r#"compactor_compaction_duration_seconds_sum{dataset="prod",signal="traces",tenant="acme"} 42"#
    ));
    let scrape = parse(&text);
    let hist = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "compactor_retention_enforcement_duration_seconds"
                && s.labels.get("tenant") == Some("acme")
        })
        .unwrap();
    let Value::Histogram(buckets) = &hist.value else { panic!("{:?}", hist.value) };
    assert_eq!(buckets.len(), DURATION_BUCKETS.len() + 1);
    assert_eq!(buckets.last().unwrap().count, 1.0);
    assert!(DURATION_BUCKETS.last().unwrap() >= &14400.0, "buckets reach hours");
}

#[test]
fn counters_and_gauges_move() {
    let m = touched();
    let t = table("acme", TableKind::Traces);
    let labels = table_labels(&t);
    m.orphan.bytes_freed.with_label_values(&labels).inc_by(1024);
    m.orphan.bytes_freed.with_label_values(&labels).inc_by(1);
    m.retention.cutoffs_computed.with_label_values(&labels).inc();
    m.tables.record_failure(&t, JobKind::Retention, crate::failure::FailureKind::Catalog);
    m.scheduler.record_skipped_tick(JobKind::Compaction);
    m.scheduler.record_skipped_tick(JobKind::Compaction);
    m.tables.set_stats(&t, 12, 3_000_000, 4);
    let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    m.scheduler.record_cycle_at(JobKind::OrphanCleanup, true, Duration::from_secs(2), at);
    m.scheduler.record_cycle_at(
        JobKind::OrphanCleanup,
        false,
        Duration::from_secs(1),
        at + Duration::from_secs(60),
    );
    m.scheduler.record_cycle(JobKind::Retention, false, Duration::from_millis(5));

    let scrape = parse(&m.encode());
    let tbl = [("tenant", "acme"), ("dataset", "prod"), ("table", "traces")];
    let sig = [("tenant", "acme"), ("dataset", "prod"), ("signal", "traces")];
    assert_eq!(counter_value(&scrape, "compactor_bytes_freed_total", &tbl), 1025.0);
    assert_eq!(counter_value(&scrape, "compactor_retention_cutoffs_computed", &sig), 1.0);
    assert_eq!(counter_value(&scrape, "compactor_files_deleted_total", &tbl), 0.0);
    let failure = |job| [tbl[0], tbl[1], tbl[2], ("task", job), ("kind", "catalog")];
    assert_eq!(
        counter_value(&scrape, "compactor_table_failures_total", &failure("retention")),
        1.0
    );
    assert_eq!(
        counter_value(&scrape, "compactor_table_failures_total", &failure("compaction")),
        0.0
    );
    let task = |j| [("task", j)];
    assert_eq!(
        counter_value(&scrape, "compactor_scheduler_skipped_ticks_total", &task("compaction")),
        2.0
    );
    assert_eq!(counter_value(&scrape, "compactor_table_data_files", &tbl), 12.0);
    assert_eq!(counter_value(&scrape, "compactor_table_data_bytes", &tbl), 3_000_000.0);
    assert_eq!(counter_value(&scrape, "compactor_table_snapshots", &tbl), 4.0);

    let cycles = |j, o| [("task", j), ("outcome", o)];
    let c = |j, o| counter_value(&scrape, "compactor_scheduler_cycles_total", &cycles(j, o));
    assert_eq!(c("orphan_cleanup", "success"), 1.0);
    assert_eq!(c("orphan_cleanup", "failure"), 1.0);
    assert_eq!(c("retention", "failure"), 1.0);
    assert_eq!(c("retention", "success"), 0.0);
    let last =
        |j| counter_value(&scrape, "compactor_scheduler_last_success_timestamp_seconds", &task(j));
    assert_eq!(last("orphan_cleanup"), 1_700_000_000.0, "a failure does not move it");
    assert_eq!(last("retention"), 0.0, "never succeeded");
    let text = m.encode();
    assert!(
        text.contains(
            r#"compactor_scheduler_cycle_duration_seconds_count{task="orphan_cleanup"} 2"#
        )
    );
    assert!(
        text.contains(r#"compactor_scheduler_cycle_duration_seconds_sum{task="orphan_cleanup"} 3"#)
    );
}

#[test]
fn tables_are_separate_series_and_touch_is_idempotent() {
    let m = touched();
    let logs = table("globex", TableKind::Logs);
    m.touch_table(&logs);
    m.touch_table(&logs);
    m.orphan.files_deleted.with_label_values(&table_labels(&logs)).inc();
    let scrape = parse(&m.encode());
    let runs: Vec<_> =
        scrape.samples.iter().filter(|s| s.metric == "compactor_compaction_runs_total").collect();
    assert_eq!(runs.len(), 2);
    let acme = [("tenant", "acme"), ("table", "traces")];
    let globex = [("tenant", "globex"), ("table", "logs")];
    assert_eq!(counter_value(&scrape, "compactor_files_deleted_total", &acme), 0.0);
    assert_eq!(counter_value(&scrape, "compactor_files_deleted_total", &globex), 1.0);
}

#[test]
fn gauges_saturate_instead_of_wrapping() {
    let m = Metrics::new();
    let t = table("acme", TableKind::Metrics);
    m.tables.set_stats(&t, u64::MAX, 0, 0);
    assert_eq!(m.tables.data_files.with_label_values(&table_labels(&t)).get(), i64::MAX);
}

#[test]
fn instances_do_not_share_a_registry() {
    let a = touched();
    let b = Metrics::new();
    a.scheduler.record_skipped_tick(JobKind::Retention);
    assert!(!a.encode().is_empty());
    assert_eq!(b.encode(), "");
}
