//! [`TableId`]: which tenant, dataset and table a signal table is, its Iceberg names and
//! location; and [`TableError`], the errors of building, naming or creating signal tables.

use std::fmt;

use iceberg::{NamespaceIdent, TableIdent};

use crate::ids::{InvalidId, validate_id};
use crate::signal::Signal;
use crate::table_kind::TableKind;

/// Errors from building, naming or creating signal tables.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A tenant or dataset id does not follow the id rule.
    #[error("invalid {what}: {source}")]
    InvalidId {
        /// `tenant` or `dataset`.
        what: &'static str,
        /// Why the id was refused.
        source: InvalidId,
    },
    /// An Iceberg name is not `tenant.dataset.table` with a known signal table.
    #[error("`{0}` is not a signal table (expected <tenant>.<dataset>.<table>, the table one of {names})", names = TableKind::ALL.map(TableKind::as_str).join(", "))]
    NotASignalTable(String),
    /// The layout asked for has no such table.
    #[error("the {layout} layout has no `{table}` table")]
    NotInLayout {
        /// The layout's name.
        layout: &'static str,
        /// The table asked for.
        table: TableKind,
    },
    /// The Iceberg library or the catalog refused an operation on a table.
    #[error("{action} table {table}: {source}")]
    Iceberg {
        /// What was being done.
        action: &'static str,
        /// The table concerned, as `tenant.dataset.table`.
        table: String,
        /// The underlying error.
        source: Box<iceberg::Error>,
    },
}

/// One signal table: which tenant, dataset and table it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    /// Tenant id, the first namespace level.
    pub tenant: String,
    /// Dataset id, the second namespace level.
    pub dataset: String,
    /// The table's name, which says its signal.
    pub table: TableKind,
}

impl TableId {
    /// Builds a table id after checking both ids against the id rule.
    pub fn new(tenant: &str, dataset: &str, table: TableKind) -> Result<Self, TableError> {
        validate_id(tenant).map_err(|source| TableError::InvalidId { what: "tenant", source })?;
        validate_id(dataset).map_err(|source| TableError::InvalidId { what: "dataset", source })?;
        Ok(Self { tenant: tenant.to_string(), dataset: dataset.to_string(), table })
    }

    /// The signal the table holds.
    pub fn signal(&self) -> Signal {
        self.table.signal()
    }

    /// The Iceberg namespace `[tenant, dataset]`.
    pub fn namespace(&self) -> NamespaceIdent {
        NamespaceIdent::from_vec(vec![self.tenant.clone(), self.dataset.clone()])
            .expect("two non-empty levels form a valid namespace")
    }

    /// The Iceberg table identifier `tenant.dataset.signal`.
    pub fn ident(&self) -> TableIdent {
        TableIdent::new(self.namespace(), self.table.as_str().to_string())
    }

    /// Recognises a signal table from its Iceberg identifier.
    pub fn from_ident(ident: &TableIdent) -> Result<Self, TableError> {
        let not_signal = || TableError::NotASignalTable(ident_string(ident));
        let levels = ident.namespace().as_ref();
        let [tenant, dataset] = levels.as_slice() else {
            return Err(not_signal());
        };
        let table = TableKind::from_name(ident.name()).ok_or_else(not_signal)?;
        Self::new(tenant, dataset, table)
    }

    /// The table's location under `warehouse`: `{warehouse}/{tenant}/{dataset}/{table}`.
    pub fn location(&self, warehouse: &str) -> String {
        format!(
            "{}/{}/{}/{}",
            warehouse.trim_end_matches('/'),
            self.tenant,
            self.dataset,
            self.table
        )
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.tenant, self.dataset, self.table)
    }
}

fn ident_string(ident: &TableIdent) -> String {
    format!("{}.{}", ident.namespace().join("."), ident.name())
}
