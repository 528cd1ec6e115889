//! Which layer wins, and which file is read.

use figment::Jail;

use super::*;
use crate::config::{Config, load};

#[test]
fn defaults_apply_when_nothing_is_set() {
    Jail::expect_with(|jail| {
        let loaded = load_in(jail, None, &[]).unwrap();
        assert_eq!(loaded.config, Config::default());
        assert_eq!(loaded.file, None);
        assert!(loaded.provenance.iter().all(|(_, o)| *o == Origin::Default));
        let c = &loaded.config.compactor;
        assert!(c.enabled && !c.dry_run);
        assert_eq!(c.compaction_interval_secs, 3600);
        assert_eq!(c.metrics_port, 9091);
        assert_eq!(c.target_file_size_bytes, 134_217_728);
        assert_eq!(c.small_file_threshold_bytes, 100_663_296);
        assert_eq!((c.min_input_files, c.max_concurrent_jobs), (5, 2));
        assert_eq!((c.quiet_period_secs, c.shutdown_timeout_secs), (3600, 30));
        let r = &c.retention;
        assert!(!r.enabled && !r.dry_run);
        assert_eq!(r.retention_check_interval_secs, 3600);
        assert_eq!(
            (r.traces_retention_days, r.logs_retention_days, r.metrics_retention_days),
            (7, 3, 30)
        );
        assert_eq!((r.grace_period_hours, r.timezone.name(), r.snapshots_to_keep), (1, "UTC", 5));
        assert!(r.tenant_overrides.is_empty());
        let o = &c.orphan_cleanup;
        assert!(!o.enabled && !o.dry_run && o.revalidate_before_delete);
        assert_eq!((o.grace_period_hours, o.cleanup_interval_hours), (24, 24));
        assert_eq!((o.batch_size, o.max_snapshot_age_hours), (1000, 720));
        let s = &loaded.config.storage;
        assert_eq!(s.dsn, "file://.data/storage");
        assert_eq!(s.s3, crate::config::S3Config::default());
        assert!(!s.s3.allow_http && s.s3.endpoint.is_none() && s.s3.secret_access_key.is_none());
        let sc = &loaded.config.schema;
        assert_eq!(
            (sc.catalog_type.as_str(), sc.catalog_uri.as_str()),
            ("sql", "sqlite://.data/catalog.db")
        );
        assert_eq!(sc.catalog_name, "signaldb");
        Ok(())
    });
}

#[test]
fn file_beats_default_and_env_beats_file() {
    Jail::expect_with(|jail| {
        let toml = "[compactor.retention]\ntraces_retention_days = 10\nlogs_retention_days = 4\n";
        let env = [("SIGNALDB_COMPACTOR_RETENTION_TRACES_RETENTION_DAYS", "20")];
        let loaded = load_toml(jail, toml, &env).unwrap();
        let r = &loaded.config.compactor.retention;
        assert_eq!(
            (r.traces_retention_days, r.logs_retention_days, r.metrics_retention_days),
            (20, 4, 30)
        );
        let origin = |k: &str| loaded.provenance.origin(k).cloned().unwrap();
        assert_eq!(
            origin("compactor.retention.traces_retention_days"),
            Origin::Env { var: env[0].0.to_string() }
        );
        assert_eq!(origin("compactor.retention.logs_retention_days"), file_line(jail, 3));
        assert_eq!(origin("compactor.retention.metrics_retention_days"), Origin::Default);
        assert_eq!(loaded.file, Some(toml_path(jail)));
        Ok(())
    });
}

#[test]
fn config_flag_beats_signaldb_config_beats_working_directory_file() {
    Jail::expect_with(|jail| {
        let days = |n: u32| format!("[compactor.retention]\ntraces_retention_days = {n}\n");
        jail.create_file("signaldb.toml", &days(1))?;
        jail.create_file("from-env.toml", &days(2))?;
        jail.create_file("explicit.toml", &days(3))?;
        let traces = |l: LoadedConfig| l.config.compactor.retention.traces_retention_days;
        assert_eq!(traces(load_in(jail, None, &[]).unwrap()), 1);
        let env = [("SIGNALDB_CONFIG", "from-env.toml")];
        let loaded = load_in(jail, None, &env).unwrap();
        assert_eq!(loaded.file, Some(jail.directory().join("from-env.toml")));
        assert_eq!(traces(loaded), 2);
        assert_eq!(traces(load_in(jail, Some("explicit.toml"), &env).unwrap()), 3);
        Ok(())
    });
}

#[test]
fn a_named_file_that_does_not_exist_is_an_error_naming_it() {
    Jail::expect_with(|jail| {
        jail.create_file("signaldb.toml", "")?;
        let err = load_in(jail, Some("missing.toml"), &[]).unwrap_err();
        let missing = jail.directory().join("missing.toml");
        assert!(
            matches!(&err, ConfigError::FileNotFound { path, named_by: "--config" } if *path == missing)
        );
        assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
        let err = load_in(jail, None, &[("SIGNALDB_CONFIG", "/nonexistent/x.toml")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration file /nonexistent/x.toml does not exist (named by SIGNALDB_CONFIG)"
        );
        Ok(())
    });
}

#[test]
fn load_reads_the_process_environment_and_working_directory() {
    Jail::expect_with(|jail| {
        // Blank any SIGNALDB_* variable of the machine running the tests; the loader ignores
        // empty variables, and the jail restores them afterwards.
        for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("SIGNALDB_")) {
            jail.set_env(name, "");
        }
        jail.create_file("signaldb.toml", "[compactor]\ndry_run = true\nmetrics_port = 9000\n")?;
        jail.set_env("SIGNALDB_COMPACTOR_METRICS_PORT", 9100);
        let loaded = load(None).unwrap();
        assert!(loaded.config.compactor.dry_run);
        assert_eq!(loaded.config.compactor.metrics_port, 9100);

        jail.create_file("other.toml", "[compactor]\nenabled = false\n")?;
        jail.set_env("SIGNALDB_CONFIG", "other.toml");
        let loaded = load(None).unwrap();
        assert!(!loaded.config.compactor.enabled && !loaded.config.compactor.dry_run);
        let loaded = load(Some(std::path::Path::new("signaldb.toml"))).unwrap();
        assert!(loaded.config.compactor.enabled && loaded.config.compactor.dry_run);
        Ok(())
    });
}

#[test]
fn the_spec_sections_load_as_written() {
    Jail::expect_with(|jail| {
        let toml = r#"
[compactor]
enabled = true
compaction_interval_secs = 3600  # Run compaction every hour
dry_run = false  # Set to true for planning mode only

[compactor.retention]
enabled = true
retention_check_interval_secs = 3600
dry_run = false
traces_retention_days = 7
logs_retention_days = 3
metrics_retention_days = 30
grace_period_hours = 1
timezone = "UTC"
snapshots_to_keep = 5

[[compactor.retention.tenant_overrides]]
tenant_id = "production"
traces_retention_days = 30
logs_retention_days = 7
metrics_retention_days = 90

[[compactor.retention.tenant_overrides.dataset_overrides]]
dataset_id = "critical"
traces_retention_days = 90

[compactor.orphan_cleanup]
enabled = true
grace_period_hours = 24
cleanup_interval_hours = 24
batch_size = 1000
dry_run = false
revalidate_before_delete = true
max_snapshot_age_hours = 720

[storage]
dsn = "s3://signaldb-data/warehouse"

[storage.s3]
endpoint = "http://127.0.0.1:9000"
region = "us-east-1"
allow_http = true

[schema]
catalog_type = "sql"
catalog_uri = "postgresql://signaldb@localhost:5432/signaldb"
"#;
        let loaded = load_toml(jail, toml, &[]).unwrap();
        let r = &loaded.config.compactor.retention;
        assert!(r.enabled && loaded.config.compactor.orphan_cleanup.enabled);
        let t = &r.tenant_overrides[0];
        assert_eq!(t.tenant_id, "production");
        assert_eq!(t.metrics_retention_days, Some(90));
        assert_eq!(t.dataset_overrides[0].dataset_id, "critical");
        assert_eq!(t.dataset_overrides[0].traces_retention_days, Some(90));
        assert_eq!(t.dataset_overrides[0].logs_retention_days, None);
        assert_eq!(
            loaded.config.storage.location().unwrap(),
            crate::config::StorageLocation::S3 {
                bucket: "signaldb-data".to_string(),
                prefix: "warehouse".to_string()
            }
        );
        assert_eq!(
            loaded.config.schema.backend().unwrap(),
            crate::config::CatalogBackend::Postgres
        );
        assert_eq!(
            loaded
                .provenance
                .origin("compactor.retention.tenant_overrides[0].dataset_overrides[0].dataset_id"),
            Some(&file_line(jail, 25))
        );
        Ok(())
    });
}
