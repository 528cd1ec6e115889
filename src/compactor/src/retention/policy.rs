//! The retention policy of one table: its period from the three-tier hierarchy, and the cutoff
//! `now − period − grace`, computed in UTC. The configured timezone only changes how the cutoff
//! is shown.

use chrono::{DateTime, SecondsFormat, Utc};
use common::Signal;
use common::config::RetentionConfig;
use common::tables::TableId;
use serde::Serialize;

/// Seconds in one hour.
const SECS_PER_HOUR: i64 = 3_600;
/// Seconds in one day.
const SECS_PER_DAY: i64 = 86_400;

/// `t` as RFC 3339 in UTC with seconds precision and a `Z`: `2026-01-25T10:00:00Z`.
pub(crate) fn format_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `t` as RFC 3339 in the configured timezone (`2026-01-25T05:00:00-05:00`).
pub(crate) fn format_local(t: DateTime<Utc>, config: &RetentionConfig) -> String {
    t.with_timezone(&config.timezone).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The retention cutoff: `now − days − grace_hours`, in whole seconds (rounded down, which
/// decides nothing differently: hours end on whole seconds). Data whose hour ends at or before
/// it is expired.
pub(crate) fn cutoff(now: DateTime<Utc>, days: u32, grace_hours: u32) -> DateTime<Utc> {
    let secs = i64::from(days) * SECS_PER_DAY + i64::from(grace_hours) * SECS_PER_HOUR;
    let at = now - chrono::Duration::seconds(secs);
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

/// The policy in force for one table at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TablePolicy {
    /// The table's signal, whose period applies.
    pub signal: Signal,
    /// Days the signal's data is kept.
    pub days: u32,
    /// Which tier supplied `days`: `dataset`, `tenant` or `global`.
    pub tier: String,
    /// Hours added to the period before anything is dropped.
    pub grace_period_hours: u32,
    /// When the policy was evaluated.
    pub now: DateTime<Utc>,
    /// The cutoff (UTC, whole seconds; RFC 3339 with `Z` when serialized).
    pub cutoff: DateTime<Utc>,
    /// The cutoff in the configured timezone.
    pub cutoff_local: String,
    /// The configured timezone's name.
    pub timezone: String,
}

impl TablePolicy {
    /// Resolves the policy of `id` under `config` at `now`.
    pub fn resolve(config: &RetentionConfig, id: &TableId, now: DateTime<Utc>) -> Self {
        let resolved = config.resolve(&id.tenant, &id.dataset, id.signal());
        let at = cutoff(now, resolved.days, config.grace_period_hours);
        Self {
            signal: id.signal(),
            days: resolved.days,
            tier: resolved.tier.as_str().to_string(),
            grace_period_hours: config.grace_period_hours,
            now,
            cutoff: at,
            cutoff_local: format_local(at, config),
            timezone: config.timezone.name().to_string(),
        }
    }
}

/// One signal's resolved period and the value each tier sets for it, for `--explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignalPolicy {
    /// The signal.
    pub signal: Signal,
    /// Days in force.
    pub days: u32,
    /// The tier that supplied `days`.
    pub tier: &'static str,
    /// The global default.
    pub global_days: u32,
    /// The tenant override, if the tenant sets one for this signal.
    pub tenant_days: Option<u32>,
    /// The dataset override, if the dataset sets one for this signal.
    pub dataset_days: Option<u32>,
}

/// The retention policy of a tenant's dataset for every signal, for `--explain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The tenant.
    pub tenant: String,
    /// The dataset.
    pub dataset: String,
    /// One entry per signal, in `Signal::ALL` order.
    pub signals: Vec<SignalPolicy>,
    /// Grace period (global setting).
    pub grace_period_hours: u32,
    /// Timezone of displayed times (global setting).
    pub timezone: String,
    /// Snapshots kept per table (global setting).
    pub snapshots_to_keep: usize,
}

/// Resolves every signal's policy for `tenant`/`dataset`, recording what each tier sets.
pub fn explain(config: &RetentionConfig, tenant: &str, dataset: &str) -> Explanation {
    let tenant_override = config.tenant(tenant);
    let dataset_override =
        tenant_override.and_then(|t| t.dataset_overrides.iter().find(|d| d.dataset_id == dataset));
    let signals = Signal::ALL
        .into_iter()
        .map(|signal| {
            let resolved = config.resolve(tenant, dataset, signal);
            SignalPolicy {
                signal,
                days: resolved.days,
                tier: resolved.tier.as_str(),
                global_days: config.global_days(signal),
                tenant_days: tenant_override.and_then(|t| t.days(signal)),
                dataset_days: dataset_override.and_then(|d| d.days(signal)),
            }
        })
        .collect();
    Explanation {
        tenant: tenant.to_string(),
        dataset: dataset.to_string(),
        signals,
        grace_period_hours: config.grace_period_hours,
        timezone: config.timezone.name().to_string(),
        snapshots_to_keep: config.snapshots_to_keep,
    }
}

impl Explanation {
    /// The human form: one line per signal with the value of every tier.
    pub fn render_text(&self) -> String {
        let show = |days: Option<u32>| days.map_or_else(|| "-".to_string(), |d| d.to_string());
        let mut out =
            format!("retention policy of tenant={} dataset={}\n", self.tenant, self.dataset);
        for s in &self.signals {
            out.push_str(&format!(
                "  {:<8} {:>4} days  from {:<7}  (dataset {}, tenant {}, global {})\n",
                s.signal.as_str(),
                s.days,
                s.tier,
                show(s.dataset_days),
                show(s.tenant_days),
                s.global_days
            ));
        }
        out.push_str(&format!(
            "  grace_period_hours = {}, timezone = {}, snapshots_to_keep = {} (global settings)\n",
            self.grace_period_hours, self.timezone, self.snapshots_to_keep
        ));
        out
    }
}
