//! Where a pass's tables come from: the catalog's signal tables in scope, most urgent first,
//! the tenants taking turns.
//!
//! The source remembers each table's state as this instance last read it; the next pass
//! orders by the urgency the step sees in it, then interleaves the tenants, so that one
//! tenant's many urgent tables never hold every slot of a pass's start.

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

    /// The signal tables of `catalog` in `scope`, in the order a pass takes them: each
    /// tenant's tables by urgency (tables this instance has not read yet first, then by
    /// `urgency` of the state the last pass left, largest first; ties spread by instance),
    /// and the tenants in turn, one table each per round, the tenant with the most urgent
    /// table first (see [`round_robin`]).
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
        round_robin(ids)
    }

    /// Remembers `state` as `id`'s, for the next pass's order.
    pub fn remember(&self, id: &TableId, state: &TableState) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.insert(id.clone(), state.clone());
    }
}

/// `ids`, most urgent first, interleaved by tenant: round after round, each tenant's next
/// table, the tenants in the order of their first (most urgent) table. A tenant with many
/// tables then takes one slot per round instead of every slot of the pass's start.
fn round_robin(ids: Vec<TableId>) -> Vec<TableId> {
    let mut tenants: Vec<std::collections::VecDeque<TableId>> = Vec::new();
    let mut slot: HashMap<String, usize> = HashMap::new();
    for id in ids {
        let next = tenants.len();
        let i = *slot.entry(id.tenant.clone()).or_insert(next);
        if i == next {
            tenants.push(std::collections::VecDeque::new());
        }
        tenants[i].push_back(id);
    }
    let mut out = Vec::with_capacity(tenants.iter().map(|t| t.len()).sum());
    while out.len() < out.capacity() {
        out.extend(tenants.iter_mut().filter_map(|t| t.pop_front()));
    }
    out
}

#[cfg(test)]
mod tests {
    use common::TableKind;

    use super::*;

    fn id(tenant: &str) -> TableId {
        TableId::new(tenant, "prod", TableKind::Logs).unwrap()
    }

    fn table(tenant: &str, dataset: &str) -> TableId {
        TableId::new(tenant, dataset, TableKind::Logs).unwrap()
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

    #[test]
    fn tenants_take_turns_after_urgency() {
        let source = TableSource::new("node-1");
        // "big" has four tables, each more urgent than any other tenant's.
        for (i, dataset) in ["a", "b", "c", "d"].into_iter().enumerate() {
            source.remember(&table("big", dataset), &state(100 + i as u64));
        }
        source.remember(&table("small", "a"), &state(10));
        source.remember(&table("small", "b"), &state(5));
        source.remember(&table("tiny", "a"), &state(1));
        let ids = ["a", "b", "c", "d"].map(|d| table("big", d)).into_iter();
        let ids = ids.chain([table("small", "b"), table("tiny", "a"), table("small", "a")]);
        let order = source.ordered(ids.collect(), |s| i64::try_from(s.small_files).unwrap());
        assert_eq!(
            order,
            [
                table("big", "d"),
                table("small", "a"),
                table("tiny", "a"),
                table("big", "c"),
                table("small", "b"),
                table("big", "b"),
                table("big", "a"),
            ]
        );
    }

    #[test]
    fn a_tenant_with_an_unread_table_goes_first() {
        let source = TableSource::new("node-1");
        source.remember(&table("busy", "a"), &state(500));
        source.remember(&table("busy", "b"), &state(400));
        source.remember(&table("new", "a"), &state(1));
        let ids =
            vec![table("busy", "a"), table("busy", "b"), table("new", "a"), table("new", "b")];
        let order = source.ordered(ids, |s| i64::try_from(s.small_files).unwrap());
        // "new"'s unread table "b" is the most urgent of all; its read one still waits for
        // the second round.
        assert_eq!(
            order,
            [table("new", "b"), table("busy", "a"), table("new", "a"), table("busy", "b")]
        );
    }

    #[test]
    fn round_robin_keeps_every_table_once() {
        let ids: Vec<TableId> =
            (0..30).map(|i| table(&format!("t{}", i % 4), &format!("d{i}"))).collect();
        let order = round_robin(ids.clone());
        let mut sorted = order.clone();
        sorted.sort();
        let mut expected = ids;
        expected.sort();
        assert_eq!(sorted, expected);
        // The first four are the four tenants, once each.
        let first: std::collections::BTreeSet<_> = order[..4].iter().map(|t| &t.tenant).collect();
        assert_eq!(first.len(), 4);
    }
}
