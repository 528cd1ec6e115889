use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::{DataType, SchemaRef};
use common::TableKind;
use common::tables::{Layout, TableId, signaldb};
use iceberg::spec::Schema;
use serde_json::Value;

use super::histograms::{BOUNDS, exponential_buckets, exponential_index};
use crate::checksum::batch_digest;
use crate::generator::{FileSpec, US_PER_HOUR, Window, generate};

/// 2024-03-05T14:00:00Z.
const HOUR: i64 = 474_998;

fn spec(table: TableKind, file_index: u32) -> FileSpec {
    FileSpec {
        seed: 42,
        layout: Layout::Signaldb,
        table: TableId::new("acme", "prod", table).unwrap(),
        hour: HOUR,
        file_index,
        window: Window::hour(HOUR),
        rows: 500,
    }
}

fn arrow(schema: &Schema) -> SchemaRef {
    Arc::new(iceberg::arrow::schema_to_arrow_schema(schema).unwrap())
}

fn arrow_schema(table: TableKind) -> SchemaRef {
    arrow(&signaldb::schema(table).unwrap())
}

fn batch(spec: &FileSpec) -> RecordBatch {
    generate(spec, &arrow_schema(spec.table.table)).unwrap()
}

fn strs<'a>(b: &'a RecordBatch, name: &str) -> &'a StringArray {
    b.column_by_name(name).unwrap_or_else(|| panic!("no {name}")).as_string::<i32>()
}

fn json(b: &RecordBatch, name: &str, row: usize) -> Value {
    serde_json::from_str(strs(b, name).value(row)).unwrap()
}

fn i64s(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    b.column_by_name(name).unwrap().as_primitive::<Int64Type>().iter().collect()
}

fn i32s(b: &RecordBatch, name: &str) -> Vec<Option<i32>> {
    b.column_by_name(name).unwrap().as_primitive::<Int32Type>().iter().collect()
}

fn f64s(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    b.column_by_name(name).unwrap().as_primitive::<Float64Type>().iter().collect()
}

/// Row `row` of the map column `name`.
fn map(b: &RecordBatch, name: &str, row: usize) -> HashMap<String, Option<String>> {
    let entries = b.column_by_name(name).unwrap().as_map().value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    (0..entries.len())
        .map(|i| (keys.value(i).to_string(), values.is_valid(i).then(|| values.value(i).into())))
        .collect()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn every_table_matches_its_schema_and_repeats_exactly() {
    for table in TableKind::SIGNALDB {
        let b = batch(&spec(table, 0));
        assert_eq!(b.num_rows(), 500, "{table}");
        assert_eq!(b.schema(), arrow_schema(table), "{table}");
        assert_eq!(b, batch(&spec(table, 0)), "{table}");
        let first = batch_digest(&b);
        assert_ne!(first, batch_digest(&batch(&spec(table, 1))), "{table}");
        let other_seed = FileSpec { seed: 43, ..spec(table, 0) };
        assert_ne!(first, batch_digest(&batch(&other_seed)), "{table}");
        for rows in [1, 2, 7] {
            assert_eq!(batch(&FileSpec { rows, ..spec(table, 2) }).num_rows(), rows, "{table}");
        }
        let metrics = FileSpec {
            table: TableId::new("acme", "prod", TableKind::Metrics).unwrap(),
            ..spec(table, 0)
        };
        assert!(generate(&metrics, &arrow_schema(table)).is_err());
    }
}

#[test]
fn map_columns_carry_the_tables_field_ids() {
    let b = batch(&spec(TableKind::Logs, 0));
    let DataType::Map(entries, false) =
        b.schema().field_with_name("log_attributes").unwrap().data_type().clone()
    else {
        panic!("log_attributes is a map");
    };
    assert_eq!(entries.name(), "key_value");
    let DataType::Struct(fields) = entries.data_type() else { panic!("entries are a struct") };
    let ids: Vec<(&str, &str)> = fields
        .iter()
        .map(|f| (f.name().as_str(), f.metadata()["PARQUET:field_id"].as_str()))
        .collect();
    assert_eq!(ids, [("key", "23"), ("value", "24")]);
}

#[test]
fn time_columns_agree_with_the_timestamp() {
    let narrow =
        Window { start_us: HOUR * US_PER_HOUR + 1_000_000, end_us: HOUR * US_PER_HOUR + 1_200_000 };
    for table in TableKind::SIGNALDB {
        for window in [Window::hour(HOUR), narrow] {
            let b = batch(&FileSpec { window, ..spec(table, 3) });
            let ts =
                b.column_by_name("timestamp").unwrap().as_primitive::<TimestampMicrosecondType>();
            let day = b.column_by_name("date_day").unwrap().as_primitive::<Date32Type>();
            let hour = i32s(&b, "hour");
            assert_eq!(ts.null_count(), 0);
            for (i, &t) in ts.values().iter().enumerate() {
                assert!((window.start_us..window.end_us).contains(&t), "{table}");
                assert_eq!(i64::from(day.value(i)), t.div_euclid(86_400_000_000), "{table}");
                assert_eq!(hour[i], Some(14), "{table}: 14:00 UTC");
            }
            assert!(ts.values().windows(2).all(|w| w[0] <= w[1]), "{table} not sorted");
            for row in [0, b.num_rows() - 1] {
                let resource = map(&b, "resource_attributes", row);
                let service = strs(&b, "service_name").value(row);
                assert_eq!(resource["service.name"].as_deref(), Some(service), "{table}");
                assert!(resource["k8s.pod.name"].as_ref().unwrap().starts_with(service));
                assert_eq!(resource["deployment.environment"].as_deref(), Some("prod"));
                assert!(map(&b, "scope_attributes", row).is_empty(), "{table}");
            }
        }
    }
}

#[test]
fn spans_are_the_classic_spans_with_consistent_kinds_times_and_json() {
    let b = batch(&spec(TableKind::Traces, 0));
    let classic_spec = FileSpec { layout: Layout::Classic, ..spec(TableKind::Traces, 0) };
    let classic_schema = common::tables::schema(TableKind::Traces).unwrap();
    let classic = generate(&classic_spec, &arrow(&classic_schema)).unwrap();
    assert_eq!(strs(&b, "span_id"), strs(&classic, "span_id"), "same spans as classic");

    let kinds = HashMap::from([
        ("Internal", 1),
        ("Server", 2),
        ("Client", 3),
        ("Producer", 4),
        ("Consumer", 5),
    ]);
    let statuses = HashMap::from([("Unspecified", 0), ("Ok", 1), ("Error", 2)]);
    let (start, end, duration) = (
        i64s(&b, "start_time_unix_nano"),
        i64s(&b, "end_time_unix_nano"),
        i64s(&b, "duration_nanos"),
    );
    let ts = b.column_by_name("timestamp").unwrap().as_primitive::<TimestampMicrosecondType>();
    let (kind_numbers, status_numbers) =
        (i32s(&b, "span_kind_number"), i32s(&b, "status_code_number"));
    let is_root = b.column_by_name("is_root").unwrap().as_boolean();
    let parent = strs(&b, "parent_span_id");
    let mut seen_kinds = HashSet::new();
    for i in 0..b.num_rows() {
        assert!(
            is_hex(strs(&b, "trace_id").value(i), 32) && is_hex(strs(&b, "span_id").value(i), 16)
        );
        let kind = strs(&b, "span_kind").value(i);
        seen_kinds.insert(kind);
        assert_eq!(kind_numbers[i], Some(kinds[kind]));
        let status = strs(&b, "status_code").value(i);
        assert_eq!(status_numbers[i], Some(statuses[status]));
        assert_eq!(start[i].unwrap() / 1_000, ts.value(i));
        assert_eq!(end[i].unwrap() - start[i].unwrap(), duration[i].unwrap());
        assert_eq!(is_root.value(i), parent.is_null(i));
        let events = json(&b, "events", i);
        assert_eq!(events.as_array().unwrap().len(), usize::from(status == "Error"));
        if status == "Error" {
            assert_eq!(events[0]["name"], "exception");
            assert_eq!(
                events[0]["attributes"]["exception.message"],
                strs(&b, "status_message").value(i)
            );
        }
        let links = json(&b, "links", i);
        assert_eq!(links.as_array().unwrap().len(), usize::from(kind == "Consumer"));
        let attributes = map(&b, "span_attributes", i);
        if kind == "Server" {
            assert!(
                attributes.contains_key("http.method")
                    && attributes.contains_key("http.status_code")
            );
            assert!(
                strs(&b, "span_name")
                    .value(i)
                    .starts_with(attributes["http.method"].as_deref().unwrap())
            );
        }
        if attributes.contains_key("db.system") {
            assert!(!strs(&b, "scope_name").value(i).is_empty());
        }
        assert_eq!(i64s(&b, "dropped_links_count")[i], Some(0));
    }
    assert_eq!(seen_kinds.len(), 5, "{seen_kinds:?}");
}

#[test]
fn log_records_carry_trace_flags_loggers_and_attributes() {
    let b = batch(&spec(TableKind::Logs, 0));
    let ts = b.column_by_name("timestamp").unwrap().as_primitive::<TimestampMicrosecondType>();
    let observed =
        b.column_by_name("observed_timestamp").unwrap().as_primitive::<TimestampMicrosecondType>();
    let flags = i32s(&b, "trace_flags");
    let (trace, span) = (strs(&b, "trace_id"), strs(&b, "span_id"));
    for (i, flag) in flags.iter().enumerate() {
        assert!(observed.value(i) > ts.value(i));
        assert_eq!(flag.is_some(), trace.is_valid(i));
        assert_eq!(trace.is_valid(i), span.is_valid(i));
        let attributes = map(&b, "log_attributes", i);
        assert_eq!(attributes["log.logger"].as_deref(), Some(strs(&b, "scope_name").value(i)));
        assert!(attributes.contains_key("thread.name"));
        assert!(!strs(&b, "body").value(i).is_empty());
    }
}

#[test]
fn gauges_and_sums_hold_only_their_type() {
    let gauge = batch(&spec(TableKind::MetricsGauge, 0));
    let names: HashSet<&str> = strs(&gauge, "metric_name").iter().flatten().collect();
    assert_eq!(
        names,
        HashSet::from([
            "system.cpu.utilization",
            "process.runtime.memory",
            "messaging.kafka.consumer.lag"
        ])
    );
    assert_eq!(gauge.column_by_name("start_timestamp").unwrap().null_count(), gauge.num_rows());

    let sum = batch(&spec(TableKind::MetricsSum, 0));
    let monotonic = sum.column_by_name("is_monotonic").unwrap().as_boolean();
    for i in 0..sum.num_rows() {
        let name = strs(&sum, "metric_name").value(i);
        assert_eq!(monotonic.value(i), matches!(name, "system.network.io" | "process.cpu.time"));
        assert_eq!(i32s(&sum, "aggregation_temporality")[i], Some(2));
        assert!(f64s(&sum, "value")[i].unwrap() >= 0.0);
        assert!(!map(&sum, "attributes", i).is_empty(), "{name}");
    }
}

#[test]
fn histogram_buckets_add_up() {
    let b = batch(&spec(TableKind::MetricsHistogram, 0));
    let (count, min, max) = (i64s(&b, "count"), f64s(&b, "min"), f64s(&b, "max"));
    for i in 0..b.num_rows() {
        let buckets: Vec<i64> = serde_json::from_value(json(&b, "bucket_counts", i)).unwrap();
        assert_eq!(buckets.len(), BOUNDS.len() + 1);
        assert_eq!(buckets.iter().sum::<i64>(), count[i].unwrap());
        let bounds: Vec<f64> = serde_json::from_value(json(&b, "explicit_bounds", i)).unwrap();
        assert_eq!(bounds, BOUNDS);
        assert!(min[i].unwrap() <= max[i].unwrap());
        assert_eq!(i32s(&b, "aggregation_temporality")[i], Some(1));
    }
    let exemplars = strs(&b, "exemplars");
    assert!(exemplars.null_count() > 0 && exemplars.null_count() < b.num_rows());
    let e = json(&b, "exemplars", exemplars.iter().position(|e| e.is_some()).unwrap());
    assert!(is_hex(e[0]["trace_id"].as_str().unwrap(), 32));

    let b = batch(&spec(TableKind::MetricsExponentialHistogram, 0));
    let (count, scale) = (i64s(&b, "count"), i32s(&b, "scale"));
    for i in 0..b.num_rows() {
        let buckets: Vec<i64> =
            serde_json::from_value(json(&b, "positive_bucket_counts", i)).unwrap();
        assert!(buckets.len() <= 160 && scale[i].unwrap() <= 8);
        assert_eq!(buckets.iter().sum::<i64>(), count[i].unwrap());
        assert_eq!(strs(&b, "negative_bucket_counts").value(i), "[]");
    }
    assert_eq!(exponential_index(1.0, 0), -1);
    assert_eq!(exponential_index(2.0, 0), 0);
    assert_eq!(exponential_index(2.5, 0), 1);
    // At scale 8 these span 314 buckets, at scale 7 (indexes 74, 202, 231) 158.
    let (scale, offset, counts) = exponential_buckets(&[1.5, 3.0, 3.5]);
    assert_eq!((scale, offset, counts.len()), (7, 74, 158));
    assert_eq!((counts[0], counts[128], counts[157], counts.iter().sum::<u64>()), (1, 1, 1, 3));

    let b = batch(&spec(TableKind::MetricsSummary, 0));
    for i in 0..b.num_rows() {
        let quantiles = json(&b, "quantile_values", i);
        let values: Vec<f64> =
            quantiles.as_array().unwrap().iter().map(|q| q["value"].as_f64().unwrap()).collect();
        assert!(values.windows(2).all(|w| w[0] <= w[1]), "{quantiles}");
        assert!(i64s(&b, "count")[i].unwrap() > 0);
        assert!(f64s(&b, "sum")[i].unwrap() > 0.0);
    }
}

#[test]
fn profiles_hold_stacks_and_samples_that_refer_to_them() {
    let b = batch(&spec(TableKind::Profiles, 0));
    let (trace, span) = (strs(&b, "trace_id"), strs(&b, "span_id"));
    for i in 0..b.num_rows() {
        assert!(is_hex(strs(&b, "profile_id").value(i), 32));
        let stacks = json(&b, "stacktraces_json", i);
        let stacks = stacks.as_array().unwrap();
        assert!(stacks.iter().all(|s| s["frames"].as_array().unwrap().len() >= 3));
        let samples = json(&b, "samples_json", i);
        for s in samples.as_array().unwrap() {
            assert!(s["stacktrace_index"].as_u64().unwrap() < stacks.len() as u64);
            assert!(s["values"][0].as_i64().unwrap() > 0);
        }
        assert_eq!(trace.is_valid(i), span.is_valid(i));
        assert_eq!(trace.is_valid(i), samples[0].get("link_index").is_some());
        let sample_type = strs(&b, "sample_type").value(i);
        let unit = strs(&b, "sample_unit").value(i);
        assert_eq!(unit, if sample_type == "cpu" { "nanoseconds" } else { "bytes" });
        assert!(map(&b, "profile_attributes", i).contains_key("profile.frame.type"));
    }
    assert!(trace.null_count() > 0 && trace.null_count() < b.num_rows());
}

#[test]
fn columns_bind_to_an_evolved_schema_by_name() {
    // physical-v2: the v3 columns are not written.
    let v2 = signaldb::traces_v2_schema();
    let b = generate(&spec(TableKind::Traces, 0), &arrow(&v2)).unwrap();
    assert_eq!(b.num_columns(), 25);
    // Evolved in place to physical-v3, plus a tenant label column the generator does not know.
    let mut added = signaldb::traces_v3_columns(v2.highest_field_id() + 1);
    added.push(iceberg::spec::NestedField::optional(
        37,
        "label_team",
        iceberg::spec::Type::Primitive(iceberg::spec::PrimitiveType::String),
    ));
    let evolved = v2.into_builder().with_fields(added.into_iter().map(Into::into)).build().unwrap();
    let b = generate(&spec(TableKind::Traces, 0), &arrow(&evolved)).unwrap();
    assert_eq!(b.schema(), arrow(&evolved));
    assert_eq!(b.column_by_name("label_team").unwrap().null_count(), b.num_rows());
    assert_eq!(i32s(&b, "span_kind_number").iter().flatten().count(), b.num_rows());
    // A required column the generator does not know cannot be filled.
    let strict = signaldb::traces_v2_schema()
        .into_builder()
        .with_fields([iceberg::spec::NestedField::required(
            40,
            "tenant_id",
            iceberg::spec::Type::Primitive(iceberg::spec::PrimitiveType::String),
        )
        .into()])
        .build()
        .unwrap();
    let e = generate(&spec(TableKind::Traces, 0), &arrow(&strict)).unwrap_err();
    assert!(e.to_string().contains("tenant_id"), "{e}");
}
