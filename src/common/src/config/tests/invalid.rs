//! Malformed files and variables are refused with the key and the file line, all at once.

use figment::Jail;

use super::*;
use crate::config::ProblemKind;

#[test]
fn a_syntax_error_names_file_and_line() {
    Jail::expect_with(|jail| {
        let err = refused(jail, "[compactor]\nenabled = true\ndry_run = \n", &[]);
        let ConfigError::Syntax { path, line, .. } = &err else { panic!("{err}") };
        assert_eq!((path, *line), (&toml_path(jail), 3));
        assert!(
            err.to_string().starts_with(&format!("TOML syntax error in {} line 3", path.display()))
        );
        let err = refused(jail, "[compactor]\nenabled = true\nenabled = false\n", &[]);
        assert!(matches!(err, ConfigError::Syntax { line: 3, .. }), "{err}");
        Ok(())
    });
}

#[test]
fn an_unknown_key_is_refused_with_the_closest_valid_key() {
    Jail::expect_with(|jail| {
        let toml = "[compactor.retention]\nenabled = true\ntrace_retention_days = 14\n";
        assert_refused(
            jail,
            toml,
            ProblemKind::UnknownKey,
            "compactor.retention.trace_retention_days",
            3,
            "did you mean `traces_retention_days`?",
        );
        assert_refused(
            jail,
            "[compactr]\nenabled = true\n",
            ProblemKind::UnknownKey,
            "compactr",
            1,
            "did you mean `compactor`?",
        );
        assert_refused(
            jail,
            "[storage]\nzzz = 1\n",
            ProblemKind::UnknownKey,
            "storage.zzz",
            2,
            "valid keys here: dsn, max_retries, retry_timeout_secs, request_timeout_secs, connect_timeout_secs, max_concurrent_requests, s3",
        );
        let toml = "[[compactor.retention.tenant_overrides]]\ntenant_id = \"a\"\n\
                    [[compactor.retention.tenant_overrides]]\ntenant_id = \"b\"\n\
                    [[compactor.retention.tenant_overrides.dataset_overrides]]\ndataset_id = \"d\"\n\
                    log_retention_days = 2\n";
        assert_refused(
            jail,
            toml,
            ProblemKind::UnknownKey,
            "compactor.retention.tenant_overrides[1].dataset_overrides[0].log_retention_days",
            7,
            "did you mean `logs_retention_days`?",
        );
        Ok(())
    });
}

#[test]
fn a_value_of_the_wrong_type_is_refused() {
    Jail::expect_with(|jail| {
        let cases = [
            (
                "[compactor]\nenabled = \"yes\"\n",
                "compactor.enabled",
                "expected a boolean (true or false), found string \"yes\"",
            ),
            (
                "[compactor.retention]\ntraces_retention_days = \"7\"\n",
                "compactor.retention.traces_retention_days",
                "expected a non-negative integer",
            ),
            (
                "[compactor.retention]\ntraces_retention_days = 7.5\n",
                "compactor.retention.traces_retention_days",
                "found float 7.5",
            ),
            ("[storage]\ndsn = 5\n", "storage.dsn", "expected a string"),
            ("[compactor]\nretention = 5\n", "compactor.retention", "expected a table"),
            (
                "[[compactor.retention.tenant_overrides]]\ntenant_id = 5\n",
                "compactor.retention.tenant_overrides[0].tenant_id",
                "expected a string, found integer 5",
            ),
            (
                "[compactor.retention]\ntenant_overrides = \"acme\"\n",
                "compactor.retention.tenant_overrides",
                "expected an array of tables",
            ),
        ];
        for (toml, key, message) in cases {
            assert_refused(jail, toml, ProblemKind::WrongType, key, 2, message);
        }
        let toml = "[compactor.retention]\ntraces_retention_days = 5000000000\n";
        assert_refused(
            jail,
            toml,
            ProblemKind::InvalidValue,
            "compactor.retention.traces_retention_days",
            2,
            "out of range",
        );
        Ok(())
    });
}

#[test]
fn every_problem_is_reported_at_once() {
    Jail::expect_with(|jail| {
        let toml = "[compactor]\nenabeld = true\n[compactor.retention]\nsnapshots_to_keep = 0\n\
                    [compactor.orphan_cleanup]\nbatch_size = \"many\"\n";
        let err = refused(jail, toml, &[("SIGNALDB_SCHEMA_CATALOG_TYP", "sql")]);
        let keys: Vec<&str> = err.problems().iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "compactor.enabeld",
                "compactor.orphan_cleanup.batch_size",
                "SIGNALDB_SCHEMA_CATALOG_TYP",
                "compactor.retention.snapshots_to_keep"
            ]
        );
        assert!(
            err.to_string()
                .starts_with("4 configuration problems:\n  - unknown key compactor.enabeld"),
            "{err}"
        );

        let toml = "[compactor.retention]\ntraces_retention_days = 0\nsnapshots_to_keep = 0\n\
                    [compactor.orphan_cleanup]\nbatch_size = 0\n";
        let env = [("SIGNALDB_COMPACTOR_RETENTION_TIMEZONE", "Nowhere")];
        let err = refused(jail, toml, &env);
        let origins: Vec<String> =
            err.problems().iter().map(|p| format!("{} {}", p.key, p.origin)).collect();
        let file = toml_path(jail).display().to_string();
        assert_eq!(
            origins,
            [
                format!("compactor.retention.traces_retention_days file {file}:2"),
                "compactor.retention.timezone env SIGNALDB_COMPACTOR_RETENTION_TIMEZONE"
                    .to_string(),
                format!("compactor.retention.snapshots_to_keep file {file}:3"),
                format!("compactor.orphan_cleanup.batch_size file {file}:5"),
            ]
        );
        Ok(())
    });
}
