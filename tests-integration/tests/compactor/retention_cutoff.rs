//! Retention policy resolution and cutoffs through the real `compactor` binary: `--explain`
//! for every tier combination (without a catalog), the drops each resolved period causes, the
//! grace period's boundary, and the cutoff as logged and shown in the configured timezone.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use common::tables::TableId;
use serde_json::json;
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::retention::{
    RecentLoad, dropped_labels, expired_at, hour_of, reported_cutoff, retention_details, split_at,
};
use tests_integration::{Backend, BinCommand, TestEnv, require_python};

use super::{COMPACTOR, compactor, json_ok};

/// Global 3 days; tenant acme 2 days for traces and logs; its dataset prod 1 day for traces
/// only. No grace, so a period of D days expires every hour at least 24·D + 1 hours old.
const TIERS: &str = "\
[compactor.retention]
grace_period_hours = 0
snapshots_to_keep = 100
traces_retention_days = 3
logs_retention_days = 3
metrics_retention_days = 3

[[compactor.retention.tenant_overrides]]
tenant_id = \"acme\"
traces_retention_days = 2
logs_retention_days = 2

[[compactor.retention.tenant_overrides.dataset_overrides]]
dataset_id = \"prod\"
traces_retention_days = 1
";

/// Tenant, dataset, signal → the days and tier [`TIERS`] resolves.
const RESOLVED: [(&str, &str, &str, u64, &str); 8] = [
    ("acme", "prod", "traces", 1, "dataset"),
    ("acme", "prod", "logs", 2, "tenant"),
    ("acme", "staging", "traces", 2, "tenant"),
    ("acme", "staging", "logs", 2, "tenant"),
    ("other", "prod", "traces", 3, "global"),
    ("other", "prod", "logs", 3, "global"),
    ("other", "staging", "traces", 3, "global"),
    ("other", "staging", "logs", 3, "global"),
];

/// `compactor retention --explain` prints each signal's period and the tier it came from, in
/// text and JSON, from the configuration alone: the catalog here is unreachable.
#[tokio::test]
async fn explain_shows_every_tier_combination_without_a_catalog() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    env.append_config(TIERS);
    let explain = |tenant: &str, dataset: &str, json: bool| {
        let mut args = vec!["retention", "--explain", "--tenant", tenant, "--dataset", dataset];
        if json {
            args.push("--json");
        }
        let out = BinCommand::new(COMPACTOR)
            .args(args)
            .test_env(&env)
            .env("SIGNALDB_SCHEMA_CATALOG_URI", "postgres://nobody@127.0.0.1:9/unreachable")
            .run();
        out.assert_success();
        out
    };
    let doc = explain("acme", "prod", true).json();
    assert_eq!(
        doc["signals"],
        json!([
            {"signal": "traces", "days": 1, "tier": "dataset", "global_days": 3, "tenant_days": 2, "dataset_days": 1},
            {"signal": "logs", "days": 2, "tier": "tenant", "global_days": 3, "tenant_days": 2, "dataset_days": null},
            {"signal": "metrics", "days": 3, "tier": "global", "global_days": 3, "tenant_days": null, "dataset_days": null},
            {"signal": "profiles", "days": 7, "tier": "global", "global_days": 7, "tenant_days": null, "dataset_days": null},
        ]),
        "{doc}"
    );
    assert_eq!([&doc["grace_period_hours"], &doc["snapshots_to_keep"]], [0, 100], "{doc}");
    for (tenant, dataset, signal, days, tier) in RESOLVED {
        let doc = explain(tenant, dataset, true).json();
        let entry = doc["signals"].as_array().unwrap().iter().find(|s| s["signal"] == signal);
        let entry = entry.unwrap_or_else(|| panic!("{doc}"));
        assert_eq!([&entry["days"], &entry["tier"]], [&json!(days), &json!(tier)], "{doc}");
    }

    let text = explain("acme", "staging", false).stdout;
    assert!(text.starts_with("retention policy of tenant=acme dataset=staging\n"), "{text}");
    assert!(
        text.contains("traces      2 days  from tenant   (dataset -, tenant 2, global 3)"),
        "{text}"
    );
    assert!(
        text.contains("metrics     3 days  from global   (dataset -, tenant -, global 3)"),
        "{text}"
    );

    // --explain needs both --tenant and --dataset and changes nothing.
    let out = BinCommand::new(COMPACTOR)
        .args(["retention", "--explain", "--tenant", "acme"])
        .test_env(&env)
        .run();
    assert_eq!(out.status.code(), Some(2), "{}", out.streams());
    assert!(out.stderr.contains("--dataset"), "{}", out.streams());
}

#[tokio::test]
async fn each_tier_decides_what_is_dropped_on_sqlite_local() {
    each_tier_decides_what_is_dropped(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn each_tier_decides_what_is_dropped_on_postgres_s3() {
    each_tier_decides_what_is_dropped(Backend::PostgresS3).await;
}

/// Four hours around each of the 1-, 2- and 3-day boundaries in two tenants × two datasets:
/// every table loses exactly the hours its resolved period expires, and pyiceberg reads the
/// rest unchanged.
async fn each_tier_decides_what_is_dropped(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(TIERS);
    let current = hour_of(Utc::now());
    let mut hours = Vec::new();
    for (seed, newest_ago) in [(1, 23), (2, 47), (3, 71)] {
        let load = RecentLoad {
            tenants: vec!["acme", "other"],
            datasets: vec!["prod", "staging"],
            signals: vec!["traces", "logs"],
            newest_ago,
            oldest_ago: newest_ago + 3,
            rows_per_file: 20,
        };
        hours.extend(load.run(&env, current, seed));
    }
    hours.sort();
    let ids = tables_of_tiers().tables();
    let before = read_by_hour(&env, &ids);

    let started = Utc::now();
    let doc = json_ok(&compactor(&env, &["retention", "--json"]));
    let finished = Utc::now();
    let after = read_by_hour(&env, &ids);
    let mut dropped_per_days = BTreeMap::new();
    for (tenant, dataset, signal, days, tier) in RESOLVED {
        let id = TableId::new(tenant, dataset, signal.parse().unwrap()).unwrap();
        let id = &id;
        let key = id.to_string();
        let details = retention_details(&doc, id);
        assert_eq!(
            [&details["policy"]["days"], &details["policy"]["tier"]],
            [&json!(days), &json!(tier)],
            "{key}"
        );
        let cutoff = reported_cutoff(details);
        let period = Duration::days(days as i64);
        assert!(
            started - period - Duration::seconds(1) <= cutoff && cutoff <= finished - period,
            "{key}: {cutoff}"
        );

        let (gone, kept) = split_at(&hours, cutoff);
        assert_eq!(dropped_labels(details), gone, "{key}");
        assert!(!gone.is_empty() && !kept.is_empty(), "{key}: the load straddles the cutoff");
        dropped_per_days.insert(days, gone.len());
        let (b, a) = (&before[&key], &after[&key]);
        let rows: u64 = gone.iter().map(|h| b.content[h].rows).sum();
        assert_eq!(details["rows_removed"], rows, "{key}");
        assert_eq!(a.content.keys().cloned().collect::<Vec<_>>(), kept, "{key}");
        for hour in &kept {
            assert_eq!(a.content[hour], b.content[hour], "{key} {hour}");
        }
        assert_eq!(a.total_rows(), b.total_rows() - rows, "{key}");
    }
    // Each longer period keeps more: 1 day drops 10 hours, 2 days 6, 3 days 2 (one hour more
    // or less each when the hour turns during the test).
    let counts: Vec<usize> = dropped_per_days.values().copied().collect();
    assert!(counts.windows(2).all(|w| w[0] > w[1]), "{dropped_per_days:?}");
}

/// The tables [`TIERS`] is checked on.
fn tables_of_tiers() -> RecentLoad {
    RecentLoad {
        tenants: vec!["acme", "other"],
        datasets: vec!["prod", "staging"],
        signals: vec!["traces", "logs"],
        newest_ago: 0,
        oldest_ago: 0,
        rows_per_file: 1,
    }
}

/// With 3 hours of grace the cutoff is 3 hours earlier: the hours between the two cutoffs
/// survive the first pass and go in the second; in both, the last hour dropped ends at or
/// before the cutoff and the first hour kept ends after it.
#[tokio::test]
async fn the_grace_period_moves_the_cutoff_back_by_whole_hours() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    env.append_config("[compactor.retention]\nlogs_retention_days = 1\nsnapshots_to_keep = 100");
    let load = RecentLoad {
        tenants: vec!["acme"],
        datasets: vec!["prod"],
        signals: vec!["logs"],
        newest_ago: 21,
        oldest_ago: 29,
        rows_per_file: 10,
    };
    let hours = load.run(&env, hour_of(Utc::now()), 5);
    let id = &load.tables()[0];
    let pass = |grace: &str| {
        let out = BinCommand::new(COMPACTOR)
            .args(["retention", "--json"])
            .test_env(&env)
            .env("RUST_LOG", "info")
            .env("SIGNALDB_COMPACTOR_RETENTION_GRACE_PERIOD_HOURS", grace)
            .run();
        json_ok(&out)
    };
    let first = pass("3");
    let second = pass("0");
    let (d1, d2) = (retention_details(&first, id), retention_details(&second, id));
    assert_eq!([&d1["policy"]["grace_period_hours"], &d2["policy"]["grace_period_hours"]], [3, 0]);
    let (c1, c2) = (reported_cutoff(d1), reported_cutoff(d2));
    let moved = c2 - c1;
    assert!(
        Duration::hours(3) <= moved && moved < Duration::hours(3) + Duration::seconds(60),
        "{moved}"
    );

    let (gone1, _) = split_at(&hours, c1);
    let (gone2, _) = split_at(&hours, c2);
    assert_eq!(dropped_labels(d1), gone1);
    assert_eq!(dropped_labels(d2), gone2[gone1.len()..], "the second pass drops only the rest");
    for cutoff in [c1, c2] {
        // The boundary: the last hour dropped ends at or before the cutoff, the first hour
        // kept holds it.
        let start = |h: i64| DateTime::<Utc>::from_timestamp(h * 3_600, 0).unwrap();
        let first_kept = hours.iter().copied().find(|h| !expired_at(*h, cutoff)).unwrap();
        assert!(start(first_kept) <= cutoff && cutoff < start(first_kept + 1), "{cutoff}");
        assert!(start(first_kept) > start(hours[0]), "{cutoff}: something was dropped");
    }
    // Three more hours once the grace is gone (four if an hour ended between the passes).
    assert!((3..=4).contains(&(gone2.len() - gone1.len())), "{gone1:?} {gone2:?}");
}

/// The cutoff of every table is logged at debug exactly as the spec's troubleshooting greps
/// for it, and the text report shows it in the configured timezone and in UTC.
#[tokio::test]
async fn the_cutoff_is_logged_in_utc_and_shown_in_the_configured_timezone() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    env.append_config(
        "[compactor.retention]\ntimezone = \"America/New_York\"\ngrace_period_hours = 2",
    );
    let load = RecentLoad {
        tenants: vec!["acme"],
        datasets: vec!["prod"],
        signals: vec!["traces", "logs", "metrics"],
        newest_ago: 0,
        oldest_ago: 0,
        rows_per_file: 5,
    };
    load.run(&env, hour_of(Utc::now()), 9);
    let run = |args: &[&str]| {
        BinCommand::new(COMPACTOR)
            .args(args)
            .test_env(&env)
            .env("RUST_LOG", "info,compactor::retention=debug")
            .run()
    };
    let out = run(&["retention", "--dry-run", "--json"]);
    let doc = json_ok(&out);
    for id in load.tables() {
        let details = retention_details(&doc, &id);
        let cutoff = reported_cutoff(details);
        let utc = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let line = format!(
            "Computed retention cutoff: tenant=acme dataset=prod signal={} cutoff={utc}",
            id.table
        );
        assert_eq!(out.stderr.matches(&line).count(), 1, "no `{line}` in\n{}", out.stderr);
        let local = details["policy"]["cutoff_local"].as_str().unwrap();
        let parsed = DateTime::parse_from_rfc3339(local).unwrap();
        assert_eq!(parsed.with_timezone(&Utc), cutoff, "{local}");
        let offset = parsed.offset().local_minus_utc();
        assert!(offset == -5 * 3600 || offset == -4 * 3600, "{local}");
        assert_eq!(details["policy"]["timezone"], "America/New_York");
    }

    let out = run(&["retention", "--dry-run"]);
    out.assert_success();
    assert!(
        out.stdout.starts_with("retention [DRY-RUN]: 3 table(s), 0 failure(s)"),
        "{}",
        out.stdout
    );
    let cutoff_lines: Vec<&str> =
        out.stdout.lines().filter(|l| l.trim_start().starts_with("cutoff: ")).collect();
    assert_eq!(cutoff_lines.len(), 3, "{}", out.stdout);
    for line in cutoff_lines {
        let rest = line.trim_start().trim_start_matches("cutoff: ");
        let (local, utc) =
            rest.split_once(" (America/New_York) = ").unwrap_or_else(|| panic!("{line}"));
        let local = DateTime::parse_from_rfc3339(local).unwrap().with_timezone(&Utc);
        assert_eq!(local, utc.parse::<DateTime<Utc>>().unwrap(), "{line}");
        assert!(utc.ends_with('Z'), "{line}");
    }
}
