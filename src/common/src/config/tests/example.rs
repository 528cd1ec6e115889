//! `signaldb.toml.example` and `docs/configuration.md` stay in step with the code.

use std::path::PathBuf;

use figment::Jail;

use super::*;
use crate::config::{Config, env_keys};

fn repo_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(name)
}

#[test]
fn the_example_file_validates_and_holds_the_defaults() {
    Jail::expect_with(|jail| {
        let path = repo_file("signaldb.toml.example");
        let loaded = load_in(jail, path.to_str(), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.config, Config::default());
        Ok(())
    });
}

#[test]
fn the_example_with_its_override_examples_uncommented_validates() {
    Jail::expect_with(|jail| {
        let text = std::fs::read_to_string(repo_file("signaldb.toml.example")).unwrap();
        let uncommented: String = text
            .lines()
            .map(|l| l.strip_prefix("# ").filter(|rest| looks_like_override(rest)).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let loaded =
            load_toml(jail, &uncommented, &[]).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert!(!loaded.config.compactor.retention.tenant_overrides.is_empty(), "{uncommented}");
        Ok(())
    });
}

/// A commented-out line of the override examples in the example file.
fn looks_like_override(line: &str) -> bool {
    line.starts_with("[[compactor.retention.tenant_overrides")
        || [
            "tenant_id =",
            "dataset_id =",
            "traces_retention_days =",
            "logs_retention_days =",
            "metrics_retention_days =",
        ]
        .iter()
        .any(|p| line.starts_with(p))
}

#[test]
fn every_variable_is_documented_in_the_example_and_the_reference() {
    let example = std::fs::read_to_string(repo_file("signaldb.toml.example")).unwrap();
    let reference = std::fs::read_to_string(repo_file("docs/configuration.md")).unwrap();
    for key in env_keys() {
        assert!(example.contains(&key.var), "signaldb.toml.example lacks {}", key.var);
        assert!(reference.contains(&key.var), "docs/configuration.md lacks {}", key.var);
        let leaf = key.key.rsplit('.').next().unwrap();
        assert!(example.contains(leaf), "signaldb.toml.example lacks {}", key.key);
    }
}
