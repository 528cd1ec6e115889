//! The `SIGNALDB_*` mapping: every key, the spec's examples, and refused variables.

use std::collections::BTreeMap;

use figment::Jail;

use super::*;
use crate::config::{Config, ProblemKind, env_keys};

/// Every scalar of `config` as dotted key → TOML text.
fn flatten(config: &Config) -> BTreeMap<String, String> {
    fn walk(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            // Lists of strings (sort columns) have one variable each.
            toml::Value::Array(a) if !a.is_empty() && a.iter().all(|v| v.is_str()) => {
                out.insert(prefix.to_string(), value.to_string());
            }
            // Arrays of tables (tenant overrides) have no variables.
            toml::Value::Array(_) => {}
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", &toml::Value::try_from(config).unwrap(), &mut out);
    out
}

/// A valid admin token, and the file in the jail that holds it.
const ADMIN_TOKEN: &str = "0123456789abcdef0123456789abcdef";
const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Other keys `key`'s sample value is only valid with, and their values.
fn companions(key: &str) -> &'static [(&'static str, &'static str)] {
    match key {
        "compactor.admin.protect_reads" => &[("compactor.admin.token", ADMIN_TOKEN)],
        _ => &[],
    }
}

/// A valid value for `key` that differs from its default where another valid value exists.
fn sample_value(key: &str, default: Option<&String>) -> String {
    match (key, default.map(String::as_str)) {
        (_, Some("true")) => "false".to_string(),
        (_, Some("false")) => "true".to_string(),
        ("compactor.retention.timezone", _) => "Europe/Berlin".to_string(),
        ("storage.dsn", _) => "s3://bucket/prefix".to_string(),
        ("storage.s3.endpoint", _) => "http://127.0.0.1:9000".to_string(),
        ("storage.s3.region", _) => "eu-west-1".to_string(),
        ("schema.catalog_type", _) => "sql".to_string(),
        ("schema.catalog_uri", _) => "postgres://signaldb@127.0.0.1:5432/signaldb".to_string(),
        ("schema.catalog_name", _) => "other".to_string(),
        ("compactor.sort.spill_dir", _) => "/var/tmp/signaldb-sort".to_string(),
        ("compactor.admin.token", _) => ADMIN_TOKEN.to_string(),
        // Created in the jail by the test.
        ("compactor.admin.token_file", _) => ADMIN_TOKEN_FILE.to_string(),
        // 0 or at least the target file size (128 MiB).
        ("compactor.max_bytes_per_tenant", _) => "268435456".to_string(),
        (k, _) if k.starts_with("compactor.sort.") && !k.ends_with("_bytes") => {
            "service_name,timestamp".to_string()
        }
        (k, None) if k.starts_with("storage.s3.") => "credential".to_string(),
        (_, Some(n)) if n.parse::<u64>().is_ok() => (n.parse::<u64>().unwrap() + 1).to_string(),
        (k, d) => panic!("add a sample value for {k} (default {d:?})"),
    }
}

#[test]
fn every_scalar_key_has_the_variable_derived_from_its_path() {
    let keys = env_keys();
    for key in keys {
        assert_eq!(key.var, format!("SIGNALDB_{}", key.key.replace('.', "_").to_uppercase()));
    }
    let names: std::collections::HashSet<_> = keys.iter().map(|k| &k.var).collect();
    assert_eq!(names.len(), keys.len(), "two keys share a variable");
    let listed: Vec<&str> = keys.iter().map(|k| k.key.as_str()).collect();
    let defaults = flatten(&Config::default());
    for key in defaults.keys() {
        assert!(listed.contains(&key.as_str()), "{key} has no variable");
    }
    for optional in [
        "storage.s3.endpoint",
        "storage.s3.region",
        "storage.s3.access_key_id",
        "storage.s3.secret_access_key",
        "storage.s3.session_token",
        "compactor.sort.spill_dir",
        "compactor.admin.token",
        "compactor.admin.token_file",
    ] {
        assert!(listed.contains(&optional), "{optional} has no variable");
    }
    assert!(!listed.iter().any(|k| k.contains("tenant_overrides")));
    assert_eq!(listed.len(), defaults.len() + 8);
}

#[test]
fn every_variable_sets_exactly_its_key() {
    let defaults = flatten(&Config::default());
    let var_of = |key: &str| env_keys().iter().find(|k| k.key == key).unwrap().var.clone();
    for key in env_keys() {
        let value = sample_value(&key.key, defaults.get(&key.key));
        let mut set = vec![(key.key.clone(), value)];
        set.extend(companions(&key.key).iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Jail::expect_with(|jail| {
            jail.create_file(ADMIN_TOKEN_FILE, ADMIN_TOKEN)?;
            let vars: Vec<(String, &str)> =
                set.iter().map(|(k, v)| (var_of(k), v.as_str())).collect();
            let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let loaded = load_in(jail, None, &vars).unwrap_or_else(|e| panic!("{}: {e}", key.var));
            let mut expected = defaults.clone();
            for (key, value) in &set {
                let shown = if key.contains("key") || key.ends_with("token") {
                    "\"***\"".to_string()
                } else if value.contains(',') {
                    let items: Vec<String> = value.split(',').map(|v| format!("\"{v}\"")).collect();
                    format!("[{}]", items.join(", "))
                } else if value.parse::<u64>().is_ok() || value == "true" || value == "false" {
                    value.clone()
                } else {
                    format!("\"{value}\"")
                };
                expected.insert(key.clone(), shown);
                assert_eq!(
                    loaded.provenance.origin(key),
                    Some(&Origin::Env { var: var_of(key) }),
                    "{}",
                    key
                );
            }
            assert_eq!(flatten(&loaded.config), expected, "{}", key.var);
            let mut others =
                loaded.provenance.iter().filter(|(k, _)| !set.iter().any(|(s, _)| s == k));
            assert!(others.all(|(_, o)| *o == Origin::Default), "{}", key.var);
            Ok(())
        });
    }
}

#[test]
fn the_spec_examples_set_their_keys() {
    Jail::expect_with(|jail| {
        let env = [
            ("SIGNALDB_COMPACTOR_RETENTION_ENABLED", "true"),
            ("SIGNALDB_COMPACTOR_RETENTION_TRACES_RETENTION_DAYS", "14"),
            ("SIGNALDB_COMPACTOR_RETENTION_DRY_RUN", "true"),
            ("SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_GRACE_PERIOD_HOURS", "48"),
            ("SIGNALDB_STORAGE_DSN", "file:///var/lib/signaldb"),
            ("SIGNALDB_SCHEMA_CATALOG_URI", "postgres://signaldb@db/signaldb"),
            ("SIGNALDB_STORAGE_S3_SECRET_ACCESS_KEY", "s3cr3t"),
        ];
        let c = load_in(jail, None, &env).unwrap().config;
        assert!(c.compactor.retention.enabled && c.compactor.retention.dry_run);
        assert_eq!(c.compactor.retention.traces_retention_days, 14);
        assert_eq!(c.compactor.orphan_cleanup.grace_period_hours, 48);
        assert_eq!(c.compactor.retention.grace_period_hours, 1);
        assert_eq!(c.storage.dsn, "file:///var/lib/signaldb");
        assert_eq!(c.schema.catalog_uri, "postgres://signaldb@db/signaldb");
        assert_eq!(c.storage.s3.secret_access_key.unwrap().expose(), "s3cr3t");
        Ok(())
    });
}

#[test]
fn values_parse_like_toml_scalars() {
    Jail::expect_with(|jail| {
        let env = [
            ("SIGNALDB_COMPACTOR_TARGET_FILE_SIZE_BYTES", "268_435_456"),
            ("SIGNALDB_SCHEMA_CATALOG_NAME", "\"quoted\""),
            ("SIGNALDB_STORAGE_S3_REGION", "  eu-central-1"),
            ("SIGNALDB_COMPACTOR_DRY_RUN", ""),
            ("SIGNALDB_LOG_LEVEL", "debug"),
            ("SIGNALDB_CONFIG", ""),
        ];
        let loaded = load_in(jail, None, &env).unwrap();
        let c = &loaded.config;
        assert_eq!(c.compactor.target_file_size_bytes, 268_435_456);
        assert_eq!(c.schema.catalog_name, "quoted");
        assert_eq!(c.storage.s3.region.as_deref(), Some("  eu-central-1"));
        assert!(!c.compactor.dry_run, "an empty variable is ignored");
        assert_eq!(loaded.provenance.origin("compactor.dry_run"), Some(&Origin::Default));
        Ok(())
    });
}

#[test]
fn an_unknown_variable_in_a_section_is_refused_with_a_suggestion() {
    Jail::expect_with(|jail| {
        let var = "SIGNALDB_COMPACTOR_RETENTION_TRACE_RETENTION_DAYS";
        let err = load_in(jail, None, &[(var, "14")]).unwrap_err();
        let p = only_problem(&err, var);
        assert_eq!(p.kind, ProblemKind::UnknownKey);
        assert_eq!(
            err.to_string(),
            format!(
                "unknown environment variable {var}: did you mean \
                 SIGNALDB_COMPACTOR_RETENTION_TRACES_RETENTION_DAYS?"
            )
        );
        for var in ["SIGNALDB_STORAGE_BUCKET", "SIGNALDB_SCHEMA_URI", "SIGNALDB_COMPACTOR_FOO"] {
            let err = load_in(jail, None, &[(var, "x")]).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
        let err = load_in(jail, None, &[("SIGNALDB_STORAGE_S3_SECRET_KEY", "x")]).unwrap_err();
        assert!(
            err.to_string().contains("did you mean SIGNALDB_STORAGE_S3_SECRET_ACCESS_KEY?"),
            "{err}"
        );
        Ok(())
    });
}

#[test]
fn tenant_overrides_cannot_come_from_the_environment() {
    Jail::expect_with(|jail| {
        let var = "SIGNALDB_COMPACTOR_RETENTION_TENANT_OVERRIDES";
        let err = load_in(jail, None, &[(var, "[]")]).unwrap_err();
        let p = only_problem(&err, var);
        assert!(p.message.contains("only be set in the configuration file"), "{err}");
        Ok(())
    });
}

#[test]
fn bad_values_name_the_variable() {
    Jail::expect_with(|jail| {
        let cases = [
            ("SIGNALDB_COMPACTOR_ENABLED", "yes", "compactor.enabled", "expected a boolean"),
            (
                "SIGNALDB_COMPACTOR_RETENTION_TRACES_RETENTION_DAYS",
                "7d",
                "compactor.retention.traces_retention_days",
                "expected a non-negative integer",
            ),
            (
                "SIGNALDB_COMPACTOR_RETENTION_LOGS_RETENTION_DAYS",
                "-3",
                "compactor.retention.logs_retention_days",
                "must not be negative (got -3)",
            ),
            (
                "SIGNALDB_COMPACTOR_RETENTION_METRICS_RETENTION_DAYS",
                "0",
                "compactor.retention.metrics_retention_days",
                "must be at least 1 day (got 0)",
            ),
            ("SIGNALDB_COMPACTOR_METRICS_PORT", "70000", "compactor.metrics_port", "70000"),
            (
                "SIGNALDB_COMPACTOR_RETENTION_TIMEZONE",
                "Mars/Olympus",
                "compactor.retention.timezone",
                "unknown timezone",
            ),
            ("SIGNALDB_STORAGE_DSN", "ftp://x", "storage.dsn", "unsupported scheme"),
        ];
        for (var, value, key, message) in cases {
            let err = load_in(jail, None, &[(var, value)]).unwrap_err();
            let p = only_problem(&err, key);
            assert_eq!(p.origin, Origin::Env { var: var.to_string() });
            let text = err.to_string();
            assert!(text.contains(&format!("from environment variable {var}")), "{text}");
            assert!(text.contains(message), "{text}");
        }
        let var = "SIGNALDB_COMPACTOR_ORPHAN_CLEANUP_BATCH_SIZE";
        let err = load_in(jail, None, &[(var, "0")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid value for compactor.orphan_cleanup.batch_size from environment variable \
                 {var}: must be at least 1 (got 0)"
            )
        );
        Ok(())
    });
}
