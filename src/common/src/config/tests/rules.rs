//! Values of the right type that break a rule are refused with the key and the file line.

use figment::Jail;

use super::*;
use crate::config::ProblemKind;

#[test]
fn zero_or_negative_retention_days_are_refused_everywhere() {
    Jail::expect_with(|jail| {
        let key = "compactor.retention.traces_retention_days";
        let err = refused(jail, "[compactor.retention]\ntraces_retention_days = 0\n", &[]);
        assert_eq!(
            err.to_string(),
            format!(
                "invalid value for {key} in {} line 2: must be at least 1 day (got 0)",
                toml_path(jail).display()
            )
        );
        assert_refused(
            jail,
            "[compactor.retention]\nlogs_retention_days = -1\n",
            ProblemKind::InvalidValue,
            "compactor.retention.logs_retention_days",
            2,
            "must not be negative (got -1)",
        );
        let tenant = "[[compactor.retention.tenant_overrides]]\ntenant_id = \"acme\"\nmetrics_retention_days = 0\n";
        assert_refused(
            jail,
            tenant,
            ProblemKind::InvalidValue,
            "compactor.retention.tenant_overrides[0].metrics_retention_days",
            3,
            "must be at least 1 day (got 0)",
        );
        let dataset = "[[compactor.retention.tenant_overrides]]\ntenant_id = \"acme\"\n\
                       [[compactor.retention.tenant_overrides.dataset_overrides]]\ndataset_id = \"prod\"\n\
                       traces_retention_days = 0\n";
        assert_refused(
            jail,
            dataset,
            ProblemKind::InvalidValue,
            "compactor.retention.tenant_overrides[0].dataset_overrides[0].traces_retention_days",
            5,
            "must be at least 1 day",
        );
        let negative = "[[compactor.retention.tenant_overrides]]\ntenant_id = \"acme\"\nlogs_retention_days = -2\n";
        assert_refused(
            jail,
            negative,
            ProblemKind::InvalidValue,
            "compactor.retention.tenant_overrides[0].logs_retention_days",
            3,
            "must not be negative",
        );
        Ok(())
    });
}

#[test]
fn safety_settings_are_refused_below_their_minimum() {
    Jail::expect_with(|jail| {
        assert_refused(
            jail,
            "[compactor.orphan_cleanup]\nbatch_size = 0\n",
            ProblemKind::InvalidValue,
            "compactor.orphan_cleanup.batch_size",
            2,
            "must be at least 1 (got 0)",
        );
        assert_refused(
            jail,
            "[compactor.retention]\nsnapshots_to_keep = 0\n",
            ProblemKind::InvalidValue,
            "compactor.retention.snapshots_to_keep",
            2,
            "must be at least 1",
        );
        assert_refused(
            jail,
            "[compactor.orphan_cleanup]\ngrace_period_hours = 0\n",
            ProblemKind::InvalidValue,
            "compactor.orphan_cleanup.grace_period_hours",
            2,
            "in flight",
        );
        assert_refused(
            jail,
            "[compactor]\nmin_input_files = 1\n",
            ProblemKind::InvalidValue,
            "compactor.min_input_files",
            2,
            "at least 2 files",
        );
        assert_refused(
            jail,
            "[compactor]\nsmall_file_threshold_bytes = 134217728\n",
            ProblemKind::InvalidValue,
            "compactor.small_file_threshold_bytes",
            2,
            "must be below compactor.target_file_size_bytes",
        );
        assert_refused(
            jail,
            "[compactor]\nlease_ttl_secs = 20\n",
            ProblemKind::InvalidValue,
            "compactor.lease_ttl_secs",
            2,
            "at least twice compactor.lease_renew_interval_secs (15)",
        );
        assert_refused(
            jail,
            "[compactor]\nmax_bytes_per_tenant = 1048576\n",
            ProblemKind::InvalidValue,
            "compactor.max_bytes_per_tenant",
            2,
            "must be 0 (unlimited) or at least compactor.target_file_size_bytes (134217728)",
        );
        assert_refused(
            jail,
            "[compactor]\nlease_renew_interval_secs = 0\n",
            ProblemKind::InvalidValue,
            "compactor.lease_renew_interval_secs",
            2,
            "must be at least 1 second",
        );
        Ok(())
    });
}

#[test]
fn an_unknown_timezone_is_refused_with_a_suggestion() {
    Jail::expect_with(|jail| {
        assert_refused(
            jail,
            "[compactor.retention]\ntimezone = \"Europe/Berln\"\n",
            ProblemKind::InvalidValue,
            "compactor.retention.timezone",
            2,
            "did you mean `Europe/Berlin`?",
        );
        let loaded =
            load_toml(jail, "[compactor.retention]\ntimezone = \"America/New_York\"\n", &[])
                .unwrap();
        assert_eq!(loaded.config.compactor.retention.timezone, chrono_tz::America::New_York);
        Ok(())
    });
}

#[test]
fn duplicate_and_malformed_ids_are_refused() {
    Jail::expect_with(|jail| {
        let twice = "[[compactor.retention.tenant_overrides]]\ntenant_id = \"acme\"\n\
                     [[compactor.retention.tenant_overrides]]\ntenant_id = \"acme\"\n";
        assert_refused(
            jail,
            twice,
            ProblemKind::Duplicate,
            "compactor.retention.tenant_overrides[1].tenant_id",
            4,
            "`acme` is listed twice; first at tenant_overrides[0]",
        );
        let datasets = "[[compactor.retention.tenant_overrides]]\ntenant_id = \"acme\"\n\
                        [[compactor.retention.tenant_overrides.dataset_overrides]]\ndataset_id = \"prod\"\n\
                        [[compactor.retention.tenant_overrides.dataset_overrides]]\ndataset_id = \"prod\"\n";
        assert_refused(
            jail,
            datasets,
            ProblemKind::Duplicate,
            "compactor.retention.tenant_overrides[0].dataset_overrides[1].dataset_id",
            6,
            "listed twice",
        );
        let same_dataset_two_tenants = "[[compactor.retention.tenant_overrides]]\ntenant_id = \"a\"\n\
                        [[compactor.retention.tenant_overrides.dataset_overrides]]\ndataset_id = \"prod\"\n\
                        [[compactor.retention.tenant_overrides]]\ntenant_id = \"b\"\n\
                        [[compactor.retention.tenant_overrides.dataset_overrides]]\ndataset_id = \"prod\"\n";
        load_toml(jail, same_dataset_two_tenants, &[]).unwrap();
        assert_refused(
            jail,
            "[[compactor.retention.tenant_overrides]]\ntenant_id = \"Acme\"\n",
            ProblemKind::InvalidValue,
            "compactor.retention.tenant_overrides[0].tenant_id",
            2,
            "[a-z0-9][a-z0-9_-]{0,63}",
        );
        assert_refused(
            jail,
            "[[compactor.retention.tenant_overrides]]\n",
            ProblemKind::InvalidValue,
            "compactor.retention.tenant_overrides[0].tenant_id",
            1,
            "id is empty",
        );
        let bad_dataset = "[[compactor.retention.tenant_overrides]]\ntenant_id = \"acme\"\n\
                           [[compactor.retention.tenant_overrides.dataset_overrides]]\ndataset_id = \"a/b\"\n";
        assert_refused(
            jail,
            bad_dataset,
            ProblemKind::InvalidValue,
            "compactor.retention.tenant_overrides[0].dataset_overrides[0].dataset_id",
            4,
            "character",
        );
        Ok(())
    });
}

#[test]
fn unusable_locations_are_refused() {
    Jail::expect_with(|jail| {
        let cases = [
            ("[storage]\ndsn = \"ftp://host/x\"\n", "storage.dsn", "unsupported scheme `ftp`"),
            ("[storage]\ndsn = \"/var/lib/data\"\n", "storage.dsn", "is not a storage DSN"),
            ("[storage]\ndsn = \"s3://ab/prefix\"\n", "storage.dsn", "3 to 63 characters"),
            ("[storage]\ndsn = \"file://\"\n", "storage.dsn", "names no directory"),
            (
                "[storage.s3]\nendpoint = \"localhost:9000\"\n",
                "storage.s3.endpoint",
                "http:// or https://",
            ),
            (
                "[schema]\ncatalog_uri = \"mysql://db/x\"\n",
                "schema.catalog_uri",
                "is not a catalog URI",
            ),
            (
                "[schema]\ncatalog_uri = \"sqlite://\"\n",
                "schema.catalog_uri",
                "names no SQLite database",
            ),
            (
                "[schema]\ncatalog_uri = \"postgres://u:p@[::1/db\"\n",
                "schema.catalog_uri",
                "does not parse",
            ),
            (
                "[schema]\ncatalog_type = \"rest\"\n",
                "schema.catalog_type",
                "only `sql` is supported",
            ),
            ("[schema]\ncatalog_name = \"\"\n", "schema.catalog_name", "must not be empty"),
            ("[storage]\ns3 = { region = \"\" }\n", "storage.s3.region", "must not be empty"),
            (
                "[compactor]\nretention.timezone = \"Nowhere\"\n",
                "compactor.retention.timezone",
                "unknown timezone",
            ),
        ];
        for (toml, key, message) in cases {
            assert_refused(jail, toml, ProblemKind::InvalidValue, key, 2, message);
        }
        for ok in ["file:///abs/dir", "s3://my-bucket", "s3://my.bucket/a/b/"] {
            load_toml(jail, &format!("[storage]\ndsn = \"{ok}\"\n"), &[]).unwrap();
        }
        for ok in ["sqlite::memory:", "sqlite://catalog.db?mode=rwc", "postgresql://u@h:5432/db"] {
            load_toml(jail, &format!("[schema]\ncatalog_uri = \"{ok}\"\n"), &[]).unwrap();
        }
        Ok(())
    });
}

#[test]
fn a_lifecycle_pause_over_an_hour_is_refused_and_zero_is_allowed() {
    Jail::expect_with(|jail| {
        assert_refused(
            jail,
            "[compactor.orphan_cleanup]\nlifecycle_pause_secs = 3601\n",
            ProblemKind::InvalidValue,
            "compactor.orphan_cleanup.lifecycle_pause_secs",
            2,
            "must be at most 3600 seconds (got 3601)",
        );
        let loaded =
            load_toml(jail, "[compactor.orphan_cleanup]\nlifecycle_pause_secs = 0\n", &[]).unwrap();
        let pause = loaded.config.compactor.orphan_cleanup.lifecycle_pause();
        assert_eq!(pause, std::time::Duration::ZERO);
        Ok(())
    });
}

#[test]
fn values_their_type_refuses_are_reported_in_place_with_every_other_problem() {
    Jail::expect_with(|jail| {
        let toml = "[compactor.retention]\ntimezone = \"Mars/Olympus\"\nlogs_retention_days = 0\n\
                    [schema]\ncatalog_type = \"rest\"\ncatalog_name = \"\"\n";
        let env = [("SIGNALDB_COMPACTOR_RETENTION_TRACES_RETENTION_DAYS", "0")];
        let err = refused(jail, toml, &env);
        let found: Vec<(&str, ProblemKind)> =
            err.problems().iter().map(|p| (p.key.as_str(), p.kind)).collect();
        assert_eq!(
            found,
            [
                ("compactor.retention.traces_retention_days", ProblemKind::InvalidValue),
                ("compactor.retention.logs_retention_days", ProblemKind::InvalidValue),
                ("compactor.retention.timezone", ProblemKind::InvalidValue),
                ("schema.catalog_type", ProblemKind::InvalidValue),
                ("schema.catalog_name", ProblemKind::InvalidValue),
            ],
            "{err}"
        );
        let text = err.to_string();
        let file = toml_path(jail).display().to_string();
        assert!(
            text.contains(&format!(
                "invalid value for compactor.retention.timezone in {file} line 2: unknown \
                 timezone `Mars/Olympus`"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "invalid value for schema.catalog_type in {file} line 5: unsupported catalog \
                 type `rest`; only `sql` is supported"
            )),
            "{text}"
        );

        // A wrong type is still a wrong type, not an unknown name.
        let err = refused(jail, "[compactor.retention]\ntimezone = 5\n", &[]);
        assert_eq!(only_problem(&err, "compactor.retention.timezone").kind, ProblemKind::WrongType);

        // Typed values render and load back as their names.
        let loaded = load_toml(
            jail,
            "[compactor.retention]\ntimezone = \"Europe/Berlin\"\n",
            &[("SIGNALDB_SCHEMA_CATALOG_TYPE", "sql")],
        )
        .unwrap();
        assert_eq!(loaded.config.schema.catalog_type, crate::config::CatalogType::Sql);
        let rendered = crate::config::render_effective(&loaded);
        assert!(rendered.contains("timezone = \"Europe/Berlin\""), "{rendered}");
        assert!(rendered.contains("catalog_type = \"sql\""), "{rendered}");
        Ok(())
    });
}
