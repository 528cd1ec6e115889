//! The one error of the state store: which table's repository, what it was doing, and the
//! database's error.

use std::fmt;

use crate::failure::{Classify, FailureKind};

/// The part of the state store a failed statement belonged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The migrations of the store's tables.
    Migrations,
    /// The table leases.
    Leases,
    /// The run history.
    Runs,
    /// The orphan-cleanup checkpoints.
    Checkpoints,
    /// The marks of tables a job found idle.
    Idle,
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Migrations => "state migration",
            Self::Leases => "lease",
            Self::Runs => "run history",
            Self::Checkpoints => "orphan cleanup checkpoint",
            Self::Idle => "idle table mark",
        })
    }
}

/// A failed statement of the state store.
#[derive(Debug, thiserror::Error)]
#[error("{store} ({action}): {source}")]
pub struct StateError {
    /// Whose statement failed.
    pub store: Store,
    /// What was being done.
    pub action: &'static str,
    /// The database's error.
    pub source: sqlx::Error,
}

impl StateError {
    /// A constructor of `store`'s errors while doing `action`, for `map_err`.
    pub(super) fn of(store: Store, action: &'static str) -> impl Fn(sqlx::Error) -> Self {
        move |source| Self { store, action, source }
    }
}

impl Classify for StateError {
    fn failure_kind(&self) -> FailureKind {
        FailureKind::Catalog
    }
}
