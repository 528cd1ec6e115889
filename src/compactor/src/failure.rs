//! What kind of failure stopped work on a table: a small closed set every error type maps to,
//! carried typed from the step to the report, the run history (`error_kind`) and the `kind`
//! label of `compactor_table_failures_total`. The message stays a string; the kind does not.

use serde::{Deserialize, Serialize};

/// The kind of a failure, as operators group them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The catalog database (or the Iceberg catalog on it) refused or could not be reached.
    Catalog,
    /// The object store could not be read or written.
    Storage,
    /// A commit lost to other writers more often than allowed, or its outcome is unknown.
    Conflict,
    /// The table's lease was lost or could not be taken: another instance owns the work now.
    Fenced,
    /// A file or metadata of the table does not say what its manifests or spec say.
    CorruptInput,
    /// The table does not fit the configuration or what the compactor can write.
    UnfitTable,
    /// Work stopped because the pass was cancelled (a shutdown, an operator's cancel).
    Cancelled,
    /// Anything else: a bug or an unexpected answer.
    Internal,
}

impl FailureKind {
    /// Every kind, in a stable order.
    pub const ALL: [FailureKind; 8] = [
        Self::Catalog,
        Self::Storage,
        Self::Conflict,
        Self::Fenced,
        Self::CorruptInput,
        Self::UnfitTable,
        Self::Cancelled,
        Self::Internal,
    ];

    /// The stable name: the `kind` label value and the run history's `error_kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Catalog => "catalog",
            Self::Storage => "storage",
            Self::Conflict => "conflict",
            Self::Fenced => "fenced",
            Self::CorruptInput => "corrupt_input",
            Self::UnfitTable => "unfit_table",
            Self::Cancelled => "cancelled",
            Self::Internal => "internal",
        }
    }

    /// The kind named `s` ([`FailureKind::as_str`]); `None` for a name no version wrote.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of an error from the Iceberg library, by its own classification.
    pub fn of_iceberg(e: &iceberg::Error) -> Self {
        use iceberg::ErrorKind as K;
        match e.kind() {
            K::DataInvalid => Self::CorruptInput,
            K::FeatureUnsupported => Self::UnfitTable,
            K::CatalogCommitConflicts => Self::Conflict,
            K::NamespaceNotFound | K::TableNotFound | K::NamespaceAlreadyExists => Self::Catalog,
            K::TableAlreadyExists => Self::Catalog,
            // Reading a file the store could not serve is the common case of the rest.
            _ => Self::Storage,
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that can say which [`FailureKind`] it is.
pub trait Classify {
    /// The kind of this failure.
    fn failure_kind(&self) -> FailureKind;
}

/// A failure on one table: its kind and the message that names what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure it was.
    pub kind: FailureKind,
    /// What failed, naming the file, table or key at fault.
    pub message: String,
}

impl Failure {
    /// A failure of `kind` described by `message`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// The failure `error` is, by its own classification.
    pub fn of<E: Classify + std::fmt::Display + ?Sized>(error: &E) -> Self {
        Self::new(error.failure_kind(), error.to_string())
    }

    /// Several failures of one table as one: the first one's kind, the messages joined by
    /// `; `. `None` when there are none.
    pub fn joined(failures: impl IntoIterator<Item = Failure>) -> Option<Self> {
        let mut iter = failures.into_iter();
        let first = iter.next()?;
        Some(iter.fold(first, |mut all, next| {
            all.message.push_str("; ");
            all.message.push_str(&next.message);
            all
        }))
    }
}

/// A failure serialises as its message: the `error` of reports and JSON output.
impl Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        for kind in FailureKind::ALL {
            assert_eq!(FailureKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(FailureKind::parse("gremlins"), None);
    }

    #[test]
    fn joined_failures_keep_the_first_kind_and_every_message() {
        let joined = Failure::joined([
            Failure::new(FailureKind::Storage, "hour=2026-01-01-00: reading a.parquet"),
            Failure::new(FailureKind::Catalog, "manifest merge: pool timed out"),
        ])
        .unwrap();
        assert_eq!(joined.kind, FailureKind::Storage);
        assert_eq!(
            joined.message,
            "hour=2026-01-01-00: reading a.parquet; manifest merge: pool timed out"
        );
        assert_eq!(Failure::joined(Vec::new()), None);
    }

    #[test]
    fn iceberg_errors_are_classified_by_their_kind() {
        let e = |k| iceberg::Error::new(k, "x");
        assert_eq!(
            FailureKind::of_iceberg(&e(iceberg::ErrorKind::DataInvalid)),
            FailureKind::CorruptInput
        );
        assert_eq!(
            FailureKind::of_iceberg(&e(iceberg::ErrorKind::FeatureUnsupported)),
            FailureKind::UnfitTable
        );
        assert_eq!(
            FailureKind::of_iceberg(&e(iceberg::ErrorKind::Unexpected)),
            FailureKind::Storage
        );
    }
}
