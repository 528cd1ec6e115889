//! Output files reach their target: on realistic traces (one quiet hour of 100 files of 2,000
//! rows, as the load generator writes them), `compactor compact` leaves exactly the number of
//! files its plan announced, every one but the partition's remainder within 0.75-1.1x of the
//! target, the same rows for pyiceberg, and a second pass that rewrites nothing.

use common::Signal;
use futures::TryStreamExt;
use iceberg::Catalog;
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::{Backend, TestEnv, require_python};

use super::{Load, compactor, json_ok, table_entry};

/// One quiet hour of 100 small traces files.
const ONE_HOUR: Load =
    Load { signals: &[Signal::Traces], hours: 1, files_per_hour: 100, rows_per_file: 2000 };

#[tokio::test]
async fn outputs_reach_the_target_on_sqlite_local() {
    for target in [256 * 1024, 4 * 1024 * 1024] {
        outputs_reach_the_target(Backend::SqliteLocal, target).await;
    }
}

#[tokio::test]
async fn outputs_reach_the_target_on_postgres_s3() {
    for target in [256 * 1024, 4 * 1024 * 1024] {
        outputs_reach_the_target(Backend::PostgresS3, target).await;
    }
}

async fn outputs_reach_the_target(backend: Backend, target: u64) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let Some(_python) = require_python() else { return };
    env.append_config(&format!(
        "[compactor]\ntarget_file_size_bytes = {target}\nsmall_file_threshold_bytes = {}",
        target * 3 / 4
    ));
    let ids = ONE_HOUR.run(&env);
    let id = &ids[0];
    let before = read_by_hour(&env, &ids);

    let plan = json_ok(&compactor(&env, &["plan", "--json"]));
    let planned = table_entry(&plan, id)["details"]["files_after"].as_u64().unwrap();
    json_ok(&compactor(&env, &["compact", "--json"]));

    let catalog = env.catalog().await;
    let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
    let tasks: Vec<_> =
        table.scan().build().unwrap().plan_files().await.unwrap().try_collect().await.unwrap();
    let mut sizes: Vec<u64> = tasks.iter().map(|t| t.file_size_in_bytes).collect();
    sizes.sort_unstable();
    assert_eq!(sizes.len() as u64, planned, "target {target} on {backend}: {sizes:?}");
    assert!(sizes.len() >= 3, "target {target} on {backend}: {sizes:?}");
    for size in &sizes[1..] {
        let ratio = *size as f64 / target as f64;
        assert!((0.75..=1.1).contains(&ratio), "target {target} on {backend}: {sizes:?}");
    }
    let after = read_by_hour(&env, &ids);
    let key = id.to_string();
    assert_eq!(after[&key].content, before[&key].content, "target {target} on {backend}");

    let again = json_ok(&compactor(&env, &["compact", "--json"]));
    let details = &table_entry(&again, id)["details"];
    assert_eq!(details["bytes_to_rewrite"], 0, "target {target} on {backend}: {details}");
    assert_eq!(details["execution"]["groups"].as_array().map(Vec::len), Some(0), "{details}");
}
