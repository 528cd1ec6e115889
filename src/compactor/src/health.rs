//! Readiness of the compactor: whether the catalog and the object store have answered recently.
//!
//! Jobs and probes report each call to a backing service with [`Health::record_ok`] or
//! [`Health::record_failure`]; `/readyz` serves [`Health::readiness`]. The process is ready only
//! while both components' latest answer was a success no older than the staleness window, so
//! a compactor that lost its catalog stops being ready within one window.
//!
//! Every method that reads the clock has an `_at` twin taking `now`, so tests check the
//! boundaries exactly. A failure needs no time: it holds until the next success.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// A backing service whose answers decide readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Component {
    /// The Iceberg SQL catalog.
    Catalog,
    /// The object store holding table data and metadata.
    ObjectStore,
}

impl Component {
    /// Both components, in the order they are reported.
    #[cfg(test)]
    pub(crate) const ALL: [Component; 2] = [Component::Catalog, Component::ObjectStore];

    /// The component's name in readiness JSON and logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Component::Catalog => "catalog",
            Component::ObjectStore => "object_store",
        }
    }

    /// Index into per-component state.
    fn index(self) -> usize {
        match self {
            Component::Catalog => 0,
            Component::ObjectStore => 1,
        }
    }
}

/// What is known about one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ComponentState {
    /// Its latest answer was a success, within the staleness window.
    Ok,
    /// Its latest answer was a failure.
    Failing,
    /// Its latest answer was a success, but older than the staleness window.
    Stale,
    /// It has not answered yet.
    Unknown,
}

/// Readiness of one component, as served by `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ComponentStatus {
    /// Whether this component counts as ready.
    pub ready: bool,
    /// Why it is or is not ready.
    pub state: ComponentState,
    /// Seconds since its last successful answer, if it ever answered successfully.
    pub last_ok_seconds_ago: Option<f64>,
    /// The error of its latest answer, when that answer was a failure.
    pub last_error: Option<String>,
}

/// Readiness of both components.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Components {
    /// The Iceberg SQL catalog.
    pub catalog: ComponentStatus,
    /// The object store.
    pub object_store: ComponentStatus,
}

/// The answer of `/readyz`: ready iff every component is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Readiness {
    /// Whether the compactor is ready (HTTP 200) or not (HTTP 503).
    pub ready: bool,
    /// How long a successful answer keeps a component ready, in seconds.
    pub staleness_seconds: f64,
    /// Each component's status.
    pub components: Components,
}

impl Readiness {
    /// The readiness as a JSON document.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("readiness serializes to JSON")
    }
}

/// The latest answers of one component.
#[derive(Debug, Clone, Default)]
struct Record {
    /// When it last answered successfully.
    last_ok: Option<Instant>,
    /// The error of its latest answer, when that answer was a failure.
    last_error: Option<String>,
}

/// Thread-safe record of the catalog's and object store's latest answers; share it in an `Arc`.
#[derive(Debug)]
pub(crate) struct Health {
    staleness: Duration,
    records: Mutex<[Record; 2]>,
}

impl Health {
    /// A record in which nothing has answered yet; a success keeps its component ready for
    /// `staleness`.
    pub(crate) fn new(staleness: Duration) -> Self {
        Self { staleness, records: Mutex::new(Default::default()) }
    }

    /// Records that `component` answered successfully just now.
    pub(crate) fn record_ok(&self, component: Component) {
        self.record_ok_at(component, Instant::now());
    }

    /// Records that `component` answered successfully at `now`.
    pub(crate) fn record_ok_at(&self, component: Component, now: Instant) {
        let mut records = self.lock();
        let record = &mut records[component.index()];
        record.last_ok = Some(record.last_ok.map_or(now, |prev| prev.max(now)));
        record.last_error = None;
    }

    /// Records that a call to `component` failed with `error`; the component is not ready until
    /// its next success, however recent its previous one.
    pub(crate) fn record_failure(&self, component: Component, error: &str) {
        self.lock()[component.index()].last_error = Some(error.to_string());
    }

    /// Readiness as of now.
    pub(crate) fn readiness(&self) -> Readiness {
        self.readiness_at(Instant::now())
    }

    /// Readiness as of `now`: a component is ready iff its latest answer was a success at most
    /// `staleness` before `now`.
    pub(crate) fn readiness_at(&self, now: Instant) -> Readiness {
        let records = self.lock().clone();
        let status = |c: Component| self.status(&records[c.index()], now);
        let components = Components {
            catalog: status(Component::Catalog),
            object_store: status(Component::ObjectStore),
        };
        Readiness {
            ready: components.catalog.ready && components.object_store.ready,
            staleness_seconds: self.staleness.as_secs_f64(),
            components,
        }
    }

    /// The status of one component's record as of `now`.
    fn status(&self, record: &Record, now: Instant) -> ComponentStatus {
        let age = record.last_ok.map(|at| now.saturating_duration_since(at));
        let state = match (&record.last_error, age) {
            (Some(_), _) => ComponentState::Failing,
            (None, None) => ComponentState::Unknown,
            (None, Some(age)) if age > self.staleness => ComponentState::Stale,
            (None, Some(_)) => ComponentState::Ok,
        };
        ComponentStatus {
            ready: state == ComponentState::Ok,
            state,
            last_ok_seconds_ago: age.map(|a| a.as_secs_f64()),
            last_error: record.last_error.clone(),
        }
    }

    /// The records, even if a panicking holder poisoned the lock (they stay consistent).
    fn lock(&self) -> std::sync::MutexGuard<'_, [Record; 2]> {
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn both_ok_at(h: &Health, at: Instant) {
        for c in Component::ALL {
            h.record_ok_at(c, at);
        }
    }

    #[test]
    fn nothing_answered_is_not_ready() {
        let r = Health::new(WINDOW).readiness_at(Instant::now());
        assert!(!r.ready);
        assert_eq!(r.components.catalog.state, ComponentState::Unknown);
        assert_eq!(r.components.object_store.state, ComponentState::Unknown);
        assert_eq!(r.components.catalog.last_ok_seconds_ago, None);
    }

    #[test]
    fn ready_up_to_and_including_the_staleness_window() {
        let h = Health::new(WINDOW);
        let t0 = Instant::now();
        both_ok_at(&h, t0);
        assert!(h.readiness_at(t0).ready);
        assert!(h.readiness_at(t0 + WINDOW).ready, "exactly at the window");
        let late = h.readiness_at(t0 + WINDOW + Duration::from_nanos(1));
        assert!(!late.ready, "just past the window");
        assert_eq!(late.components.catalog.state, ComponentState::Stale);
        assert!(!late.components.catalog.ready);
    }

    #[test]
    fn one_component_alone_is_not_enough() {
        let h = Health::new(WINDOW);
        let t0 = Instant::now();
        h.record_ok_at(Component::Catalog, t0);
        let r = h.readiness_at(t0);
        assert!(!r.ready);
        assert!(r.components.catalog.ready);
        assert_eq!(r.components.object_store.state, ComponentState::Unknown);

        // The other one going stale while this one is fresh also makes it not ready.
        h.record_ok_at(Component::ObjectStore, t0);
        h.record_ok_at(Component::Catalog, t0 + WINDOW);
        let r = h.readiness_at(t0 + WINDOW + Duration::from_secs(1));
        assert!(!r.ready);
        assert!(r.components.catalog.ready);
        assert_eq!(r.components.object_store.state, ComponentState::Stale);
    }

    #[test]
    fn latest_failure_wins_until_the_next_success() {
        let h = Health::new(WINDOW);
        let t0 = Instant::now();
        both_ok_at(&h, t0);
        h.record_failure(Component::ObjectStore, "connection refused");
        let r = h.readiness_at(t0 + Duration::from_secs(2));
        assert!(!r.ready, "a fresh success before the failure does not count");
        let store = &r.components.object_store;
        assert_eq!(store.state, ComponentState::Failing);
        assert_eq!(store.last_error.as_deref(), Some("connection refused"));
        assert_eq!(store.last_ok_seconds_ago, Some(2.0));

        h.record_ok_at(Component::ObjectStore, t0 + Duration::from_secs(3));
        let r = h.readiness_at(t0 + Duration::from_secs(3));
        assert!(r.ready);
        assert_eq!(r.components.object_store.last_error, None);
    }

    #[test]
    fn clock_going_backwards_counts_as_fresh() {
        let h = Health::new(WINDOW);
        let t0 = Instant::now();
        both_ok_at(&h, t0 + Duration::from_secs(5));
        both_ok_at(&h, t0);
        let r = h.readiness_at(t0);
        assert!(r.ready);
        assert_eq!(r.components.catalog.last_ok_seconds_ago, Some(0.0));
    }

    #[test]
    fn readiness_serializes_with_stable_keys() {
        let h = Health::new(WINDOW);
        let t0 = Instant::now();
        h.record_ok_at(Component::Catalog, t0);
        h.record_failure(Component::ObjectStore, "bucket missing");
        let json: serde_json::Value =
            serde_json::from_str(&h.readiness_at(t0 + Duration::from_secs(1)).to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "ready": false,
                "staleness_seconds": 60.0,
                "components": {
                    "catalog": {
                        "ready": true, "state": "ok",
                        "last_ok_seconds_ago": 1.0, "last_error": null
                    },
                    "object_store": {
                        "ready": false, "state": "failing",
                        "last_ok_seconds_ago": null, "last_error": "bucket missing"
                    }
                }
            })
        );
    }

    #[test]
    fn shared_across_threads() {
        let h = std::sync::Arc::new(Health::new(WINDOW));
        let handles: Vec<_> = Component::ALL
            .into_iter()
            .map(|c| {
                let h = h.clone();
                std::thread::spawn(move || h.record_ok(c))
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert!(h.readiness().ready);
    }
}
