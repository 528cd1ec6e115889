//! The deployment artifacts: the Kubernetes manifests under `config/kubernetes/` are valid
//! against the Kubernetes schemas (kubernetes-validate, offline) and agree with the code
//! (environment variable names, probe paths, the metrics port, the shutdown timeout), and the
//! Dockerfile builds the binary the way the test suite does, as a non-root user.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tests_integration::{require_python, workspace_root};

/// Every manifest file.
fn manifests() -> Vec<PathBuf> {
    let dir = workspace_root().join("config/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Every document of every manifest, as JSON (read by PyYAML from the test venv).
fn documents(python: &PathBuf) -> Vec<Value> {
    let script = "import json, sys, yaml\n\
                  docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]\n\
                  print(json.dumps(docs))";
    let out = Command::new(python).arg("-c").arg(script).args(manifests()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn the_manifests_are_valid_kubernetes_resources() {
    let Some(python) = require_python() else { return };
    let files = manifests();
    let kinds = ["ConfigMap", "CronJob", "Deployment", "PodDisruptionBudget", "Service"];
    let docs = documents(&python);
    let found: BTreeSet<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(found, kinds.into_iter().collect(), "{files:?}");
    let out = Command::new(&python)
        .args(["-m", "kubernetes_validate", "--strict", "--kubernetes-version", "1.37.0"])
        .args(&files)
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(" passed for resource ").count(), files.len(), "{text}");
}

#[test]
fn the_manifests_agree_with_the_code() {
    let Some(python) = require_python() else { return };
    let docs = documents(&python);

    // The ConfigMap's signaldb.toml is a valid configuration.
    let toml = of_kind(&docs, "ConfigMap")["data"]["signaldb.toml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signaldb.toml");
    std::fs::write(&path, toml).unwrap();
    let loaded = common::config::load_from(Some(&path), Vec::new(), dir.path()).unwrap();
    let c = &loaded.config.compactor;

    let known: BTreeSet<&str> = common::config::env_keys().iter().map(|k| k.var.as_str()).collect();
    let pods = [
        &of_kind(&docs, "Deployment")["spec"]["template"]["spec"],
        &of_kind(&docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    ];
    for pod in pods {
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{pod}");
        for container in pod["containers"].as_array().unwrap() {
            for env in container["env"].as_array().unwrap() {
                let name = env["name"].as_str().unwrap();
                if name.starts_with("SIGNALDB_") && name != common::config::CONFIG_FILE_VAR {
                    assert!(known.contains(name), "{name} is not a configuration variable");
                }
            }
            let mount = &container["volumeMounts"][0]["mountPath"];
            let config = container["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == "SIGNALDB_CONFIG");
            let file = config.unwrap()["value"].as_str().unwrap();
            assert_eq!(file, format!("{}/signaldb.toml", mount.as_str().unwrap()));
        }
    }

    // The daemon: probes on the paths the HTTP endpoint serves, on the configured port, and a
    // grace period longer than the shutdown timeout.
    let deployment = &of_kind(&docs, "Deployment")["spec"]["template"];
    let container = &deployment["spec"]["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], compactor::HEALTHZ_PATH);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], compactor::READYZ_PATH);
    assert_eq!(container["ports"][0]["containerPort"], c.metrics_port);
    let port = c.metrics_port.to_string();
    assert_eq!(deployment["metadata"]["annotations"]["prometheus.io/port"], port.as_str());
    let service = of_kind(&docs, "Service");
    assert_eq!(service["metadata"]["annotations"]["prometheus.io/port"], port.as_str());
    assert_eq!(service["spec"]["ports"][0]["port"], c.metrics_port);
    let grace = deployment["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(grace > c.shutdown_timeout_secs, "{grace} s <= shutdown_timeout_secs");
    let envs = container["env"].as_array().unwrap();
    let timeout = envs.iter().find(|e| e["name"] == "SIGNALDB_COMPACTOR_SHUTDOWN_TIMEOUT_SECS");
    assert_eq!(timeout.unwrap()["value"], c.shutdown_timeout_secs.to_string().as_str());
    assert_eq!(container["args"], serde_json::json!(["--log-format", "json", "run"]));
}

#[test]
fn the_dockerfile_builds_locked_release_binaries_and_runs_them_unprivileged() {
    let root = workspace_root();
    let docker = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let lines: Vec<&str> = docker.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
    let stages = lines.iter().filter(|l| l.starts_with("FROM ")).count();
    assert_eq!(stages, 2, "a build stage and a runtime stage");
    assert!(lines.contains(&"RUN cargo build --release --locked -p compactor --bin compactor"));
    assert!(
        lines.contains(&"COPY --from=build /src/target/release/compactor /usr/local/bin/compactor")
    );
    let user = lines.iter().find_map(|l| l.strip_prefix("USER ")).expect("a USER");
    assert!(!user.starts_with("root") && !user.starts_with("0"), "{user}");
    assert!(lines.contains(&"EXPOSE 9091"));
    assert!(lines.contains(&r#"ENTRYPOINT ["compactor"]"#));
    assert!(lines.contains(&r#"CMD ["run"]"#));
    // The test suite builds with the same lockfile rule, so a Cargo.lock the image could not
    // build from fails here first.
    let test_sh = std::fs::read_to_string(root.join("scripts/test.sh")).unwrap();
    assert!(test_sh.contains("cargo build --locked --workspace --bins"), "scripts/test.sh");
}

#[test]
fn the_demo_compacts_drops_and_reports_each_table_before_and_after() {
    let stdout = demo("classic");
    // 8 hours x 10 files per table: compaction makes one file per hour, retention drops the
    // logs (past 3 days) and keeps traces and metrics.
    let row = |table: &str| demo_row(&stdout, table);
    assert!(row("demo.prod.traces").contains("80 -> 8"), "{stdout}");
    assert!(row("demo.prod.metrics").contains("80 -> 8"), "{stdout}");
    assert!(row("demo.prod.logs").contains("80 -> 0"), "{stdout}");
    assert!(row("demo.prod.logs").contains("(healthy)"), "{stdout}");
    assert!(stdout.contains("3 table(s), 3 unhealthy"), "before: {stdout}");
    assert!(stdout.contains("3 table(s), 0 unhealthy"), "after: {stdout}");
}

#[test]
fn the_demo_on_signaldbs_layout_maintains_all_eight_tables() {
    let stdout = demo("signaldb");
    let row = |table: &str| demo_row(&stdout, table);
    // Each table by its signal: logs dropped (3 days), the rest kept, all compacted.
    for table in ["traces", "metrics_gauge", "metrics_sum", "metrics_histogram", "profiles"] {
        let row = row(&format!("demo.prod.{table} "));
        assert!(row.contains("80 -> 8"), "{table}: {stdout}");
        assert!(row.contains("(healthy)"), "{table}: {stdout}");
    }
    assert!(row("demo.prod.logs ").contains("80 -> 0"), "{stdout}");
    assert!(stdout.contains("8 table(s), 8 unhealthy"), "before: {stdout}");
    assert!(stdout.contains("8 table(s), 0 unhealthy"), "after: {stdout}");
}

/// Runs `scripts/demo.sh --layout <layout>` in a temporary directory on the built binaries and
/// returns its standard output.
fn demo(layout: &str) -> String {
    // Built (or checked fresh) before the script uses them.
    let bins = tests_integration::bins::bin_path("compactor").parent().unwrap().to_path_buf();
    tests_integration::bins::bin_path("signaldb-loadgen");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(workspace_root().join("scripts/demo.sh"))
        .arg("--dir")
        .arg(dir.path())
        .args(["--layout", layout])
        .env("SIGNALDB_DEMO_BIN_DIR", &bins)
        .env_remove("SIGNALDB_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout
}

/// The before/after row of `table` in the demo's output.
#[track_caller]
fn demo_row<'a>(stdout: &'a str, table: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(table) && l.contains(" -> "))
        .unwrap_or_else(|| panic!("no before/after row of {table}\n{stdout}"))
}
