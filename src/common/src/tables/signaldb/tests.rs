use super::*;

fn field(schema: &Schema, name: &str) -> (i32, Type, bool) {
    let f = schema.field_by_name(name).unwrap_or_else(|| panic!("no column {name}"));
    (f.id, (*f.field_type).clone(), f.required)
}

fn map_ids(schema: &Schema, name: &str) -> (i32, i32) {
    let f = schema.field_by_name(name).unwrap();
    let Type::Map(m) = &*f.field_type else { panic!("{name} is not a map") };
    assert!(m.key_field.required && !m.value_field.required, "{name}");
    assert_eq!(*m.key_field.field_type, Type::Primitive(PrimitiveType::String));
    assert_eq!(*m.value_field.field_type, Type::Primitive(PrimitiveType::String));
    (m.key_field.id, m.value_field.id)
}

fn names(schema: &Schema) -> Vec<String> {
    schema.as_struct().fields().iter().map(|f| f.name.clone()).collect()
}

fn prim(ty: PrimitiveType) -> Type {
    Type::Primitive(ty)
}

#[test]
fn top_level_ids_count_up_and_maps_follow() {
    let expected_columns = [
        (TableKind::Traces, 30, 3),
        (TableKind::Logs, 18, 3),
        (TableKind::MetricsGauge, 19, 3),
        (TableKind::MetricsSum, 21, 3),
        (TableKind::MetricsHistogram, 25, 3),
        (TableKind::MetricsExponentialHistogram, 30, 3),
        (TableKind::MetricsSummary, 21, 3),
        (TableKind::Profiles, 18, 3),
    ];
    assert_eq!(expected_columns.map(|(k, ..)| k), TableKind::SIGNALDB);
    for (kind, columns, maps) in expected_columns {
        let schema = schema(kind).unwrap();
        let ids: Vec<i32> = schema.as_struct().fields().iter().map(|f| f.id).collect();
        assert_eq!(ids, (1..=columns).collect::<Vec<_>>(), "{kind}");
        assert_eq!(schema.highest_field_id(), columns + 2 * maps, "{kind}");
        assert_eq!(schema.schema_id(), 0);
        let (ts, ty, required) = field(&schema, TIMESTAMP_COLUMN);
        assert!(required && ty == prim(PrimitiveType::Timestamp), "{kind} timestamp {ts}");
        assert_eq!(field(&schema, "date_day").1, prim(PrimitiveType::Date), "{kind}");
        assert_eq!(field(&schema, "hour").1, prim(PrimitiveType::Int), "{kind}");
    }
    assert!(schema(TableKind::Metrics).is_none());
}

#[test]
fn traces_columns_as_the_reference_lists_them() {
    use PrimitiveType::{Boolean, Long, String as Str};
    let s = schema(TableKind::Traces).unwrap();
    assert_eq!(field(&s, "trace_id"), (1, prim(Str), true));
    assert_eq!(field(&s, "parent_span_id"), (3, prim(Str), false));
    assert_eq!(field(&s, "duration_nanos"), (8, prim(Long), true));
    assert_eq!(field(&s, "is_root"), (12, prim(Boolean), true));
    assert_eq!(field(&s, "span_attributes").0, 13);
    assert_eq!(field(&s, "scope_attributes").0, 22);
    assert_eq!(field(&s, TIMESTAMP_COLUMN).0, 23);
    assert_eq!(field(&s, "hour").0, 25);
    assert_eq!(field(&s, "dropped_links_count"), (30, prim(Long), false));
    assert_eq!(map_ids(&s, "span_attributes"), (31, 32));
    assert_eq!(map_ids(&s, "resource_attributes"), (33, 34));
    assert_eq!(map_ids(&s, "scope_attributes"), (35, 36));
}

#[test]
fn logs_metrics_and_profiles_columns_as_the_reference_lists_them() {
    use PrimitiveType::{Boolean, Double, Int, Long, String as Str, Timestamp};
    let logs = schema(TableKind::Logs).unwrap();
    assert_eq!(field(&logs, "observed_timestamp"), (2, prim(Timestamp), false));
    assert_eq!(field(&logs, "severity_text"), (6, prim(Str), false));
    assert_eq!(field(&logs, "service_name"), (8, prim(Str), true));
    assert_eq!(map_ids(&logs, "resource_attributes"), (19, 20));
    assert_eq!(map_ids(&logs, "scope_attributes"), (21, 22));
    assert_eq!(map_ids(&logs, "log_attributes"), (23, 24));

    let sum = schema(TableKind::MetricsSum).unwrap();
    assert_eq!(field(&sum, "is_monotonic"), (10, prim(Boolean), true));
    assert_eq!(field(&sum, "attributes").0, 18);
    assert_eq!(map_ids(&sum, "resource_attributes"), (22, 23));
    assert_eq!(map_ids(&sum, "attributes"), (26, 27));

    let gauge = schema(TableKind::MetricsGauge).unwrap();
    assert_eq!(field(&gauge, "value"), (7, prim(Double), true));
    assert_eq!(field(&gauge, "resource_attributes").0, 10);
    assert_eq!(map_ids(&gauge, "attributes"), (24, 25));

    let exp = schema(TableKind::MetricsExponentialHistogram).unwrap();
    assert_eq!(field(&exp, "zero_count"), (12, prim(Long), false));
    assert_eq!(field(&exp, "aggregation_temporality"), (18, prim(Int), true));
    assert_eq!(field(&exp, "zero_threshold"), (19, prim(Double), false));
    assert_eq!(field(&exp, "exemplars").0, 28);

    let hist = schema(TableKind::MetricsHistogram).unwrap();
    assert_eq!(field(&hist, "explicit_bounds"), (12, prim(Str), false));
    assert_eq!(field(&hist, "date_day").0, 24);

    let summary = schema(TableKind::MetricsSummary).unwrap();
    assert_eq!(field(&summary, "sum"), (8, prim(Double), true));
    assert_eq!(field(&summary, "quantile_values").0, 9);

    let profiles = schema(TableKind::Profiles).unwrap();
    assert_eq!(field(&profiles, "profile_id"), (1, prim(Str), true));
    assert_eq!(field(&profiles, TIMESTAMP_COLUMN).0, 2);
    assert_eq!(field(&profiles, "samples_json"), (11, prim(Str), true));
    assert_eq!(field(&profiles, "span_id"), (16, prim(Str), false));
    assert_eq!(map_ids(&profiles, "profile_attributes"), (23, 24));
}

#[test]
fn traces_v2_plus_the_v3_columns_is_v3() {
    let v2 = traces_v2_schema();
    assert_eq!(v2.as_struct().fields().len(), 25);
    assert_eq!(v2.highest_field_id(), 31);
    let added = traces_v3_columns(v2.highest_field_id() + 1);
    assert_eq!(added.iter().map(|f| f.id).collect::<Vec<_>>(), [32, 33, 34, 35, 36]);
    let mut evolved = names(&v2);
    evolved.extend(added.iter().map(|f| f.name.clone()));
    assert_eq!(evolved, names(&schema(TableKind::Traces).unwrap()));
    let evolved = v2.into_builder().with_fields(added.into_iter().map(Into::into)).build();
    assert!(evolved.is_ok());
}

#[test]
fn partition_spec_binds_with_the_offset_field_id() {
    for kind in TableKind::SIGNALDB {
        let schema = schema(kind).unwrap();
        let ts = schema.field_by_name(TIMESTAMP_COLUMN).unwrap().id;
        let bound = partition_spec(&schema).unwrap().bind(schema).unwrap();
        assert_eq!(bound.spec_id(), 0);
        let [field] = bound.fields() else { panic!("one partition field") };
        assert_eq!(field.name, PARTITION_FIELD);
        assert_eq!(field.transform, Transform::Hour);
        assert_eq!((field.source_id, field.field_id), (ts, 1000 + ts), "{kind}");
    }
    let no_ts = Schema::builder().build().unwrap();
    assert!(partition_spec(&no_ts).is_none());
}

#[test]
fn sort_orders_bind() {
    for kind in TableKind::SIGNALDB {
        let schema = schema(kind).unwrap();
        let order = sort_order(kind).unwrap();
        assert_eq!(order.order_id, 1);
        let bound = SortOrder::builder()
            .with_order_id(1)
            .with_fields(order.fields.clone())
            .build(&schema)
            .unwrap();
        assert_eq!(bound, order, "{kind}");
        let first = &order.fields[0];
        assert_eq!(schema.field_by_id(first.source_id).unwrap().name, TIMESTAMP_COLUMN);
    }
    let traces = schema(TableKind::Traces).unwrap();
    let ids: Vec<i32> =
        sort_order(TableKind::Traces).unwrap().fields.iter().map(|f| f.source_id).collect();
    assert_eq!(ids, [23, traces.field_by_name("trace_id").unwrap().id]);
    assert!(sort_order(TableKind::Metrics).is_none());
}

#[test]
fn properties_and_creation() {
    let traces = properties(TableKind::Traces);
    assert_eq!(traces[SCHEMA_VERSION_PROPERTY], "physical-v3");
    assert_eq!(traces["write.parquet.bloom-filter-enabled.column.trace_id"], "true");
    assert_eq!(traces["write.metadata.previous-versions-max"], "100");
    assert_eq!(properties(TableKind::Logs)[SCHEMA_VERSION_PROPERTY], "physical-v1");
    let gauge = properties(TableKind::MetricsGauge);
    assert!(!gauge.contains_key(SCHEMA_VERSION_PROPERTY));
    assert!(!gauge.contains_key("write.parquet.bloom-filter-enabled.column.trace_id"));
    assert_eq!(gauge["write.parquet.compression-codec"], "zstd");
    assert!(
        properties(TableKind::Profiles)
            .contains_key("write.parquet.bloom-filter-enabled.column.trace_id")
    );
    assert!(gauge.keys().all(|k| !k.starts_with("signaldb.hot")));
    assert!(properties(TableKind::Metrics).is_empty());

    let id = TableId::new("acme", "prod", TableKind::MetricsSum).unwrap();
    let c = creation(&id, "s3://b/wh/").unwrap();
    assert_eq!(c.name, "metrics_sum");
    assert_eq!(c.location.as_deref(), Some("s3://b/wh/acme/prod/metrics_sum"));
    assert_eq!(c.format_version, FormatVersion::V2);
    assert_eq!(c.partition_spec.unwrap().fields()[0].field_id, Some(1001));
    let metrics = TableId::new("acme", "prod", TableKind::Metrics).unwrap();
    assert!(matches!(
        creation(&metrics, "/wh"),
        Err(TableError::NotInLayout { layout: "signaldb", table: TableKind::Metrics })
    ));
}
#[test]
fn layouts_parse_list_their_tables_and_dispatch() {
    use crate::signal::Signal;
    use crate::tables::Layout;
    for layout in Layout::ALL {
        assert_eq!(layout.as_str().parse::<Layout>().unwrap(), layout);
        assert_eq!(serde_json::to_value(layout).unwrap(), layout.as_str());
        assert_eq!(layout.to_string(), layout.as_str());
    }
    assert!("SignalDB".parse::<Layout>().is_err());
    assert_eq!(Layout::default(), Layout::Classic);
    assert_eq!(Layout::Classic.tables(), TableKind::SIGNAL_NAMED);
    assert_eq!(Layout::Signaldb.tables(), TableKind::SIGNALDB);
    let metrics: Vec<TableKind> = Layout::Signaldb.tables_of(Signal::Metrics).collect();
    assert_eq!(metrics.len(), 5);
    assert!(metrics.iter().all(|t| t.as_str().starts_with("metrics_")));
    assert_eq!(Layout::Classic.tables_of(Signal::Profiles).count(), 0);
    assert_eq!(
        Layout::Classic.tables_of(Signal::Metrics).collect::<Vec<_>>(),
        [TableKind::Metrics]
    );

    let traces = TableId::new("acme", "prod", TableKind::Traces).unwrap();
    let spec_name = |layout: Layout| {
        let c = layout.creation(&traces, "/wh").unwrap();
        c.partition_spec.unwrap().fields()[0].name.clone()
    };
    assert_eq!(spec_name(Layout::Classic), "hour");
    assert_eq!(spec_name(Layout::Signaldb), PARTITION_FIELD);
    assert_eq!(Layout::Signaldb.schema(TableKind::Traces), schema(TableKind::Traces));
    let gauge = TableId::new("acme", "prod", TableKind::MetricsGauge).unwrap();
    assert!(matches!(
        Layout::Classic.creation(&gauge, "/wh"),
        Err(TableError::NotInLayout { layout: "classic", .. })
    ));
}
