//! A small, dependency-free 64-bit FNV-1a digest over generated rows.
//!
//! The digest is defined on values, not on Parquet bytes, so it does not change with compression
//! settings or file names: two runs with the same arguments produce the same checksum exactly
//! when they generate the same rows.

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// Incremental 64-bit FNV-1a.
#[derive(Debug, Clone, Copy)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(OFFSET_BASIS)
    }
}

impl Fnv64 {
    /// Feeds raw bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(PRIME);
        }
    }

    /// Feeds one byte.
    pub fn write_u8(&mut self, v: u8) {
        self.write(&[v]);
    }

    /// Feeds a `u64` as 8 little-endian bytes.
    pub fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }

    /// Feeds an `i64` as 8 little-endian bytes.
    pub fn write_i64(&mut self, v: i64) {
        self.write(&v.to_le_bytes());
    }

    /// Feeds a string prefixed by its length, so `("ab","c")` and `("a","bc")` differ.
    pub fn write_str(&mut self, s: &str) {
        self.write_u64(s.len() as u64);
        self.write(s.as_bytes());
    }

    /// The digest so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// FNV-1a of one string, for stable seeds derived from names.
pub fn fnv_str(s: &str) -> u64 {
    let mut h = Fnv64::default();
    h.write_str(s);
    h.finish()
}

/// Digest of a batch's values, row by row and, within a row, column by column in schema order.
///
/// Each value is a presence byte (0 = null, 1 = set) followed by the value: integers,
/// timestamps and dates as little-endian 8 bytes (32-bit integers widened), doubles by their
/// IEEE bits, booleans as one byte, strings length-prefixed, maps as their entry count followed
/// by each key and value. Panics on a column type the signal schemas do not use.
pub fn batch_digest(batch: &RecordBatch) -> u64 {
    let columns: Vec<Column<'_>> = batch.columns().iter().map(|c| Column::of(c.as_ref())).collect();
    let mut h = Fnv64::default();
    for row in 0..batch.num_rows() {
        for col in &columns {
            col.feed(row, &mut h);
        }
    }
    h.finish()
}

enum Column<'a> {
    Timestamp(&'a arrow_array::TimestampMicrosecondArray),
    Int32(&'a arrow_array::Int32Array),
    Int64(&'a arrow_array::Int64Array),
    Float64(&'a arrow_array::Float64Array),
    Utf8(&'a arrow_array::StringArray),
    Boolean(&'a arrow_array::BooleanArray),
    Date32(&'a arrow_array::Date32Array),
    Map(&'a arrow_array::MapArray, Box<Column<'a>>, Box<Column<'a>>),
}

impl<'a> Column<'a> {
    fn of(array: &'a dyn Array) -> Self {
        match array.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                Column::Timestamp(array.as_primitive::<TimestampMicrosecondType>())
            }
            DataType::Int32 => Column::Int32(array.as_primitive::<Int32Type>()),
            DataType::Int64 => Column::Int64(array.as_primitive::<Int64Type>()),
            DataType::Float64 => Column::Float64(array.as_primitive::<Float64Type>()),
            DataType::Utf8 => Column::Utf8(array.as_string::<i32>()),
            DataType::Boolean => Column::Boolean(array.as_boolean()),
            DataType::Date32 => Column::Date32(array.as_primitive::<Date32Type>()),
            DataType::Map(..) => {
                let map = array.as_map();
                let keys = Column::of(map.keys().as_ref());
                let values = Column::of(map.values().as_ref());
                Column::Map(map, Box::new(keys), Box::new(values))
            }
            other => panic!("checksum does not cover column type {other}"),
        }
    }

    fn feed(&self, row: usize, h: &mut Fnv64) {
        let array: &dyn Array = match self {
            Column::Timestamp(a) => *a,
            Column::Int32(a) => *a,
            Column::Int64(a) => *a,
            Column::Float64(a) => *a,
            Column::Utf8(a) => *a,
            Column::Boolean(a) => *a,
            Column::Date32(a) => *a,
            Column::Map(a, ..) => *a,
        };
        if array.is_null(row) {
            h.write_u8(0);
            return;
        }
        h.write_u8(1);
        match self {
            Column::Timestamp(a) => h.write_i64(a.value(row)),
            Column::Int32(a) => h.write_i64(i64::from(a.value(row))),
            Column::Int64(a) => h.write_i64(a.value(row)),
            Column::Float64(a) => h.write_u64(a.value(row).to_bits()),
            Column::Utf8(a) => h.write_str(a.value(row)),
            Column::Boolean(a) => h.write_u8(u8::from(a.value(row))),
            Column::Date32(a) => h.write_i64(i64::from(a.value(row))),
            Column::Map(a, keys, values) => {
                let offsets = a.value_offsets();
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                h.write_u64((end - start) as u64);
                for entry in start..end {
                    keys.feed(entry, h);
                    values.feed(entry, h);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;

    #[test]
    fn matches_the_published_fnv1a_vectors() {
        let mut h = Fnv64::default();
        assert_eq!(h.finish(), 0xcbf2_9ce4_8422_2325);
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
        let mut h = Fnv64::default();
        h.write(b"foobar");
        assert_eq!(h.finish(), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn batch_digest_sees_values_nulls_and_order() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = |n: Vec<i64>, s: Vec<Option<&str>>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from(n)), Arc::new(StringArray::from(s))],
            )
            .unwrap()
        };
        let a = batch_digest(&batch(vec![1, 2], vec![Some("x"), None]));
        assert_eq!(a, batch_digest(&batch(vec![1, 2], vec![Some("x"), None])));
        assert_ne!(a, batch_digest(&batch(vec![2, 1], vec![Some("x"), None])));
        assert_ne!(a, batch_digest(&batch(vec![1, 2], vec![Some("x"), Some("")])));
    }
}
