//! Three-tier retention resolution, per signal.

use figment::Jail;

use super::*;
use crate::config::{DatasetOverride, RetentionConfig, RetentionTier, TenantOverride};
use crate::signal::Signal;

#[test]
fn the_spec_example_resolves_to_dataset_tenant_and_global() {
    Jail::expect_with(|jail| {
        let toml = r#"
[compactor.retention]
traces_retention_days = 7

[[compactor.retention.tenant_overrides]]
tenant_id = "acme"
traces_retention_days = 14

[[compactor.retention.tenant_overrides.dataset_overrides]]
dataset_id = "production"
traces_retention_days = 30
"#;
        let r = load_toml(jail, toml, &[]).unwrap().config.compactor.retention;
        let resolve = |t, d| {
            let got = r.resolve(t, d, Signal::Traces);
            (got.days, got.tier)
        };
        assert_eq!(resolve("acme", "production"), (30, RetentionTier::Dataset));
        assert_eq!(resolve("acme", "staging"), (14, RetentionTier::Tenant));
        assert_eq!(resolve("other", "production"), (7, RetentionTier::Global));
        Ok(())
    });
}

fn days(traces: Option<u32>, logs: Option<u32>, metrics: Option<u32>) -> [Option<u32>; 3] {
    [traces, logs, metrics]
}

fn tenant(id: &str, [t, l, m]: [Option<u32>; 3], datasets: Vec<DatasetOverride>) -> TenantOverride {
    TenantOverride {
        tenant_id: id.to_string(),
        traces_retention_days: t,
        logs_retention_days: l,
        metrics_retention_days: m,
        profiles_retention_days: None,
        dataset_overrides: datasets,
    }
}

fn dataset(id: &str, [t, l, m]: [Option<u32>; 3]) -> DatasetOverride {
    DatasetOverride {
        dataset_id: id.to_string(),
        traces_retention_days: t,
        logs_retention_days: l,
        metrics_retention_days: m,
        profiles_retention_days: None,
    }
}

#[test]
fn each_signal_resolves_through_the_tiers_on_its_own() {
    // Globals: traces 7, logs 3, metrics 30.
    let r = RetentionConfig {
        tenant_overrides: vec![
            tenant(
                "acme",
                days(Some(14), Some(5), None),
                vec![
                    dataset("prod", days(Some(30), None, None)),
                    dataset("audit", days(None, None, Some(365))),
                ],
            ),
            tenant(
                "bare",
                days(None, None, None),
                vec![dataset("prod", days(None, Some(1), None))],
            ),
        ],
        ..RetentionConfig::default()
    };
    use RetentionTier::{Dataset as D, Global as G, Tenant as T};
    use Signal::{Logs, Metrics, Traces};
    let cases = [
        // dataset override wins for the signal it sets ...
        ("acme", "prod", Traces, 30, D),
        // ... and leaves the others to the tenant, or to the global default
        ("acme", "prod", Logs, 5, T),
        ("acme", "prod", Metrics, 30, G),
        ("acme", "audit", Metrics, 365, D),
        ("acme", "audit", Traces, 14, T),
        // a dataset without an override uses the tenant tier
        ("acme", "staging", Traces, 14, T),
        ("acme", "staging", Logs, 5, T),
        ("acme", "staging", Metrics, 30, G),
        // a tenant entry setting nothing itself still carries dataset overrides
        ("bare", "prod", Logs, 1, D),
        ("bare", "prod", Traces, 7, G),
        ("bare", "other", Logs, 3, G),
        // overrides never apply to another tenant with the same dataset name
        ("other", "prod", Traces, 7, G),
        ("other", "prod", Logs, 3, G),
        ("other", "audit", Metrics, 30, G),
    ];
    for (t, d, signal, days, tier) in cases {
        let got = r.resolve(t, d, signal);
        assert_eq!((got.days, got.tier), (days, tier), "{t}/{d} {signal}");
    }
    assert_eq!(
        r.resolve("acme", "prod", Traces).period(),
        std::time::Duration::from_secs(30 * 86_400)
    );
    assert_eq!(RetentionTier::Dataset.as_str(), "dataset");
}

#[test]
fn profiles_resolve_through_every_tier() {
    let mut r = RetentionConfig { profiles_retention_days: 14, ..RetentionConfig::default() };
    assert_eq!(r.resolve("acme", "prod", Signal::Profiles).days, 14);
    let mut acme = tenant("acme", days(None, None, None), vec![]);
    acme.profiles_retention_days = Some(5);
    let mut prod = dataset("prod", days(None, None, None));
    prod.profiles_retention_days = Some(2);
    acme.dataset_overrides.push(prod);
    r.tenant_overrides.push(acme);
    let at = |dataset| {
        let resolved = r.resolve("acme", dataset, Signal::Profiles);
        (resolved.days, resolved.tier)
    };
    assert_eq!(at("prod"), (2, RetentionTier::Dataset));
    assert_eq!(at("dev"), (5, RetentionTier::Tenant));
    assert_eq!(r.resolve("beta", "prod", Signal::Profiles).tier, RetentionTier::Global);
    // Profiles' overrides leave the other signals alone.
    assert_eq!(r.resolve("acme", "prod", Signal::Traces).days, 7);
}
