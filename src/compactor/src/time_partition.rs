//! A table's time partition: the field of its partition spec that is `hour(...)` or `day(...)`
//! of a timestamp column, whatever the field and the column are named.
//!
//! Compaction groups files by this partition and retention drops whole partitions of it, so a
//! table whose current spec has none cannot be maintained: [`current_time_field`] says why,
//! and `status` and the warning signs report it. Files of an older spec are read by that
//! spec's own time field ([`time_field`]), so retention understands every spec a table had.

use common::partition::Grain;
use iceberg::spec::{PrimitiveType, TableMetadata, Type};
use serde::Serialize;

/// The time partition field of one partition spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TimeField {
    /// The partition spec.
    pub spec_id: i32,
    /// The partition field's name: the directory files of a partition go to is `{name}=…`.
    pub name: String,
    /// `hour` or `day`.
    pub grain: Grain,
    /// The timestamp column's field id.
    pub source_id: i32,
    /// The timestamp column's name.
    pub source_name: String,
}

/// Why a partition spec has no time partition this code understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NotMaintainable {
    /// The table's format version is one the compactor does not write (v3: deletion vectors,
    /// row lineage and default values would be half-handled).
    #[error("Iceberg format {version} is not supported (only v1 and v2): the table is left alone")]
    FormatVersion {
        /// The table's format version, as `v3`.
        version: String,
    },
    /// The table's metadata has no spec of that id.
    #[error("partition spec {spec_id} is not in the table's metadata")]
    MissingSpec {
        /// The spec asked for.
        spec_id: i32,
    },
    /// The spec has no field: the table is not partitioned.
    #[error("the table is not partitioned (spec {spec_id}): it has no hour or day partition")]
    Unpartitioned {
        /// The spec.
        spec_id: i32,
    },
    /// The spec has more than one field.
    #[error(
        "partition spec {spec_id} has {count} fields ({fields}); only a single hour() or day() \
         field is maintained"
    )]
    SeveralFields {
        /// The spec.
        spec_id: i32,
        /// How many fields.
        count: usize,
        /// The fields, as `name=transform(source)`.
        fields: String,
    },
    /// The one field's transform is not `hour` or `day`.
    #[error("partition field `{field}` is {transform}, not hour() or day() of a timestamp")]
    UnknownTransform {
        /// The partition field.
        field: String,
        /// Its transform.
        transform: String,
    },
    /// The field's source column is missing or not a timestamp.
    #[error("partition field `{field}` is {grain}() of column id {source_id}, which is {found}")]
    NotTimestamp {
        /// The partition field.
        field: String,
        /// Its transform's name.
        grain: &'static str,
        /// The source column's id.
        source_id: i32,
        /// What the column is instead.
        found: String,
    },
}

impl NotMaintainable {
    /// The reason's name, as reports and metric labels spell it.
    #[cfg(test)]
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::FormatVersion { .. } => "format_version",
            Self::MissingSpec { .. } => "missing_spec",
            Self::Unpartitioned { .. } => "unpartitioned",
            Self::SeveralFields { .. } => "several_partition_fields",
            Self::UnknownTransform { .. } => "unknown_transform",
            Self::NotTimestamp { .. } => "no_timestamp_column",
        }
    }
}

/// The time partition field of spec `spec_id` of `md`.
pub(crate) fn time_field(md: &TableMetadata, spec_id: i32) -> Result<TimeField, NotMaintainable> {
    let spec = md.partition_spec_by_id(spec_id).ok_or(NotMaintainable::MissingSpec { spec_id })?;
    let field = match spec.fields() {
        [] => return Err(NotMaintainable::Unpartitioned { spec_id }),
        [field] => field,
        fields => {
            let describe = |f: &iceberg::spec::PartitionField| {
                let source = column_name(md, f.source_id).unwrap_or("?");
                format!("{}={}({source})", f.name, f.transform)
            };
            return Err(NotMaintainable::SeveralFields {
                spec_id,
                count: fields.len(),
                fields: fields.iter().map(describe).collect::<Vec<_>>().join(", "),
            });
        }
    };
    let Some(grain) = Grain::of_transform(field.transform) else {
        return Err(NotMaintainable::UnknownTransform {
            field: field.name.clone(),
            transform: format!("{}()", field.transform),
        });
    };
    let not_timestamp = |found: String| NotMaintainable::NotTimestamp {
        field: field.name.clone(),
        grain: grain.as_str(),
        source_id: field.source_id,
        found,
    };
    let column = md
        .schemas_iter()
        .find_map(|s| s.field_by_id(field.source_id).cloned())
        .ok_or_else(|| not_timestamp("in no schema of the table".to_string()))?;
    let is_time = match column.field_type.as_ref() {
        Type::Primitive(
            PrimitiveType::Timestamp
            | PrimitiveType::Timestamptz
            | PrimitiveType::TimestampNs
            | PrimitiveType::TimestamptzNs,
        ) => true,
        Type::Primitive(PrimitiveType::Date) => grain == Grain::Day,
        _ => false,
    };
    if !is_time {
        return Err(not_timestamp(format!("`{}` of type {}", column.name, column.field_type)));
    }
    Ok(TimeField {
        spec_id,
        name: field.name.clone(),
        grain,
        source_id: field.source_id,
        source_name: column.name.clone(),
    })
}

/// The time partition field of `md`'s current (default) partition spec: the partition new
/// files are written in. A table of a format version the compactor does not write (v3) has
/// none: it is not maintained.
pub(crate) fn current_time_field(md: &TableMetadata) -> Result<TimeField, NotMaintainable> {
    use iceberg::spec::FormatVersion;
    if !matches!(md.format_version(), FormatVersion::V1 | FormatVersion::V2) {
        return Err(NotMaintainable::FormatVersion { version: md.format_version().to_string() });
    }
    time_field(md, md.default_partition_spec_id())
}

/// The name of column `id` in the newest schema of `md` that has it.
fn column_name(md: &TableMetadata, id: i32) -> Option<&str> {
    if let Some(f) = md.current_schema().field_by_id(id) {
        return Some(&f.name);
    }
    md.schemas_iter().find_map(|s| s.field_by_id(id)).map(|f| f.name.as_str())
}

#[cfg(test)]
mod tests;
