//! Where cleanup refuses to look: a table whose location is shared with, contains or lies
//! inside another table's location (its listing would show the other table's files, which its
//! own metadata does not reference), or lies outside the configured warehouse.
//!
//! The check is made against every table of the catalog, not only those in the pass's scope,
//! and against every root another table's files may lie under (its location, and the
//! `write.data.path`-style properties that move its data or metadata elsewhere), by whole path
//! segments (`…/traces_old` is not inside `…/traces`). It never guesses: a
//! table whose metadata cannot be read is placed where its recorded metadata path implies
//! (`<location>/metadata/…`); when even that is not possible, every cleanup refuses, since the
//! table could be anywhere.

use common::catalog::{CatalogError, SignalCatalog};
use futures::StreamExt;
use iceberg::TableIdent;

use super::paths::{NormalPath, PathError};
use crate::log_target;

/// Why cleanup of one table was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The table's location cannot be normalised.
    #[error("refusing orphan cleanup of table {table}: its location is unusable: {source}")]
    Unusable {
        /// The table.
        table: String,
        /// Why.
        source: PathError,
    },
    /// The table lies outside the warehouse (or is the warehouse root itself).
    #[error(
        "refusing orphan cleanup of table {table}: its location `{location}` is not inside the \
         warehouse `{warehouse}`"
    )]
    OutsideWarehouse {
        /// The table.
        table: String,
        /// Its location.
        location: String,
        /// The warehouse location.
        warehouse: String,
    },
    /// Another table's files could appear in this table's listing.
    #[error(
        "refusing orphan cleanup of table {table}: its location `{location}` {relation} the \
         location `{other_location}` of table {other}"
    )]
    Shared {
        /// The table.
        table: String,
        /// Its location.
        location: String,
        /// `is the same as`, `contains` or `lies inside`.
        relation: &'static str,
        /// The other table.
        other: String,
        /// Its location.
        other_location: String,
    },
    /// Another table's location is unknown, so overlap cannot be ruled out.
    #[error(
        "refusing orphan cleanup of table {table}: the location of table {other} could not be \
         read ({reason}), so it might share this table's location"
    )]
    UnknownOther {
        /// The table.
        table: String,
        /// The table whose location is unknown.
        other: String,
        /// Why it is unknown.
        reason: String,
    },
}

/// The location of every table of the catalog, read once per pass.
#[derive(Debug, Clone)]
pub(crate) struct LocationIndex {
    warehouse: String,
    tables: Vec<(String, Result<Vec<String>, String>)>,
}

/// Table properties with which Iceberg writers (iceberg-rust, pyiceberg, Java) put a table's
/// files outside its location; a table's files can lie under any of them.
pub(crate) const WRITE_ROOT_PROPERTIES: [&str; 4] = [
    "write.data.path",
    "write.folder-storage.path",
    "write.object-storage.path",
    "write.metadata.path",
];

/// `ns.name` of an Iceberg identifier.
pub(crate) fn ident_name(ident: &TableIdent) -> String {
    format!("{}.{}", ident.namespace().join("."), ident.name())
}

impl LocationIndex {
    /// An index of the given tables: `name`, and every root its files may lie under (its
    /// location first, then the roots of [`WRITE_ROOT_PROPERTIES`]) or why they are unknown.
    pub(crate) fn new(warehouse: &str, tables: Vec<(String, Result<Vec<String>, String>)>) -> Self {
        Self { warehouse: warehouse.to_string(), tables }
    }

    /// Reads the location and write roots of every table registered in `catalog`.
    pub(crate) async fn load(catalog: &SignalCatalog) -> Result<Self, CatalogError> {
        let idents = catalog.list_table_idents().await?;
        let tables = futures::stream::iter(idents)
            .map(|ident| async move {
                let location = match catalog.load_table(&ident).await {
                    Ok(table) => {
                        let md = table.metadata();
                        let props = md.properties();
                        let roots = WRITE_ROOT_PROPERTIES.iter().filter_map(|k| props.get(*k));
                        Ok(std::iter::once(md.location())
                            .chain(roots.map(String::as_str))
                            .map(str::to_string)
                            .collect())
                    }
                    Err(e) => {
                        implied_location(catalog, &ident, e.to_string()).await.map(|l| vec![l])
                    }
                };
                (ident_name(&ident), location)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        Ok(Self::new(catalog.warehouse_location(), tables))
    }

    /// Checks that `table` at `location` may be cleaned, returning its normalised location.
    pub(crate) fn check(&self, table: &str, location: &str) -> Result<NormalPath, Refusal> {
        let unusable = |source| Refusal::Unusable { table: table.to_string(), source };
        let mine = NormalPath::parse(location).map_err(unusable)?;
        let outside = || Refusal::OutsideWarehouse {
            table: table.to_string(),
            location: location.to_string(),
            warehouse: self.warehouse.clone(),
        };
        let warehouse = NormalPath::parse(&self.warehouse).map_err(|_| outside())?;
        if !mine.is_within(&warehouse) || mine == warehouse {
            return Err(outside());
        }
        for (other, roots) in self.tables.iter().filter(|(name, _)| name != table) {
            let unknown = |reason: String| Refusal::UnknownOther {
                table: table.to_string(),
                other: other.clone(),
                reason,
            };
            let roots = roots.as_ref().map_err(|reason| unknown(reason.clone()))?;
            for other_location in roots {
                let theirs =
                    NormalPath::parse(other_location).map_err(|e| unknown(e.to_string()))?;
                let relation = match (mine.is_within(&theirs), theirs.is_within(&mine)) {
                    (true, true) => "is the same as",
                    (false, true) => "contains",
                    (true, false) => "lies inside",
                    (false, false) => continue,
                };
                return Err(Refusal::Shared {
                    table: table.to_string(),
                    location: location.to_string(),
                    relation,
                    other: other.clone(),
                    other_location: other_location.clone(),
                });
            }
        }
        Ok(mine)
    }
}

/// The location of a table whose metadata cannot be loaded, implied by the metadata location
/// the catalog records for it (`<location>/metadata/<file>.metadata.json`, where every writer
/// we know of puts it by default). Anything else stays unknown (`Err`), which refuses every
/// cleanup: the table could be anywhere.
async fn implied_location(
    catalog: &SignalCatalog,
    ident: &TableIdent,
    load_error: String,
) -> Result<String, String> {
    let recorded = match catalog.metadata_location(ident).await {
        Ok(Some(recorded)) => recorded,
        Ok(None) => return Err(format!("{load_error}; no metadata location is recorded")),
        Err(e) => return Err(format!("{load_error}; reading its metadata location: {e}")),
    };
    match location_of_metadata(&recorded) {
        Some(location) => {
            tracing::warn!(
                target: log_target::ORPHAN, table = %ident_name(ident), error = %load_error,
                implied = location,
                "Table metadata unreadable; checking overlap against the location its metadata \
                 path implies"
            );
            Ok(location.to_string())
        }
        None => Err(format!(
            "{load_error}; its metadata location `{recorded}` is not under a `metadata/` directory"
        )),
    }
}

/// `<location>` of `<location>/metadata/<name>.metadata.json`.
fn location_of_metadata(metadata: &str) -> Option<&str> {
    let (dir, file) = metadata.rsplit_once('/')?;
    let (location, last) = dir.rsplit_once('/')?;
    (last == "metadata" && file.ends_with(".metadata.json") && !location.is_empty())
        .then_some(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(tables: &[(&str, Result<&str, &str>)]) -> LocationIndex {
        let tables = tables
            .iter()
            .map(|(n, l)| (n.to_string(), l.map(|l| vec![l.to_string()]).map_err(str::to_string)))
            .collect();
        LocationIndex::new("file:///w", tables)
    }

    #[test]
    fn an_unreadable_table_is_placed_by_its_metadata_path_or_stays_unknown() {
        let implied =
            location_of_metadata("s3://b/w/acme/prod/logs/metadata/00003-x.metadata.json");
        assert_eq!(implied, Some("s3://b/w/acme/prod/logs"));
        assert_eq!(
            location_of_metadata("s3://b/w/acme/prod/logs/meta/00003-x.metadata.json"),
            None
        );
        assert_eq!(location_of_metadata("s3://b/w/acme/prod/logs/metadata/x.json"), None);
        assert_eq!(location_of_metadata("/metadata/00001-x.metadata.json"), None);
    }

    #[test]
    fn another_tables_write_path_inside_this_location_is_refused() {
        let roots = |v: &[&str]| Ok(v.iter().map(|s| s.to_string()).collect());
        let idx = LocationIndex::new(
            "file:///w",
            vec![
                ("acme.prod.traces".into(), roots(&["file:///w/acme/prod/traces"])),
                (
                    "acme.prod.logs".into(),
                    roots(&["file:///w/acme/prod/logs", "file:///w/acme/prod/traces/data/logs"]),
                ),
            ],
        );
        let err = idx.check("acme.prod.traces", "file:///w/acme/prod/traces").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("contains") && text.contains("acme.prod.logs"), "{text}");
        assert!(text.contains("traces/data/logs"), "{text}");
        // The other way round nothing overlaps: logs' own location is apart from traces.
        idx.check("acme.prod.logs", "file:///w/acme/prod/logs").unwrap();
    }

    #[test]
    fn separate_tables_and_look_alike_prefixes_pass() {
        let idx = index(&[
            ("acme.prod.traces", Ok("file:///w/acme/prod/traces")),
            ("acme.prod.traces_old", Ok("file:/w/acme/prod/traces_old")),
            ("other.prod.traces", Ok("/w/other/prod/traces")),
        ]);
        let got = idx.check("acme.prod.traces", "file:///w/acme/prod/traces").unwrap();
        assert_eq!(got.as_str(), "file:///w/acme/prod/traces");
        idx.check("acme.prod.traces_old", "file:///w/acme/prod/traces_old").unwrap();
    }

    #[test]
    fn equal_nested_and_containing_locations_are_refused_naming_both() {
        let idx = index(&[
            ("acme.prod.traces", Ok("file:///w/acme/prod/traces")),
            ("acme.prod.copy", Ok("file:///w//acme/prod/traces/")),
            ("acme.prod.inner", Ok("file:///w/acme/prod/traces/data/inner")),
        ]);
        let e = idx.check("acme.prod.traces", "file:///w/acme/prod/traces").unwrap_err();
        assert!(matches!(e, Refusal::Shared { relation: "is the same as", .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("acme.prod.traces") && text.contains("acme.prod.copy"), "{text}");
        let e = idx.check("acme.prod.inner", "file:///w/acme/prod/traces/data/inner").unwrap_err();
        assert!(matches!(e, Refusal::Shared { relation: "lies inside", .. }), "{e}");
        let idx = index(&[
            ("acme.all", Ok("file:///w/acme")),
            ("acme.prod.traces", Ok("file:///w/acme/prod/traces")),
        ]);
        let e = idx.check("acme.all", "file:///w/acme").unwrap_err();
        assert!(matches!(e, Refusal::Shared { relation: "contains", .. }), "{e}");
    }

    #[test]
    fn outside_the_warehouse_or_at_its_root_or_unknown_neighbours_are_refused() {
        let idx = index(&[("acme.prod.traces", Ok("file:///elsewhere/acme/prod/traces"))]);
        let e = idx.check("acme.prod.traces", "file:///elsewhere/acme/prod/traces").unwrap_err();
        assert!(matches!(e, Refusal::OutsideWarehouse { .. }), "{e}");
        assert!(matches!(idx.check("x.y", "file:///w"), Err(Refusal::OutsideWarehouse { .. })));
        assert!(matches!(idx.check("x.y", "s3://w/x"), Err(Refusal::OutsideWarehouse { .. })));
        assert!(matches!(idx.check("x.y", "gs://w/x"), Err(Refusal::Unusable { .. })));
        let idx = index(&[
            ("acme.prod.traces", Ok("file:///w/acme/prod/traces")),
            ("acme.prod.broken", Err("metadata file missing")),
        ]);
        let e = idx.check("acme.prod.traces", "file:///w/acme/prod/traces").unwrap_err();
        assert!(e.to_string().contains("acme.prod.broken"), "{e}");
    }
}
