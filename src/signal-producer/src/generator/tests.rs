use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use common::TableKind;
use common::tables::{self, Layout, TableId};
use serde_json::Value;

use super::*;
use crate::checksum::batch_digest;

/// 2024-03-05T14:00:00Z.
const HOUR: i64 = 474_998;

fn spec(table: TableKind, file_index: u32) -> FileSpec {
    FileSpec {
        seed: 42,
        layout: Layout::Classic,
        table: TableId::new("acme", "prod", table).unwrap(),
        hour: HOUR,
        file_index,
        window: Window::hour(HOUR),
        rows: 2_000,
    }
}

fn arrow_schema(table: TableKind) -> SchemaRef {
    Arc::new(iceberg::arrow::schema_to_arrow_schema(&tables::schema(table).unwrap()).unwrap())
}

fn batch(spec: &FileSpec) -> RecordBatch {
    generate(spec, &arrow_schema(spec.table.table)).unwrap()
}

fn str_col<'a>(b: &'a RecordBatch, name: &str) -> &'a arrow_array::StringArray {
    b.column_by_name(name).unwrap().as_string::<i32>()
}

fn json_col(b: &RecordBatch, name: &str) -> Vec<Value> {
    str_col(b, name).iter().map(|v| serde_json::from_str(v.unwrap()).unwrap()).collect()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn every_signal_matches_its_table_schema_with_the_requested_rows() {
    for signal in TableKind::SIGNAL_NAMED {
        let b = batch(&spec(signal, 0));
        assert_eq!(b.num_rows(), 2_000, "{signal}");
        assert_eq!(b.schema(), arrow_schema(signal), "{signal}");
        for (file_index, rows) in (0..40).zip([1, 2, 3, 7, 500].into_iter().cycle()) {
            let b = batch(&FileSpec { rows, ..spec(signal, file_index) });
            assert_eq!(b.num_rows(), rows, "{signal} file {file_index}");
        }
    }
}

#[test]
fn same_identity_same_rows_in_any_order() {
    for signal in TableKind::SIGNAL_NAMED {
        let later_first = batch(&spec(signal, 1));
        let first = batch(&spec(signal, 0));
        assert_eq!(first, batch(&spec(signal, 0)), "{signal}");
        assert_eq!(later_first, batch(&spec(signal, 1)), "{signal}");
        assert_ne!(batch_digest(&first), batch_digest(&later_first), "{signal}");
        let mut other_seed = spec(signal, 0);
        other_seed.seed = 43;
        assert_ne!(batch_digest(&first), batch_digest(&batch(&other_seed)), "{signal}");
        let mut other_tenant = spec(signal, 0);
        other_tenant.table = TableId::new("production", "prod", signal).unwrap();
        assert_ne!(batch_digest(&first), batch_digest(&batch(&other_tenant)), "{signal}");
    }
}

#[test]
fn timestamps_are_sorted_and_inside_the_window() {
    let narrow =
        Window { start_us: HOUR * US_PER_HOUR + 1_000_000, end_us: HOUR * US_PER_HOUR + 1_200_000 };
    for signal in TableKind::SIGNAL_NAMED {
        for window in [Window::hour(HOUR), narrow] {
            let b = batch(&FileSpec { window, ..spec(signal, 3) });
            let ts = b.column(0).as_primitive::<TimestampMicrosecondType>();
            assert_eq!(ts.null_count(), 0);
            let values = ts.values();
            assert!(
                values.iter().all(|t| (window.start_us..window.end_us).contains(t)),
                "{signal}"
            );
            assert!(values.windows(2).all(|w| w[0] <= w[1]), "{signal} not sorted");
        }
    }
}

#[test]
fn traces_are_well_formed_trees() {
    let b = batch(&spec(TableKind::Traces, 0));
    let trace = str_col(&b, "trace_id");
    let span = str_col(&b, "span_id");
    let parent = str_col(&b, "parent_span_id");
    let kind = str_col(&b, "kind");
    let status = str_col(&b, "status_code");
    let message = str_col(&b, "status_message");
    let service = str_col(&b, "service_name");
    let duration = b.column_by_name("duration_ns").unwrap().as_primitive::<Int64Type>();

    let span_trace: HashMap<&str, &str> =
        (0..b.num_rows()).map(|i| (span.value(i), trace.value(i))).collect();
    assert_eq!(span_trace.len(), b.num_rows(), "span ids are unique");
    let mut roots = 0;
    for i in 0..b.num_rows() {
        assert!(is_hex(trace.value(i), 32) && is_hex(span.value(i), 16));
        if parent.is_null(i) {
            roots += 1;
            assert_eq!(kind.value(i), "SPAN_KIND_SERVER", "roots are served requests");
        } else {
            assert_eq!(span_trace.get(parent.value(i)), Some(&trace.value(i)), "parent in trace");
        }
        assert!(duration.value(i) > 0);
        assert_eq!(status.value(i) == "STATUS_CODE_ERROR", !message.is_null(i));
    }
    let traces: HashSet<&str> = trace.iter().flatten().collect();
    assert_eq!(roots, traces.len(), "one root per trace");
    assert!(traces.len() > 50, "{} traces", traces.len());

    let count =
        |col: &arrow_array::StringArray, v: &str| col.iter().filter(|x| *x == Some(v)).count();
    let ok = count(status, "STATUS_CODE_OK");
    let err = count(status, "STATUS_CODE_ERROR");
    assert!(ok > b.num_rows() * 8 / 10, "mostly OK: {ok}");
    assert!(err > 0 && err < b.num_rows() / 10, "some errors: {err}");
    for k in ["SERVER", "CLIENT", "INTERNAL", "PRODUCER", "CONSUMER"] {
        assert!(count(kind, &format!("SPAN_KIND_{k}")) > 0, "{k}");
    }
    let services: HashSet<&str> = service.iter().flatten().collect();
    assert!(services.len() >= 15, "{services:?}");

    let resource = json_col(&b, "resource_attributes");
    for (i, attrs) in json_col(&b, "attributes").iter().enumerate() {
        assert!(attrs.is_object());
        assert_eq!(resource[i]["service.name"], service.value(i));
        assert_eq!(resource[i]["deployment.environment"], "prod");
        if kind.value(i) == "SPAN_KIND_SERVER" {
            assert!(attrs["http.method"].is_string() && attrs["http.status_code"].is_u64());
            assert!(
                str_col(&b, "name").value(i).starts_with(attrs["http.method"].as_str().unwrap())
            );
        }
    }
}

#[test]
fn log_severities_are_consistent() {
    let b = batch(&spec(TableKind::Logs, 0));
    let number = b.column_by_name("severity_number").unwrap().as_primitive::<Int32Type>();
    let text = str_col(&b, "severity_text");
    let trace = str_col(&b, "trace_id");
    let span = str_col(&b, "span_id");
    let by_text: HashMap<&str, i32> =
        logs::SEVERITIES.iter().map(|(s, _)| (s.text, s.number)).collect();
    let mut info = 0;
    for i in 0..b.num_rows() {
        assert_eq!(by_text[text.value(i)], number.value(i));
        assert!((1..=24).contains(&number.value(i)));
        info += usize::from(text.value(i) == "INFO");
        assert_eq!(trace.is_null(i), span.is_null(i));
        if !trace.is_null(i) {
            assert!(is_hex(trace.value(i), 32) && is_hex(span.value(i), 16));
        }
        assert!(!str_col(&b, "body").value(i).is_empty());
    }
    assert!(info > b.num_rows() / 2, "mostly INFO: {info}");
    let with_trace = trace.len() - trace.null_count();
    assert!(with_trace > b.num_rows() / 3 && with_trace < b.num_rows(), "{with_trace}");
    for attrs in json_col(&b, "attributes") {
        assert!(attrs["log.logger"].is_string());
    }
}

#[test]
fn metric_points_are_plausible() {
    let b = batch(&spec(TableKind::Metrics, 0));
    let name = str_col(&b, "metric_name");
    let kind = str_col(&b, "metric_type");
    let unit = str_col(&b, "unit");
    let value = b.column_by_name("value").unwrap().as_primitive::<Float64Type>();
    let defs: HashMap<&str, &metrics::Metric> =
        metrics::METRICS.iter().map(|m| (m.name, m)).collect();
    let mut seen = HashSet::new();
    for i in 0..b.num_rows() {
        let def = defs[name.value(i)];
        seen.insert(def.name);
        assert_eq!(kind.value(i), def.kind);
        assert_eq!(unit.value(i), def.unit);
        let v = value.value(i);
        assert!(v.is_finite() && v >= 0.0, "{} = {v}", def.name);
        if def.name == "system.cpu.utilization" {
            assert!(v <= 1.0);
        }
    }
    assert_eq!(seen.len(), metrics::METRICS.len(), "every metric appears");
    for attrs in json_col(&b, "attributes") {
        assert!(attrs.is_object());
    }
}

#[test]
fn daily_load_peaks_in_the_afternoon() {
    let at = |h: i64| metrics::daily_load(HOUR / 24 * 24 * US_PER_HOUR + h * US_PER_HOUR);
    assert!((at(4) - 0.1).abs() < 1e-9);
    assert!((at(16) - 0.9).abs() < 1e-9);
}
