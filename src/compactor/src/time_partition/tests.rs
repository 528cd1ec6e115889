use iceberg::TableCreation;
use iceberg::spec::{
    NestedField, PrimitiveType, Schema, TableMetadataBuilder, Transform, Type, UnboundPartitionSpec,
};

use super::*;

/// A table whose schema is `ts` (timestamp), `day` (date), `name` (string), partitioned by
/// `fields` (transform, source column id, name).
fn metadata(fields: &[(Transform, i32, &str)]) -> TableMetadata {
    let schema = Schema::builder()
        .with_schema_id(0)
        .with_fields(vec![
            NestedField::required(1, "ts", Type::Primitive(PrimitiveType::Timestamp)).into(),
            NestedField::required(2, "day", Type::Primitive(PrimitiveType::Date)).into(),
            NestedField::optional(3, "name", Type::Primitive(PrimitiveType::String)).into(),
        ])
        .build()
        .unwrap();
    let mut spec = UnboundPartitionSpec::builder().with_spec_id(0);
    for (transform, source, name) in fields {
        spec = spec.add_partition_field(*source, *name, *transform).unwrap();
    }
    let creation = TableCreation::builder()
        .name("t".to_string())
        .location("/wh/t".to_string())
        .schema(schema)
        .partition_spec(spec.build())
        .build();
    TableMetadataBuilder::from_table_creation(creation).unwrap().build().unwrap().metadata
}

#[test]
fn an_hour_or_day_field_of_any_name_is_the_time_partition() {
    let md = metadata(&[(Transform::Hour, 1, "timestamp_hour")]);
    let field = current_time_field(&md).unwrap();
    assert_eq!((field.name.as_str(), field.grain), ("timestamp_hour", Grain::Hour));
    assert_eq!((field.source_id, field.source_name.as_str()), (1, "ts"));

    let md = metadata(&[(Transform::Day, 1, "ts_day")]);
    assert_eq!(current_time_field(&md).unwrap().grain, Grain::Day);
    let md = metadata(&[(Transform::Day, 2, "day_day")]);
    assert_eq!(current_time_field(&md).unwrap().source_name, "day");
}

#[test]
fn every_other_spec_says_why_it_is_not_maintained() {
    let cases = [
        (metadata(&[]), "unpartitioned"),
        (
            metadata(&[(Transform::Hour, 1, "h"), (Transform::Identity, 3, "name")]),
            "several_partition_fields",
        ),
        (metadata(&[(Transform::Bucket(8), 1, "b")]), "unknown_transform"),
        (metadata(&[(Transform::Identity, 3, "name")]), "unknown_transform"),
        (metadata(&[(Transform::Month, 1, "m")]), "unknown_transform"),
    ];
    for (md, kind) in cases {
        let err = current_time_field(&md).unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
    }
    let several = metadata(&[(Transform::Hour, 1, "h"), (Transform::Identity, 3, "name")]);
    let message = current_time_field(&several).unwrap_err().to_string();
    assert!(message.contains("h=hour(ts), name=identity(name)"), "{message}");
    assert_eq!(time_field(&several, 7).unwrap_err(), NotMaintainable::MissingSpec { spec_id: 7 });
}
