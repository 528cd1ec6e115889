//! A full disk under a filesystem warehouse: the warehouse is a small tmpfs mounted for the test
//! (we run as root; a machine that cannot mount fails the test under `CI=true`). Filled up,
//! compaction's output write fails with ENOSPC: each table fails with an error naming the
//! directory it wrote to and the OS error, in the `--json` report and the log; nothing is lost
//! (same rows for pyiceberg, every referenced file stored, no partial output left); once space
//! is freed the next pass compacts everything.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::TableKind;
use common::tables::TableId;
use iceberg::Catalog;
use tests_integration::orphans::stored;
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::require::skip;
use tests_integration::{Backend, TestEnv, require_python};

use crate::compactor::{Executed, Load, compactor, executed, file_name, json_ok, table_entry};

/// Two quiet hours of 6 small files in `traces` and `logs`: one group per hour and table.
const SMALL_FILES: Load = Load {
    signals: &[TableKind::Traces, TableKind::Logs],
    hours: 2,
    files_per_hour: 6,
    rows_per_file: 200,
};

/// A tmpfs mounted at a directory for the life of the value; unmounted on drop (lazily when
/// something still holds it open).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=`, e.g. `16m`) at `path`, creating the directory;
    /// `None` (test skipped, or failed under `CI=true`) when mounting is not permitted.
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(path)
            .output()
            .expect("running mount");
        if !out.status.success() {
            let why = format!("mount -t tmpfs failed: {}", String::from_utf8_lossy(&out.stderr));
            return skip("a tmpfs mount (root)", why.trim());
        }
        Some(Tmpfs { path: path.to_path_buf() })
    }

    /// Fills the file system with one file until a write fails with ENOSPC; returns the file.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        let mut small = vec![0u8; 4096];
        loop {
            if let Err(e) = file.write_all(&chunk) {
                assert_eq!(e.raw_os_error(), Some(28), "filling {}: {e}", self.path.display());
                break;
            }
        }
        // Top off what a 64 KiB write could not take.
        while file.write_all(&small).is_ok() {}
        small.truncate(1);
        while file.write_all(&small).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.path).status().is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// Checks that every file the metadata of `ids` reaches is stored.
async fn assert_referenced_files_present(env: &TestEnv, ids: &[TableId]) {
    for id in ids {
        super::assert_references_stored(env, id).await;
    }
}

/// Compaction on a full disk fails each table with an error naming its hour directory and "No
/// space left on device", commits nothing, leaves no partial output and loses no row; with the
/// space back, the next pass compacts every hour into one file holding the same rows.
#[tokio::test]
async fn compaction_on_a_full_disk_fails_cleanly_and_succeeds_once_space_is_back() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    let Some(_python) = require_python() else { return };
    let Some(disk) = Tmpfs::mount(&env.dir().join("warehouse"), "16m") else { return };
    env.append_config("[compactor]\nmin_input_files = 3");
    let ids = SMALL_FILES.run(&env);
    let hours = SMALL_FILES.hour_labels();
    let before = read_by_hour(&env, &ids);
    let catalog = env.catalog().await;
    let mut metadata = Vec::new();
    for id in &ids {
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        metadata.push(table.metadata_location().unwrap().to_string());
    }
    let objects_before = stored(&env.warehouse(), env.warehouse_uri()).await;

    let filler = disk.fill();
    let out = compactor(&env, &["compact", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.streams());
    let doc = out.json();
    assert_eq!(doc["failures"], ids.len(), "{doc}");
    for (id, metadata_location) in ids.iter().zip(&metadata) {
        let entry = table_entry(&doc, id);
        let error = entry["error"].as_str().unwrap_or_else(|| panic!("{id} did not fail: {entry}"));
        let table_dir =
            format!("{}/{}/{}/{}", env.warehouse_uri(), id.tenant, id.dataset, id.table);
        assert!(error.contains("No space left on device"), "{id}: {error}");
        assert!(error.contains(&format!("{table_dir}/data/hour=")), "{id} names the path: {error}");
        for g in executed(&entry["details"]) {
            assert_eq!(g.status, "abandoned", "{id}: {g:?}");
            assert!(g.reason.contains("No space left on device"), "{id}: {g:?}");
        }
        assert!(out.stderr.contains(&table_dir), "the log names {table_dir}\n{}", out.stderr);
        let table = catalog.catalog().load_table(&id.ident()).await.unwrap();
        assert_eq!(table.metadata_location(), Some(metadata_location.as_str()), "{id}: committed");
    }
    assert!(out.stderr.contains("No space left on device"), "{}", out.stderr);
    // Nothing written is left behind: the store holds exactly what it held (and the filler).
    let mut objects = stored(&env.warehouse(), env.warehouse_uri()).await;
    objects.retain(|o| !o.ends_with("/filler"));
    assert_eq!(objects, objects_before, "partial output left on the full disk");
    assert_eq!(
        read_by_hour(&env, &ids)
            .iter()
            .map(|(k, t)| (k.clone(), t.content.clone()))
            .collect::<Vec<_>>(),
        before.iter().map(|(k, t)| (k.clone(), t.content.clone())).collect::<Vec<_>>()
    );
    assert_referenced_files_present(&env, &ids).await;

    std::fs::remove_file(&filler).unwrap();
    let doc = json_ok(&compactor(&env, &["compact", "--json"]));
    let after = read_by_hour(&env, &ids);
    for id in &ids {
        let key = id.to_string();
        let groups = executed(&table_entry(&doc, id)["details"]);
        assert_eq!(groups.len(), hours.len(), "{key}: {groups:?}");
        assert!(groups.iter().all(Executed::committed), "{key}: {groups:?}");
        assert_eq!(after[&key].content, before[&key].content, "{key}");
        for hour in &hours {
            let live = after[&key].files_of(hour);
            assert_eq!(live.len(), 1, "{key} {hour}: {live:?}");
            assert!(file_name(live.first().unwrap()).starts_with("compacted-"), "{live:?}");
        }
    }
    assert_referenced_files_present(&env, &ids).await;
}
