//! The monitoring artifacts under `config/`: the alert rules are valid for Prometheus and their
//! unit tests pass, the Grafana dashboard is well formed, every metric family either queries
//! is one the compactor exports, and (`live`) a real Prometheus scraping a real daemon answers
//! every dashboard query and fires an alert.

mod live;

use std::collections::BTreeSet;
use std::process::Command;

use common::TableKind;
use common::tables::TableId;
use compactor::JobKind;
use tests_integration::{require_promtool, workspace_root};

#[test]
fn the_alert_rules_are_valid_and_their_promtool_tests_pass() {
    let Some(promtool) = require_promtool() else { return };
    let dir = workspace_root().join("config/prometheus");
    for args in
        [["check", "rules", "compactor-alerts.yml"], ["test", "rules", "compactor-alerts.test.yml"]]
    {
        let out = Command::new(&promtool).args(args).current_dir(&dir).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "promtool {}: {text}", args.join(" "));
        assert!(text.contains("SUCCESS"), "promtool {}: {text}", args.join(" "));
    }
}

#[test]
fn the_alert_rules_and_the_dashboard_query_only_families_the_compactor_exports() {
    let metrics = compactor::Metrics::new();
    metrics.touch_table(&TableId::new("acme", "prod", TableKind::Logs).unwrap());
    for job in JobKind::ALL {
        metrics.touch_job(job);
    }
    metrics.scheduler.set_ready("catalog", true);
    let exported: BTreeSet<String> =
        metrics.registry().gather().iter().map(|f| f.name().to_string()).collect();
    for file in ["config/prometheus/compactor-alerts.yml", "config/grafana/signaldb-compactor.json"]
    {
        let text = std::fs::read_to_string(workspace_root().join(file)).unwrap();
        let mut queried = BTreeSet::new();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if let Some(family) = word.strip_prefix("compactor_") {
                // A histogram is queried by its series' names.
                let family = family.strip_suffix("_bucket").unwrap_or(family);
                queried.insert(format!("compactor_{family}"));
            }
        }
        assert!(queried.len() >= 5, "{file}: {queried:?}");
        for family in &queried {
            assert!(exported.contains(family), "{file}: {family} is not exported");
        }
    }
}

#[test]
fn the_dashboard_is_one_grafana_dashboard_on_a_prometheus_datasource() {
    let path = workspace_root().join("config/grafana/signaldb-compactor.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(dashboard["uid"], "signaldb-compactor");
    let panels = dashboard["panels"].as_array().unwrap();
    let ids: BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    let titles: BTreeSet<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for section in ["Jobs", "Storage reclaimed", "Table health", "Warnings and liveness"] {
        assert!(titles.contains(section), "row {section}");
    }
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{}", panel["title"]);
        assert!(!panel["targets"].as_array().unwrap().is_empty(), "{}", panel["title"]);
        let grid = &panel["gridPos"];
        assert!(
            grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap() <= 24,
            "{}",
            panel["title"]
        );
    }
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let names: Vec<&str> = variables.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["datasource", "tenant", "dataset"]);
}
