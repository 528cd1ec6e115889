//! Where a pass's tables come from: the catalog's signal tables in scope, most urgent first.
//!
//! The source remembers each table's state as this instance last read it; the next pass
//! orders by the urgency the step sees in it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use common::catalog::{CatalogError, SignalCatalog, list_signal_tables};
use common::tables::TableId;

use crate::job::Scope;
use crate::table_state::TableState;

/// Lists, filters and orders the tables of a pass.
#[derive(Debug, Default)]
pub struct TableSource {
    /// Spreads ties: instances starting together begin on different tables.
    instance: String,
    /// Each table's state as this instance last read it.
    known: Mutex<HashMap<TableId, TableState>>,
}

impl TableSource {
    /// A source whose ties are spread by `instance`.
    pub fn new(instance: &str) -> Self {
        Self { instance: instance.to_string(), known: Mutex::default() }
    }

    /// The signal tables of `catalog` in `scope`, in the order a pass takes them: tables this
    /// instance has not read yet first, then by `urgency` of the state the last pass left
    /// (largest first); ties spread by instance.
    pub async fn tables(
        &self,
        catalog: &SignalCatalog,
        scope: &Scope,
        urgency: impl Fn(&TableState) -> i64,
    ) -> Result<Vec<TableId>, CatalogError> {
        let ids = list_signal_tables(catalog, scope.tenant.as_deref(), scope.dataset.as_deref())
            .await?
            .into_iter()
            .filter(|id| scope.contains(id))
            .collect();
        Ok(self.ordered(ids, urgency))
    }

    /// `ids` in pass order (see [`TableSource::tables`]).
    fn ordered(&self, mut ids: Vec<TableId>, urgency: impl Fn(&TableState) -> i64) -> Vec<TableId> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        ids.sort_by_cached_key(|id| {
            let urgency = known.get(id).map(&urgency);
            let mut spread = std::hash::DefaultHasher::new();
            (self.instance.as_str(), id).hash(&mut spread);
            (urgency.is_some(), std::cmp::Reverse(urgency), spread.finish())
        });
        ids
    }

    /// Remembers `state` as `id`'s, for the next pass's order.
    pub fn remember(&self, id: &TableId, state: &TableState) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.insert(id.clone(), state.clone());
    }
}

#[cfg(test)]
mod tests {
    use common::TableKind;

    use super::*;

    fn id(tenant: &str) -> TableId {
        TableId::new(tenant, "prod", TableKind::Logs).unwrap()
    }

    fn state(small_files: u64) -> TableState {
        TableState { small_files, ..TableState::default() }
    }

    #[test]
    fn unread_tables_come_first_then_the_most_urgent() {
        let source = TableSource::new("node-1");
        source.remember(&id("calm"), &state(1));
        source.remember(&id("busy"), &state(50));
        let order = source.ordered(vec![id("calm"), id("busy"), id("new")], |s| {
            i64::try_from(s.small_files).unwrap()
        });
        assert_eq!(order, [id("new"), id("busy"), id("calm")]);
    }

    #[test]
    fn ties_are_spread_differently_by_instance() {
        let ids: Vec<TableId> = (0..16).map(|i| id(&format!("t{i}"))).collect();
        let a = TableSource::new("node-a").ordered(ids.clone(), |_| 0);
        let b = TableSource::new("node-b").ordered(ids.clone(), |_| 0);
        assert_ne!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        let mut expected = ids;
        expected.sort();
        assert_eq!(sorted, expected);
    }
}
