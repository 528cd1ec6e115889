//! A real Prometheus server on loopback scraping a real `compactor run`: every query of the
//! Grafana dashboard returns series, and a failure condition (old data while retention is
//! off) fires its alert.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tests_integration::http::{free_port, http_get};
use tests_integration::{Backend, BinCommand, TestEnv, require_prometheus, workspace_root};

/// Kills the Prometheus server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every query of the dashboard, with its template variables set to "all".
fn dashboard_queries() -> Vec<String> {
    let path = workspace_root().join("config/grafana/signaldb-compactor.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            out.push(expr.replace("$tenant", ".*").replace("$dataset", ".*"));
        }
    }
    out
}

/// `s` with everything but letters and digits percent-encoded, for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(
            |b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            },
        )
        .collect()
}

/// The `data` of Prometheus's answer to `GET path`, or `None` while it does not answer.
fn api(port: u16, path: &str) -> Option<Value> {
    let response = http_get(port, path).ok()?;
    let doc: Value = serde_json::from_str(&response.body).ok()?;
    (doc["status"] == "success").then(|| doc["data"].clone())
}

#[tokio::test]
async fn prometheus_scraping_a_daemon_answers_every_dashboard_query_and_fires_an_alert() {
    let Some(prometheus) = require_prometheus() else { return };
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    // Hours of January 2026: long past the 3-day log retention, which is off by default.
    let load = BinCommand::new("signaldb-loadgen")
        .config_flag(&env)
        .args(["--tenants", "acme", "--datasets", "prod", "--signals", "logs", "--hours", "2"])
        .args(["--files-per-hour", "3", "--rows-per-file", "50", "--seed", "3"])
        .args(["--end-time", "2026-01-15T12:00:00Z", "--json"])
        .test_env(&env)
        .run();
    load.assert_success();
    env.append_config("[compactor]\ncompaction_interval_secs = 2\nmin_input_files = 2");

    let metrics_port = free_port();
    let mut daemon = BinCommand::new("compactor")
        .args(["run"])
        .test_env(&env)
        .env("RUST_LOG", "info")
        .env("SIGNALDB_COMPACTOR_METRICS_PORT", &metrics_port.to_string())
        .timeout(Duration::from_secs(120))
        .spawn();

    // The alert rules as shipped, without their `for:` delays, evaluated every second.
    let dir = tempfile::tempdir().unwrap();
    let rules =
        std::fs::read_to_string(workspace_root().join("config/prometheus/compactor-alerts.yml"))
            .unwrap();
    let rules: String = rules
        .lines()
        .filter(|l| !l.trim_start().starts_with("for: "))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yml]\n\
         scrape_configs:\n  - job_name: signaldb-compactor\n    static_configs:\n      \
         - targets: ['127.0.0.1:{metrics_port}']\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let web_port = free_port();
    let server = Server(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{web_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting prometheus"),
    );

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut missing: BTreeSet<String> = dashboard_queries().into_iter().collect();
    assert!(missing.len() >= 15, "{missing:?}");
    let mut fired = false;
    while (!missing.is_empty() || !fired) && Instant::now() < deadline {
        assert!(daemon.is_running(), "the daemon exited");
        missing.retain(|q| {
            let answer = api(web_port, &format!("/api/v1/query?query={}", encode(q)));
            answer.is_none_or(|d| d["result"].as_array().is_none_or(|r| r.is_empty()))
        });
        fired = api(web_port, "/api/v1/alerts").is_some_and(|d| {
            d["alerts"].as_array().into_iter().flatten().any(|a| {
                a["labels"]["alertname"] == "CompactorWarningSign"
                    && a["labels"]["check"] == "storage_grows_despite_retention"
                    && a["labels"]["table"] == "logs"
                    && a["state"] == "firing"
            })
        });
        std::thread::sleep(Duration::from_millis(500));
    }
    // Our job label is `task`: the scrape target's `job` stays Prometheus's own, and nothing is
    // renamed to `exported_job`.
    let cycles = api(
        web_port,
        &format!("/api/v1/query?query={}", encode("compactor_scheduler_cycles_total")),
    )
    .and_then(|d| d["result"].as_array().cloned())
    .unwrap_or_default();
    daemon.terminate();
    let out = daemon.wait();
    drop(server);
    assert!(
        missing.is_empty(),
        "dashboard queries without series: {missing:#?}\n{}",
        out.streams()
    );
    assert!(fired, "CompactorWarningSign did not fire\n{}", out.streams());
    let tasks: BTreeSet<&str> =
        cycles.iter().filter_map(|series| series["metric"]["task"].as_str()).collect();
    assert!(tasks.contains("compaction"), "{cycles:#?}");
    for series in &cycles {
        let labels = &series["metric"];
        assert_eq!(labels["job"], "signaldb-compactor", "{series}");
        assert!(labels.get("exported_job").is_none(), "{series}");
    }
}
