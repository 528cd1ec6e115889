//! The `[compactor.retention]` section and the resolution of its three-tier policy.
//!
//! A retention period is looked up per signal: a dataset override beats its tenant's override,
//! which beats the global default. Each signal resolves on its own, so a dataset override that
//! sets only `traces_retention_days` leaves logs and metrics to the tenant or global tier.

use std::time::Duration;

use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::durations::hours;
use crate::signal::Signal;

/// `[compactor.retention]`: dropping expired partitions and expiring old snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Whether retention enforcement runs; operators opt in.
    /// Env `SIGNALDB_COMPACTOR_RETENTION_ENABLED`, default `false`.
    pub enabled: bool,
    /// Seconds between retention runs; at least 1.
    /// Env `SIGNALDB_COMPACTOR_RETENTION_RETENTION_CHECK_INTERVAL_SECS`, default `3600`.
    pub retention_check_interval_secs: u64,
    /// Compute and report drops and expiries without changing any table.
    /// Env `SIGNALDB_COMPACTOR_RETENTION_DRY_RUN`, default `false`.
    pub dry_run: bool,
    /// Days trace data is kept unless overridden; at least 1.
    /// Env `SIGNALDB_COMPACTOR_RETENTION_TRACES_RETENTION_DAYS`, default `7`.
    pub traces_retention_days: u32,
    /// Days log data is kept unless overridden; at least 1.
    /// Env `SIGNALDB_COMPACTOR_RETENTION_LOGS_RETENTION_DAYS`, default `3`.
    pub logs_retention_days: u32,
    /// Days metric data is kept unless overridden; at least 1.
    /// Env `SIGNALDB_COMPACTOR_RETENTION_METRICS_RETENTION_DAYS`, default `30`.
    pub metrics_retention_days: u32,
    /// Days profiling data is kept unless overridden; at least 1.
    /// Env `SIGNALDB_COMPACTOR_RETENTION_PROFILES_RETENTION_DAYS`, default `7`.
    pub profiles_retention_days: u32,
    /// Extra hours past the retention cutoff before a partition is dropped, absorbing clock
    /// skew. Env `SIGNALDB_COMPACTOR_RETENTION_GRACE_PERIOD_HOURS`, default `1`.
    pub grace_period_hours: u32,
    /// The timezone, by IANA name, in which cutoffs are also shown in logs and reports;
    /// cutoffs are computed and data is stored in UTC. An unknown name is refused at load
    /// ([`UnknownTimezone`]). Env `SIGNALDB_COMPACTOR_RETENTION_TIMEZONE`, default `"UTC"`.
    #[serde(serialize_with = "serialize_timezone", deserialize_with = "deserialize_timezone")]
    pub timezone: Tz,
    /// Most recent snapshots kept per table when expiring; at least 1, so a table always
    /// keeps a current snapshot. Env `SIGNALDB_COMPACTOR_RETENTION_SNAPSHOTS_TO_KEEP`,
    /// default `5`.
    pub snapshots_to_keep: usize,
    /// Per-tenant overrides, `[[compactor.retention.tenant_overrides]]`; each `tenant_id` at
    /// most once. Settable only in the file, never from the environment. Default empty.
    pub tenant_overrides: Vec<TenantOverride>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: false,
            retention_check_interval_secs: 3600,
            dry_run: false,
            traces_retention_days: 7,
            logs_retention_days: 3,
            metrics_retention_days: 30,
            profiles_retention_days: 7,
            grace_period_hours: 1,
            timezone: Tz::UTC,
            snapshots_to_keep: 5,
            tenant_overrides: Vec::new(),
        }
    }
}

/// Retention periods of one tenant, overriding the global defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantOverride {
    /// The tenant this applies to; matches `[a-z0-9][a-z0-9_-]{0,63}`.
    pub tenant_id: String,
    /// Days trace data of this tenant is kept; at least 1 when set.
    pub traces_retention_days: Option<u32>,
    /// Days log data of this tenant is kept; at least 1 when set.
    pub logs_retention_days: Option<u32>,
    /// Days metric data of this tenant is kept; at least 1 when set.
    pub metrics_retention_days: Option<u32>,
    /// Days profiling data of this tenant is kept; at least 1 when set.
    pub profiles_retention_days: Option<u32>,
    /// Per-dataset overrides within this tenant,
    /// `[[compactor.retention.tenant_overrides.dataset_overrides]]`; each `dataset_id` at most
    /// once.
    pub dataset_overrides: Vec<DatasetOverride>,
}

/// Retention periods of one dataset of a tenant, the highest-priority tier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetOverride {
    /// The dataset this applies to; matches `[a-z0-9][a-z0-9_-]{0,63}`.
    pub dataset_id: String,
    /// Days trace data of this dataset is kept; at least 1 when set.
    pub traces_retention_days: Option<u32>,
    /// Days log data of this dataset is kept; at least 1 when set.
    pub logs_retention_days: Option<u32>,
    /// Days metric data of this dataset is kept; at least 1 when set.
    pub metrics_retention_days: Option<u32>,
    /// Days profiling data of this dataset is kept; at least 1 when set.
    pub profiles_retention_days: Option<u32>,
}

/// Which tier of the retention hierarchy supplied a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetentionTier {
    /// A `dataset_overrides` entry of the tenant.
    Dataset,
    /// A `tenant_overrides` entry.
    Tenant,
    /// The global `*_retention_days` keys.
    Global,
}

impl RetentionTier {
    /// Lowercase name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionTier::Dataset => "dataset",
            RetentionTier::Tenant => "tenant",
            RetentionTier::Global => "global",
        }
    }
}

/// The retention period in force for one tenant, dataset and signal, and the tier it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedRetention {
    /// Days data is kept.
    pub days: u32,
    /// The tier that supplied `days`.
    pub tier: RetentionTier,
}

impl ResolvedRetention {
    /// `days` as a duration.
    pub fn period(&self) -> Duration {
        Duration::from_secs(u64::from(self.days) * 86_400)
    }
}

impl RetentionConfig {
    /// The period for `signal` of `tenant`/`dataset`: dataset override, else tenant override,
    /// else global default.
    pub fn resolve(&self, tenant: &str, dataset: &str, signal: Signal) -> ResolvedRetention {
        if let Some(t) = self.tenant(tenant) {
            let dataset_days = t
                .dataset_overrides
                .iter()
                .find(|d| d.dataset_id == dataset)
                .and_then(|d| d.days(signal));
            if let Some(days) = dataset_days {
                return ResolvedRetention { days, tier: RetentionTier::Dataset };
            }
            if let Some(days) = t.days(signal) {
                return ResolvedRetention { days, tier: RetentionTier::Tenant };
            }
        }
        ResolvedRetention { days: self.global_days(signal), tier: RetentionTier::Global }
    }

    /// The global default period for `signal`, in days.
    pub fn global_days(&self, signal: Signal) -> u32 {
        match signal {
            Signal::Traces => self.traces_retention_days,
            Signal::Logs => self.logs_retention_days,
            Signal::Metrics => self.metrics_retention_days,
            Signal::Profiles => self.profiles_retention_days,
        }
    }

    /// The override entry of `tenant`, if any.
    pub fn tenant(&self, tenant: &str) -> Option<&TenantOverride> {
        self.tenant_overrides.iter().find(|t| t.tenant_id == tenant)
    }

    /// `retention_check_interval_secs` as a duration.
    pub fn check_interval(&self) -> Duration {
        Duration::from_secs(self.retention_check_interval_secs)
    }

    /// `grace_period_hours` as a duration.
    pub fn grace_period(&self) -> Duration {
        hours(self.grace_period_hours)
    }
}

impl TenantOverride {
    /// This tenant's own period for `signal`, ignoring its dataset overrides.
    pub fn days(&self, signal: Signal) -> Option<u32> {
        match signal {
            Signal::Traces => self.traces_retention_days,
            Signal::Logs => self.logs_retention_days,
            Signal::Metrics => self.metrics_retention_days,
            Signal::Profiles => self.profiles_retention_days,
        }
    }
}

impl DatasetOverride {
    /// This dataset's period for `signal`, if it sets one.
    pub fn days(&self, signal: Signal) -> Option<u32> {
        match signal {
            Signal::Traces => self.traces_retention_days,
            Signal::Logs => self.logs_retention_days,
            Signal::Metrics => self.metrics_retention_days,
            Signal::Profiles => self.profiles_retention_days,
        }
    }
}

/// A timezone name that is not in the IANA database chrono-tz carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown timezone `{name}`{hint}")]
pub struct UnknownTimezone {
    /// The name given.
    pub name: String,
    /// `; did you mean `X`?` with the closest known name, or what a name looks like.
    hint: String,
}

/// The timezone named `name` (`UTC`, `Europe/Berlin`, ...); an unknown name's error suggests
/// the closest known one.
pub fn parse_timezone(name: &str) -> Result<Tz, UnknownTimezone> {
    name.parse().map_err(|_| {
        let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
        let hint = match super::suggest::closest(name, names) {
            Some(best) => format!("; did you mean `{best}`?"),
            None => " (expected an IANA name such as UTC or Europe/Berlin)".to_string(),
        };
        UnknownTimezone { name: name.to_string(), hint }
    })
}

/// A [`Tz`] in the configuration as its IANA name.
fn serialize_timezone<S: Serializer>(tz: &Tz, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(tz.name())
}

/// A [`Tz`] from its IANA name. An unknown name fails with the [`UnknownTimezone`] message,
/// which loading reports at the key with every other problem.
fn deserialize_timezone<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(deserializer)?;
    parse_timezone(&name).map_err(de::Error::custom)
}
