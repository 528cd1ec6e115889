//! `signaldb-loadgen` on every backend: what it says it wrote is what pyiceberg and iceberg-rust
//! read back, laid out as `{warehouse}/{tenant}/{dataset}/{table}/data/hour=YYYY-MM-DD-HH/`,
//! and the same seed writes the same rows.

use std::collections::{BTreeMap, BTreeSet};

use common::TableKind;
use common::tables::TableId;
use iceberg::Catalog;
use serde_json::{Value, json};
use tests_integration::iceberg_read::{list_locations, rows_per_hour};
use tests_integration::{
    Backend, TestEnv, hours_ending_at, require_python, run_bin, run_pyiceberg,
};

const LOADGEN: &str = "signaldb-loadgen";
const END_TIME: &str = "2026-01-15T12:00:00Z";

/// One loadgen run's shape; the expected counts follow from it.
struct Load {
    tenants: &'static [&'static str],
    datasets: &'static [&'static str],
    hours: usize,
    files_per_hour: usize,
    rows_per_file: usize,
    seed: u64,
}

/// The reference run: 2 tenants × 3 signals, 3 hours × 4 files × 50 rows.
const FULL: Load = Load {
    tenants: &["acme", "production"],
    datasets: &["prod"],
    hours: 3,
    files_per_hour: 4,
    rows_per_file: 50,
    seed: 42,
};

impl Load {
    fn args(&self, env: &TestEnv) -> Vec<String> {
        let config = env.config_path().display().to_string();
        [
            ("--config", config),
            ("--tenants", self.tenants.join(",")),
            ("--datasets", self.datasets.join(",")),
            ("--signals", "traces,logs,metrics".to_string()),
            ("--hours", self.hours.to_string()),
            ("--files-per-hour", self.files_per_hour.to_string()),
            ("--rows-per-file", self.rows_per_file.to_string()),
            ("--seed", self.seed.to_string()),
            ("--end-time", END_TIME.to_string()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_string(), value])
        .chain(["--json".to_string()])
        .collect()
    }

    fn table_ids(&self) -> Vec<TableId> {
        let mut ids = Vec::new();
        for tenant in self.tenants {
            for dataset in self.datasets {
                for signal in TableKind::SIGNAL_NAMED {
                    ids.push(TableId::new(tenant, dataset, signal).unwrap());
                }
            }
        }
        ids
    }

    fn files_per_table(&self) -> usize {
        self.hours * self.files_per_hour
    }

    fn rows_per_table(&self) -> usize {
        self.files_per_table() * self.rows_per_file
    }

    fn expected_hours(&self) -> Vec<String> {
        hours_ending_at(END_TIME.parse().unwrap(), self.hours as i64)
    }

    fn expected_rows_per_hour(&self) -> BTreeMap<String, usize> {
        let per_hour = self.files_per_hour * self.rows_per_file;
        self.expected_hours().into_iter().map(|h| (h, per_hour)).collect()
    }

    /// Runs the loadgen against `env`, checks its JSON summary and returns it.
    fn run(&self, env: &TestEnv) -> Value {
        let out =
            run_bin(LOADGEN, &self.args(env).iter().map(String::as_str).collect::<Vec<_>>(), env);
        out.assert_success();
        let summary = out.json();
        let ids = self.table_ids();
        let tables = summary["tables"].as_array().unwrap_or_else(|| panic!("no tables: {summary}"));
        assert_eq!(tables.len(), ids.len(), "summary: {summary}");
        for id in &ids {
            let entry = tables
                .iter()
                .find(|t| {
                    t["tenant"] == id.tenant.as_str()
                        && t["dataset"] == id.dataset.as_str()
                        && t["signal"] == id.table.as_str()
                })
                .unwrap_or_else(|| panic!("{id} missing from summary: {summary}"));
            assert_eq!(entry["files"], self.files_per_table(), "{id}: {entry}");
            assert_eq!(entry["rows"], self.rows_per_table(), "{id}: {entry}");
            assert_eq!(entry["hours"], self.hours, "{id}: {entry}");
        }
        assert_eq!(summary["total_files"], ids.len() * self.files_per_table(), "{summary}");
        assert_eq!(summary["total_rows"], ids.len() * self.rows_per_table(), "{summary}");
        let checksum = summary["checksum"].as_str().unwrap_or_default();
        assert!(
            !checksum.is_empty() && checksum.chars().all(|c| c.is_ascii_hexdigit()),
            "checksum is not hex: {summary}"
        );
        summary
    }
}

fn idents(ids: &[TableId]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

async fn roundtrip(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    let load = &FULL;
    load.run(&env);

    let ids = load.table_ids();
    let expected_per_hour = load.expected_rows_per_hour();
    let expected_hours: BTreeSet<String> = load.expected_hours().into_iter().collect();

    // pyiceberg, through the same catalog name, database and warehouse.
    let py = run_pyiceberg(&env, &idents(&ids));
    let mut py_files = BTreeMap::new();
    for id in &ids {
        let t = &py["tables"][id.to_string()];
        assert_eq!(t["exists"], true, "{id}: {t}");
        assert_eq!(t["total_rows"], load.rows_per_table(), "{id}");
        assert_eq!(t["rows_per_hour"], json!(expected_per_hour), "{id}");
        assert_eq!(t["live_data_files"], load.files_per_table(), "{id}");
        assert_eq!(t["format_version"], 2, "{id}");
        assert!(t["snapshot_count"].as_u64().unwrap() >= 1, "{id}: {t}");
        assert_eq!(t["partition_fields"][0]["name"], "hour", "{id}: {t}");
        let files: BTreeSet<String> =
            serde_json::from_value(t["data_files"].clone()).expect("data_files is a string list");
        py_files.insert(id.clone(), files);
    }

    // iceberg-rust through `common`, and the files through the warehouse's object store.
    let catalog = env.catalog().await;
    let warehouse = catalog.warehouse();
    for id in &ids {
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        let location = id.location(warehouse.location());
        assert_eq!(table.metadata().location(), location, "{id}");
        assert_eq!(
            rows_per_hour(&table).await.unwrap(),
            expected_per_hour,
            "{id} via iceberg-rust"
        );

        let data_dir = format!("{location}/data");
        let listed = list_locations(warehouse, &data_dir).await.unwrap();
        let mut hours_seen = BTreeSet::new();
        for file in &listed {
            let rest = file
                .strip_prefix(&format!("{data_dir}/hour="))
                .unwrap_or_else(|| panic!("{file} is not under {data_dir}/hour=YYYY-MM-DD-HH/"));
            let (hour, name) = rest.split_once('/').unwrap();
            assert!(expected_hours.contains(hour), "{file}: hour {hour} not in {expected_hours:?}");
            assert!(name.ends_with(".parquet") && !name.contains('/'), "{file}");
            hours_seen.insert(hour.to_string());
        }
        assert_eq!(hours_seen, expected_hours, "{id}");
        // The live files are exactly the files on storage: an append-only writer leaves no
        // orphans, and both readers agree on the paths.
        let listed: BTreeSet<String> = listed.into_iter().collect();
        assert_eq!(listed, py_files[id], "{id}: storage listing vs pyiceberg inspect.files()");
    }
}

#[tokio::test]
async fn loadgen_roundtrip_sqlite_local() {
    roundtrip(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn loadgen_roundtrip_postgres_local() {
    roundtrip(Backend::Postgres).await;
}

#[tokio::test]
async fn loadgen_roundtrip_sqlite_s3() {
    roundtrip(Backend::S3).await;
}

#[tokio::test]
async fn loadgen_roundtrip_postgres_s3() {
    roundtrip(Backend::PostgresS3).await;
}

/// A smaller run for comparing content across envs.
const SMALL: Load = Load {
    tenants: &["acme"],
    datasets: &["prod"],
    hours: 2,
    files_per_hour: 2,
    rows_per_file: 20,
    seed: 42,
};

#[tokio::test]
async fn loadgen_same_seed_writes_same_rows() {
    let Some(first) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(second) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(third) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };

    let a = SMALL.run(&first);
    let b = SMALL.run(&second);
    let other_seed = Load { seed: 7, ..SMALL };
    let c = other_seed.run(&third);
    assert_eq!(a["checksum"], b["checksum"], "same seed, different loadgen checksum");
    assert_ne!(a["checksum"], c["checksum"], "seeds 42 and 7 gave the same checksum");

    let idents = idents(&SMALL.table_ids());
    let (pa, pb, pc) = (
        run_pyiceberg(&first, &idents),
        run_pyiceberg(&second, &idents),
        run_pyiceberg(&third, &idents),
    );
    for ident in &idents {
        let hash = |py: &Value| py["tables"][ident]["rows_sha256"].as_str().unwrap().to_string();
        assert_eq!(hash(&pa), hash(&pb), "{ident}: same seed, different rows");
        assert_ne!(hash(&pa), hash(&pc), "{ident}: different seeds, same rows");
    }
}
