//! A table's own `write.*` properties, which win over `[compactor]` for its compacted files, as
//! in every Iceberg engine: target file size, Parquet codec and level, row-group, page and
//! dictionary sizes and per-column bloom filters. Every other property is only carried through
//! commits.

use std::collections::{BTreeMap, HashMap};

use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};

/// `write.target-file-size-bytes`.
pub(crate) const TARGET_FILE_SIZE: &str = "write.target-file-size-bytes";
/// `write.parquet.compression-codec`.
pub(crate) const CODEC: &str = "write.parquet.compression-codec";
/// `write.parquet.compression-level`.
pub(crate) const CODEC_LEVEL: &str = "write.parquet.compression-level";
/// `write.parquet.row-group-size-bytes`.
pub(crate) const ROW_GROUP_SIZE: &str = "write.parquet.row-group-size-bytes";
/// `write.parquet.page-size-bytes`.
pub(crate) const PAGE_SIZE: &str = "write.parquet.page-size-bytes";
/// `write.parquet.page-row-limit`.
pub(crate) const PAGE_ROWS: &str = "write.parquet.page-row-limit";
/// `write.parquet.dict-size-bytes`.
pub(crate) const DICT_SIZE: &str = "write.parquet.dict-size-bytes";
/// Prefix of `write.parquet.bloom-filter-enabled.column.<column>`.
pub(crate) const BLOOM_FILTER_PREFIX: &str = "write.parquet.bloom-filter-enabled.column.";

/// What a table's properties say about how its files are written; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteProperties {
    /// `write.target-file-size-bytes`.
    pub target_file_size_bytes: Option<u64>,
    /// `write.parquet.compression-codec` with `write.parquet.compression-level`.
    pub codec: Option<Compression>,
    /// Whether the table names the codec's level (`write.parquet.compression-level` beside a
    /// codec): then every column gets it, else compaction picks a level per column.
    pub codec_level_set: bool,
    /// `write.parquet.row-group-size-bytes`.
    pub row_group_bytes: Option<usize>,
    /// `write.parquet.page-size-bytes`.
    pub page_bytes: Option<usize>,
    /// `write.parquet.page-row-limit`.
    pub page_rows: Option<usize>,
    /// `write.parquet.dict-size-bytes`.
    pub dictionary_bytes: Option<usize>,
    /// `write.parquet.bloom-filter-enabled.column.<column>`, by column.
    pub bloom_filters: BTreeMap<String, bool>,
}

/// A `write.*` property whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("table property `{key}` = `{value}`: {reason}")]
pub struct BadProperty {
    /// The property.
    pub key: String,
    /// Its value.
    pub value: String,
    /// Why it is refused.
    pub reason: String,
}

impl WriteProperties {
    /// The write properties among a table's `properties`.
    pub fn from_table(properties: &HashMap<String, String>) -> Result<Self, BadProperty> {
        let bad = |key: &str, reason: &str| BadProperty {
            key: key.to_string(),
            value: properties.get(key).cloned().unwrap_or_default(),
            reason: reason.to_string(),
        };
        let positive = |key: &str, what: &str| -> Result<Option<u64>, BadProperty> {
            match properties.get(key) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(bad(key, &format!("expected a positive number of {what}"))),
                },
            }
        };
        let size = |key: &str, what: &str| -> Result<Option<usize>, BadProperty> {
            Ok(positive(key, what)?.map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
        };
        let target_file_size_bytes = positive(TARGET_FILE_SIZE, "bytes")?;
        let row_group_bytes = size(ROW_GROUP_SIZE, "bytes")?;
        let page_bytes = size(PAGE_SIZE, "bytes")?;
        let page_rows = size(PAGE_ROWS, "rows")?;
        let dictionary_bytes = size(DICT_SIZE, "bytes")?;
        let level = match properties.get(CODEC_LEVEL) {
            None => None,
            Some(v) => {
                Some(v.trim().parse::<i32>().map_err(|_| bad(CODEC_LEVEL, "expected an integer"))?)
            }
        };
        let codec = match properties.get(CODEC) {
            None => None,
            Some(name) => Some(codec(name, level).map_err(|reason| {
                let key = if reason.contains("level") { CODEC_LEVEL } else { CODEC };
                bad(key, &reason)
            })?),
        };
        let mut bloom_filters = BTreeMap::new();
        for (key, value) in properties {
            if let Some(column) = key.strip_prefix(BLOOM_FILTER_PREFIX) {
                let enabled = match value.trim().to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad(key, "expected true or false")),
                };
                bloom_filters.insert(column.to_string(), enabled);
            }
        }
        let codec_level_set = codec.is_some() && level.is_some();
        Ok(Self {
            target_file_size_bytes,
            codec,
            codec_level_set,
            row_group_bytes,
            page_bytes,
            page_rows,
            dictionary_bytes,
            bloom_filters,
        })
    }
}

/// The Parquet codec Iceberg names `name`, at `level` when set.
fn codec(name: &str, level: Option<i32>) -> Result<Compression, String> {
    let bad_level = |e: parquet::errors::ParquetError| format!("level {level:?}: {e}");
    let c = match name.trim().to_ascii_lowercase().as_str() {
        "zstd" => Compression::ZSTD(match level {
            Some(l) => ZstdLevel::try_new(l).map_err(bad_level)?,
            None => ZstdLevel::default(),
        }),
        "gzip" => Compression::GZIP(match level {
            Some(l) => {
                GzipLevel::try_new(u32::try_from(l).map_err(|_| format!("level {l} is negative"))?)
                    .map_err(bad_level)?
            }
            None => GzipLevel::default(),
        }),
        "brotli" => Compression::BROTLI(match level {
            Some(l) => BrotliLevel::try_new(
                u32::try_from(l).map_err(|_| format!("level {l} is negative"))?,
            )
            .map_err(bad_level)?,
            None => BrotliLevel::default(),
        }),
        "snappy" => Compression::SNAPPY,
        "lz4" => Compression::LZ4_RAW,
        "uncompressed" | "none" => Compression::UNCOMPRESSED,
        other => {
            return Err(format!(
                "unknown codec `{other}` (expected zstd, gzip, brotli, snappy, lz4 or uncompressed)"
            ));
        }
    };
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_write_property_is_read() {
        let p = WriteProperties::from_table(&props(&[
            (TARGET_FILE_SIZE, "1048576"),
            (CODEC, "zstd"),
            (CODEC_LEVEL, "1"),
            (ROW_GROUP_SIZE, "65536"),
            (PAGE_SIZE, "8192"),
            (PAGE_ROWS, "5000"),
            (DICT_SIZE, "4096"),
            ("write.parquet.bloom-filter-enabled.column.trace_id", "false"),
            ("write.parquet.bloom-filter-enabled.column.span_id", "TRUE"),
            ("signaldb.wal.committed.w1", "42"),
        ]))
        .unwrap();
        assert_eq!(p.target_file_size_bytes, Some(1_048_576));
        assert_eq!(p.codec, Some(Compression::ZSTD(ZstdLevel::try_new(1).unwrap())));
        assert!(p.codec_level_set);
        assert_eq!(p.row_group_bytes, Some(65_536));
        assert_eq!(
            (p.page_bytes, p.page_rows, p.dictionary_bytes),
            (Some(8192), Some(5000), Some(4096))
        );
        let filters: Vec<(&str, bool)> =
            p.bloom_filters.iter().map(|(c, e)| (c.as_str(), *e)).collect();
        assert_eq!(filters, [("span_id", true), ("trace_id", false)]);
        assert_eq!(
            WriteProperties::from_table(&HashMap::new()).unwrap(),
            WriteProperties::default()
        );
        let snappy = WriteProperties::from_table(&props(&[(CODEC, "SNAPPY")])).unwrap();
        assert_eq!(snappy.codec, Some(Compression::SNAPPY));
        assert!(!snappy.codec_level_set);
    }

    #[test]
    fn a_bad_value_names_the_property() {
        for (pairs, key) in [
            (vec![(TARGET_FILE_SIZE, "big")], TARGET_FILE_SIZE),
            (vec![(TARGET_FILE_SIZE, "0")], TARGET_FILE_SIZE),
            (vec![(CODEC, "zip")], CODEC),
            (vec![(PAGE_SIZE, "-1")], PAGE_SIZE),
            (vec![(PAGE_ROWS, "0")], PAGE_ROWS),
            (vec![(DICT_SIZE, "1 MiB")], DICT_SIZE),
            (vec![(CODEC, "zstd"), (CODEC_LEVEL, "99")], CODEC_LEVEL),
            (vec![(CODEC, "zstd"), (CODEC_LEVEL, "x")], CODEC_LEVEL),
            (
                vec![("write.parquet.bloom-filter-enabled.column.a", "yes")],
                "write.parquet.bloom-filter-enabled.column.a",
            ),
        ] {
            let err = WriteProperties::from_table(&props(&pairs)).unwrap_err();
            assert_eq!(err.key, key, "{err}");
            assert!(err.to_string().starts_with(&format!("table property `{key}`")), "{err}");
        }
    }
}
