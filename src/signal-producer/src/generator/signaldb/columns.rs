//! Named columns, bound to a table's Arrow schema by name when the batch is assembled.
//!
//! SignalDB's tables evolve in place (added columns, per-tenant `label_*` columns), so a
//! table's current schema may hold more or fewer columns than the layout's, with other field
//! ids: generated columns are matched by name, a column the table lacks is left out, and an
//! optional column the generator does not know is written as nulls. Map columns are built on
//! the target field's own Arrow type, so their entry fields carry the table's field ids.

use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder as _, MapBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, MapArray,
    RecordBatch, StringArray, StructArray, TimestampMicrosecondArray, new_null_array,
};
use arrow_schema::{ArrowError, DataType, SchemaRef};
use common::tables::TIMESTAMP_COLUMN;
use serde_json::Value;

use crate::generator::spec::US_PER_HOUR;

/// The rows of one `map<string, string>` column.
#[derive(Debug)]
pub struct MapColumn(MapBuilder<StringBuilder, StringBuilder>);

impl Default for MapColumn {
    fn default() -> Self {
        Self(MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()))
    }
}

impl MapColumn {
    /// Appends one row holding `entries`.
    pub fn push<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) {
        for (k, v) in entries {
            self.0.keys().append_value(k);
            self.0.values().append_value(v);
        }
        self.close_row();
    }

    /// Appends one row holding the members of a JSON object: strings as they are, other
    /// values in their JSON form (as OpenTelemetry's string rendering of attribute values).
    pub fn push_json(&mut self, object: &Value) {
        if let Some(members) = object.as_object() {
            for (k, v) in members {
                self.0.keys().append_value(k);
                match v {
                    Value::String(s) => self.0.values().append_value(s),
                    Value::Null => self.0.values().append_null(),
                    other => self.0.values().append_value(other.to_string()),
                }
            }
        }
        self.close_row();
    }

    fn close_row(&mut self) {
        self.0.append(true).expect("every key was given a value");
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The column as an array of the Arrow map type `data_type`, whose entry, key and value
    /// fields (names and field-id metadata) it takes over.
    fn finish(mut self, data_type: &DataType) -> Result<ArrayRef, ArrowError> {
        let DataType::Map(entries_field, ordered) = data_type else {
            return Err(ArrowError::SchemaError(format!(
                "expected a map column, found {data_type}"
            )));
        };
        let DataType::Struct(fields) = entries_field.data_type() else {
            let found = entries_field.data_type();
            return Err(ArrowError::SchemaError(format!("map entries are {found}")));
        };
        let (_, offsets, entries, nulls, _) = self.0.finish().into_parts();
        let (_, children, _) = entries.into_parts();
        let entries = StructArray::try_new(fields.clone(), children, None)?;
        let map = MapArray::try_new(entries_field.clone(), offsets, entries, nulls, *ordered)?;
        Ok(Arc::new(map))
    }
}

enum Column {
    Array(ArrayRef),
    Map(Box<MapColumn>),
}

/// One file's generated columns, by name.
pub struct Columns {
    rows: usize,
    columns: Vec<(&'static str, Column)>,
}

impl Columns {
    /// No columns yet, for `rows` rows.
    pub fn new(rows: usize) -> Self {
        Self { rows, columns: Vec::new() }
    }

    /// Adds a finished column.
    pub fn array(&mut self, name: &'static str, array: impl Array + 'static) {
        debug_assert_eq!(array.len(), self.rows, "{name}");
        self.columns.push((name, Column::Array(Arc::new(array))));
    }

    /// Adds a map column.
    pub fn map(&mut self, name: &'static str, map: MapColumn) {
        debug_assert_eq!(map.len(), self.rows, "{name}");
        self.columns.push((name, Column::Map(Box::new(map))));
    }

    /// Adds a string column.
    pub fn strings<'a>(&mut self, name: &'static str, values: impl IntoIterator<Item = &'a str>) {
        self.array(name, StringArray::from_iter_values(values));
    }

    /// Adds a nullable string column.
    pub fn opt_strings<S: AsRef<str>>(
        &mut self,
        name: &'static str,
        values: impl IntoIterator<Item = Option<S>>,
    ) {
        self.array(name, values.into_iter().collect::<StringArray>());
    }

    /// Adds a 64-bit integer column.
    pub fn longs(&mut self, name: &'static str, values: impl IntoIterator<Item = Option<i64>>) {
        self.array(name, values.into_iter().collect::<Int64Array>());
    }

    /// Adds a 32-bit integer column.
    pub fn ints(&mut self, name: &'static str, values: impl IntoIterator<Item = Option<i32>>) {
        self.array(name, values.into_iter().collect::<Int32Array>());
    }

    /// Adds a double column.
    pub fn doubles(&mut self, name: &'static str, values: impl IntoIterator<Item = Option<f64>>) {
        self.array(name, values.into_iter().collect::<Float64Array>());
    }

    /// Adds a boolean column.
    pub fn bools(&mut self, name: &'static str, values: impl IntoIterator<Item = bool>) {
        self.array(name, values.into_iter().map(Some).collect::<BooleanArray>());
    }

    /// Adds a `timestamp` (microseconds, no zone) column.
    pub fn timestamps(
        &mut self,
        name: &'static str,
        values: impl IntoIterator<Item = Option<i64>>,
    ) {
        self.array(name, values.into_iter().collect::<TimestampMicrosecondArray>());
    }

    /// Adds `timestamp` and the two columns SignalDB derives from it: `date_day` (days since
    /// the epoch) and `hour` (hour of the day, 0–23, UTC).
    pub fn time(&mut self, ts: &[i64]) {
        self.timestamps(TIMESTAMP_COLUMN, ts.iter().copied().map(Some));
        self.array("date_day", Date32Array::from_iter_values(ts.iter().map(|&t| date_day(t))));
        self.ints("hour", ts.iter().map(|&t| Some(hour_of_day(t))));
    }

    /// The batch of these columns on `schema`, matched by name: a column `schema` lacks is
    /// dropped, an optional column not generated is all nulls, a required one is an error.
    pub fn into_batch(mut self, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
        let mut out = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let found = self.columns.iter().position(|(name, _)| name == field.name());
            let array = match found.map(|i| self.columns.swap_remove(i).1) {
                Some(Column::Array(array)) => array,
                Some(Column::Map(map)) => map.finish(field.data_type())?,
                None if field.is_nullable() => new_null_array(field.data_type(), self.rows),
                None => {
                    return Err(ArrowError::SchemaError(format!(
                        "required column `{}` is not generated",
                        field.name()
                    )));
                }
            };
            out.push(array);
        }
        RecordBatch::try_new(schema.clone(), out)
    }
}

/// Microseconds in one day.
const US_PER_DAY: i64 = 24 * US_PER_HOUR;

/// The `date_day` of a timestamp in microseconds: days since the epoch (UTC).
fn date_day(ts_us: i64) -> i32 {
    i32::try_from(ts_us.div_euclid(US_PER_DAY)).expect("generated days fit in i32")
}

/// The `hour` of a timestamp in microseconds: the hour of the day, 0–23 (UTC).
fn hour_of_day(ts_us: i64) -> i32 {
    ts_us.div_euclid(US_PER_HOUR).rem_euclid(24) as i32
}
