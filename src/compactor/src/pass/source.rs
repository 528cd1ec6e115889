//! the tenants taking turns, less those unchanged since a run of the job found nothing to do on
//! them.
//!
//! The source remembers each table's state as this instance last read it; the next pass
//! orders by the urgency the step sees in it, then interleaves the tenants, so that one
//! tenant's many urgent tables never hold every slot of a pass's start. With [`SkipUnchanged`], one catalog query lists
//! every table's metadata location and one reads the job's idle marks (`state::IdleMarks`): a
//! table still at the location where a run found it idle, under the same settings and within
//! the full-check interval, is counted and left unloaded. After each run the source marks the
//! table idle, or clears its mark, for the passes that follow.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::catalog::{CatalogError, SignalCatalog, list_signal_table_pointers};
use common::tables::TableId;
use tracing::warn;

use super::table_run::TableRun;
use crate::job::{JobKind, Scope};
use crate::log_target;
use crate::state::{IdleMark, StateStore};
use crate::table_state::TableState;

/// When a pass leaves a table unloaded: its metadata location has not changed since a run of
/// the job found nothing to do on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipUnchanged {
    /// Every table is loaded at least this often, pass start to pass start: partitions close
    /// and expire, and files age past grace periods, with time alone.
    pub full_check: Duration,
    /// A fingerprint of the settings the job plans with: a mark made under other settings
    /// does not count.
    pub settings: String,
    /// Whether a table this source has not read yet is loaded anyway (the daemon: its first
    /// pass sets every table's gauges).
    pub load_unread: bool,
}

impl SkipUnchanged {
    /// Whether `mark` lets a pass starting at `now` leave a table that points at `location`
    /// unloaded: same location, same settings, checked less than the full-check interval ago
    /// (a check due within the next twentieth of it is made now, so a pass one interval after
    /// the last check never misses it by a few milliseconds). A mark from the future (another
    /// clock) does not count.
    pub(crate) fn lets_skip(
        &self,
        mark: Option<&IdleMark>,
        location: Option<&str>,
        now: DateTime<Utc>,
    ) -> bool {
        let (Some(mark), Some(location)) = (mark, location) else { return false };
        let Ok(age) = (now - mark.checked_at).to_std() else { return false };
        mark.metadata_location == location
            && mark.settings == self.settings
            && !due(age, self.full_check)
    }
}

/// Whether something last done `age` ago is due again, every `interval` (a twentieth early).
pub(crate) fn due(age: Duration, interval: Duration) -> bool {
    age + interval / 20 >= interval
}

/// The tables a pass loads, and those it leaves unloaded.
#[derive(Debug, Default)]
pub struct Listing {
    /// The tables to load, in pass order.
    pub tables: Vec<TableId>,
    /// How many tables in scope were left unloaded (unchanged since an idle run).
    pub unchanged: usize,
    /// The tables to load that hold an idle mark (cleared when their run is not idle).
    marked: HashSet<TableId>,
}

/// Lists, filters and orders the tables of a pass.
#[derive(Debug, Default)]
pub struct TableSource {
    /// Spreads ties: instances starting together begin on different tables.
    instance: String,
    /// Each table's state as this instance last read it.
    known: Mutex<HashMap<TableId, TableState>>,
    /// When unchanged idle tables are left unloaded; `None` loads every table.
    skip: Option<SkipUnchanged>,
}

impl TableSource {
    /// A source whose ties are spread by `instance`.
    pub fn new(instance: &str) -> Self {
        Self { instance: instance.to_string(), ..Self::default() }
    }

    /// This source, leaving unchanged idle tables unloaded as `skip` says.
    pub fn skipping(self, skip: SkipUnchanged) -> Self {
        Self { skip: Some(skip), ..self }
    }

    /// The signal tables of `catalog` in `scope`, in the order a pass takes them: each
    /// tenant's tables by urgency (tables this instance has not read yet first, then by
    /// `urgency` of the state the last pass left, largest first; ties spread by instance),
    /// and the tenants in turn, one table each per round, the tenant with the most urgent
    /// table first (see [`round_robin`]). With [`SkipUnchanged`], the tables whose `job` mark
    /// in `store` lets a pass starting at `now` skip them are only counted, unless the pass is
    /// a dry run (asked for its report of every table).
    pub async fn tables(
        &self,
        catalog: &SignalCatalog,
        store: Option<&StateStore>,
        scope: &Scope,
        job: JobKind,
        now: DateTime<Utc>,
        urgency: impl Fn(&TableState) -> i64,
    ) -> Result<Listing, CatalogError> {
        let (tenant, dataset) = (scope.tenant.as_deref(), scope.dataset.as_deref());
        let pointers = list_signal_table_pointers(catalog, tenant, dataset)
            .await?
            .into_iter()
            .filter(|p| scope.contains(&p.id));
        let marks = match (&self.skip, store) {
            (Some(_), Some(store)) => store.idle().of_job(job).await.unwrap_or_else(|e| {
                warn!(target: log_target::SERVICE, job = %job, error = %e, "Idle tables are loaded: their marks could not be read");
                HashMap::new()
            }),
            _ => HashMap::new(),
        };
        let mut listing = Listing::default();
        let mut ids = Vec::new();
        {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            for pointer in pointers {
                let mark = marks.get(&pointer.id);
                // A dry run is asked for its report: it loads every table.
                let skip = self.skip.as_ref().filter(|_| !scope.dry_run).is_some_and(|skip| {
                    skip.lets_skip(mark, pointer.metadata_location.as_deref(), now)
                        && (!skip.load_unread || known.contains_key(&pointer.id))
                });
                if skip {
                    listing.unchanged += 1;
                    continue;
                }
                if mark.is_some() {
                    listing.marked.insert(pointer.id.clone());
                }
                ids.push(pointer.id);
            }
        }
        listing.tables = self.ordered(ids, urgency);
        Ok(listing)
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

    /// Records what `run` found, for the passes after the one that started at `pass_started`
    /// (listed in `listing`): a run that found nothing to do marks its table idle at the
    /// metadata location its step read; any other run that worked on the table clears the
    /// mark it had. A table left to another lease holder keeps its mark.
    pub async fn settle(
        &self,
        store: Option<&StateStore>,
        listing: &Listing,
        run: &TableRun,
        pass_started: DateTime<Utc>,
    ) {
        let (Some(skip), Some(store)) = (&self.skip, store) else { return };
        if run.skipped() {
            return;
        }
        let marks = store.idle();
        let result = match (run.idle(), &run.metadata_location) {
            (true, Some(location)) => {
                let mark = IdleMark {
                    metadata_location: location.clone(),
                    settings: skip.settings.clone(),
                    checked_at: pass_started,
                };
                marks.mark(&run.id, run.job, &mark).await
            }
            _ if listing.marked.contains(&run.id) => marks.clear(&run.id, run.job).await,
            _ => Ok(()),
        };
        if let Err(e) = result {
            let id = &run.id;
            warn!(
                target: log_target::SERVICE,
                tenant = %id.tenant, dataset = %id.dataset, table = %id.table, error = %e,
                "Idle mark not recorded: the table is loaded by the next pass"
            );
        }
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

    /// The skip of unchanged idle tables, through real passes.
    mod skip;
}
