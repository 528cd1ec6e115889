//! The SQL dialect of the catalog database: every statement on it is written once, with `?`
//! placeholders, and rendered for the backend that holds the catalog.

use iceberg_catalog_sql::SqlBindStyle;

use crate::config::CatalogBackend;

/// The placeholder style of `backend`'s SQL dialect.
pub fn bind_style(backend: CatalogBackend) -> SqlBindStyle {
    match backend {
        CatalogBackend::Sqlite => SqlBindStyle::QMark,
        CatalogBackend::Postgres => SqlBindStyle::DollarNumeric,
    }
}

/// How a catalog backend spells statement placeholders: `?` (SQLite) or `$1, $2, …` (PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlDialect {
    backend: CatalogBackend,
}

impl SqlDialect {
    /// The dialect of `backend`.
    pub const fn new(backend: CatalogBackend) -> Self {
        Self { backend }
    }

    /// The database engine this dialect is for.
    pub const fn backend(self) -> CatalogBackend {
        self.backend
    }

    /// `statement`, written with `?` placeholders, in this dialect: unchanged for SQLite, each
    /// `?` numbered `$1`, `$2`, … in order for PostgreSQL. Every `?` counts as a placeholder, so
    /// a statement must not contain one inside a literal or an identifier.
    pub fn sql(self, statement: &str) -> String {
        match self.backend {
            CatalogBackend::Sqlite => statement.to_string(),
            CatalogBackend::Postgres => {
                let mut out = String::with_capacity(statement.len() + 8);
                for (n, part) in statement.split('?').enumerate() {
                    if n > 0 {
                        out.push('$');
                        out.push_str(&n.to_string());
                    }
                    out.push_str(part);
                }
                out
            }
        }
    }
}

impl From<CatalogBackend> for SqlDialect {
    fn from(backend: CatalogBackend) -> Self {
        Self::new(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SELECT: &str = "SELECT a FROM t WHERE x = ? AND y = ? AND z IN (?, ?)";

    #[test]
    fn sqlite_statements_are_unchanged() {
        assert_eq!(SqlDialect::new(CatalogBackend::Sqlite).sql(SELECT), SELECT);
    }

    #[test]
    fn postgres_placeholders_are_numbered_in_order() {
        let pg = SqlDialect::from(CatalogBackend::Postgres);
        assert_eq!(pg.sql(SELECT), "SELECT a FROM t WHERE x = $1 AND y = $2 AND z IN ($3, $4)");
        assert_eq!(pg.sql("VALUES (?,?)"), "VALUES ($1,$2)");
        assert_eq!(pg.sql("? ?"), "$1 $2");
        let eleven = ["?"; 11].join(", ");
        assert!(pg.sql(&eleven).ends_with("$9, $10, $11"), "{}", pg.sql(&eleven));
    }

    #[test]
    fn statements_without_placeholders_are_unchanged_everywhere() {
        let ddl = "CREATE TABLE IF NOT EXISTS t (a BIGINT NOT NULL)";
        for backend in [CatalogBackend::Sqlite, CatalogBackend::Postgres] {
            assert_eq!(SqlDialect::new(backend).sql(ddl), ddl);
            assert_eq!(SqlDialect::new(backend).backend(), backend);
        }
    }

    #[test]
    fn bind_styles_match_the_dialects() {
        assert_eq!(bind_style(CatalogBackend::Sqlite), SqlBindStyle::QMark);
        assert_eq!(bind_style(CatalogBackend::Postgres), SqlBindStyle::DollarNumeric);
    }
}
