//! The monitoring artifacts under `config/`: the alert rules are valid for Prometheus, their
//! unit tests pass, and every metric family they query is one the compactor exports.

use std::collections::BTreeSet;
use std::process::Command;

use common::Signal;
use common::tables::TableId;
use compactor::job::JobKind;
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
fn the_alert_rules_query_only_families_the_compactor_exports() {
    let rules =
        std::fs::read_to_string(workspace_root().join("config/prometheus/compactor-alerts.yml"))
            .unwrap();
    let metrics = compactor::metrics::Metrics::new();
    metrics.touch_table(&TableId::new("acme", "prod", Signal::Logs).unwrap());
    for job in JobKind::ALL {
        metrics.touch_job(job);
    }
    metrics.scheduler.set_ready("catalog", true);
    let exported: BTreeSet<String> =
        metrics.registry().gather().iter().map(|f| f.name().to_string()).collect();
    let mut queried = BTreeSet::new();
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("compactor_") {
            queried.insert(word.to_string());
        }
    }
    assert!(queried.len() >= 5, "{queried:?}");
    for family in &queried {
        assert!(exported.contains(family), "{family} is not exported; exported: {exported:?}");
    }
}
