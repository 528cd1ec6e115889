//! Policy resolution through every tier, and the cutoff computed from it.

use common::Signal;
use common::TableKind;
use common::config::{DatasetOverride, RetentionConfig, TenantOverride};
use common::tables::TableId;

use super::at;
use crate::retention::policy::{TablePolicy, cutoff, explain, format_local, format_utc};

/// Global 7/3/30/7; tenant acme sets traces 14, logs 5 and profiles 2; its dataset prod sets
/// traces 30 only.
fn config() -> RetentionConfig {
    RetentionConfig {
        tenant_overrides: vec![TenantOverride {
            tenant_id: "acme".into(),
            traces_retention_days: Some(14),
            logs_retention_days: Some(5),
            metrics_retention_days: None,
            profiles_retention_days: Some(2),
            dataset_overrides: vec![DatasetOverride {
                dataset_id: "prod".into(),
                traces_retention_days: Some(30),
                ..Default::default()
            }],
        }],
        ..Default::default()
    }
}

fn policy(config: &RetentionConfig, tenant: &str, dataset: &str, table: TableKind) -> TablePolicy {
    let id = TableId::new(tenant, dataset, table).unwrap();
    TablePolicy::resolve(config, &id, at("2026-02-24T10:30:00Z"))
}

#[test]
fn cutoff_is_now_minus_period_minus_grace_in_utc() {
    let now = at("2026-01-26T11:00:00Z");
    assert_eq!(cutoff(now, 1, 1), at("2026-01-25T10:00:00Z"));
    assert_eq!(cutoff(now, 7, 0), at("2026-01-19T11:00:00Z"));
    assert_eq!(format_utc(cutoff(now, 1, 1)), "2026-01-25T10:00:00Z");
    // Whole seconds, rounded down.
    let now = at("2026-01-26T11:00:00.750Z");
    assert_eq!(cutoff(now, 1, 0), at("2026-01-25T11:00:00Z"));
}

#[test]
fn the_timezone_changes_only_how_the_cutoff_is_shown() {
    let utc = RetentionConfig::default();
    let ny =
        RetentionConfig { timezone: "America/New_York".parse().unwrap(), ..Default::default() };
    let id = TableId::new("other", "prod", TableKind::Logs).unwrap();
    let now = at("2026-01-26T11:00:00Z");
    let (a, b) = (TablePolicy::resolve(&utc, &id, now), TablePolicy::resolve(&ny, &id, now));
    assert_eq!(a.cutoff, b.cutoff);
    assert_eq!(format_utc(b.cutoff), "2026-01-23T10:00:00Z");
    assert_eq!(serde_json::to_value(&b).unwrap()["cutoff"], "2026-01-23T10:00:00Z");
    assert_eq!(a.cutoff_local, "2026-01-23T10:00:00Z");
    assert_eq!(b.cutoff_local, "2026-01-23T05:00:00-05:00");
    assert_eq!(format_local(b.cutoff, &ny), b.cutoff_local);
}

#[test]
fn every_tier_combination_resolves_field_by_field() {
    let c = config();
    let cases = [
        ("acme", "prod", TableKind::Traces, 30, "dataset"),
        ("acme", "prod", TableKind::Logs, 5, "tenant"),
        ("acme", "prod", TableKind::Metrics, 30, "global"),
        ("acme", "prod", TableKind::MetricsExponentialHistogram, 30, "global"),
        ("acme", "prod", TableKind::Profiles, 2, "tenant"),
        ("acme", "staging", TableKind::Traces, 14, "tenant"),
        ("acme", "staging", TableKind::Logs, 5, "tenant"),
        ("acme", "staging", TableKind::MetricsSum, 30, "global"),
        ("other", "prod", TableKind::Traces, 7, "global"),
        ("other", "prod", TableKind::Logs, 3, "global"),
        ("other", "prod", TableKind::Profiles, 7, "global"),
    ];
    for (tenant, dataset, signal, days, tier) in cases {
        let p = policy(&c, tenant, dataset, signal);
        assert_eq!((p.days, p.tier.as_str()), (days, tier), "{tenant}/{dataset}/{signal}");
        let expected = cutoff(at("2026-02-24T10:30:00Z"), days, 1);
        assert_eq!(p.cutoff, expected, "{tenant}/{dataset}/{signal}");
        assert_eq!(p.grace_period_hours, 1);
    }
}

#[test]
fn explain_names_the_value_of_every_tier() {
    let e = explain(&config(), "acme", "prod");
    let traces = &e.signals[0];
    assert_eq!(traces.signal, Signal::Traces);
    assert_eq!((traces.days, traces.tier), (30, "dataset"));
    assert_eq!(
        (traces.dataset_days, traces.tenant_days, traces.global_days),
        (Some(30), Some(14), 7)
    );
    let logs = &e.signals[1];
    assert_eq!(
        (logs.days, logs.tier, logs.dataset_days, logs.tenant_days),
        (5, "tenant", None, Some(5))
    );
    let metrics = &e.signals[2];
    assert_eq!((metrics.days, metrics.tier, metrics.tenant_days), (30, "global", None));
    let profiles = &e.signals[3];
    assert_eq!(profiles.signal, Signal::Profiles);
    assert_eq!((profiles.days, profiles.tier, profiles.tenant_days), (2, "tenant", Some(2)));
    let text = e.render_text();
    assert!(text.starts_with("retention policy of tenant=acme dataset=prod\n"), "{text}");
    assert!(
        text.contains("traces     30 days  from dataset  (dataset 30, tenant 14, global 7)"),
        "{text}"
    );
    assert!(
        text.contains("logs        5 days  from tenant   (dataset -, tenant 5, global 3)"),
        "{text}"
    );
    assert!(
        text.contains("profiles    2 days  from tenant   (dataset -, tenant 2, global 7)"),
        "{text}"
    );

    let e = explain(&config(), "other", "x");
    assert!(e.signals.iter().all(|s| s.tier == "global" && s.tenant_days.is_none()), "{e:?}");
}
