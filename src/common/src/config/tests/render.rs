//! `render_effective`: valid TOML with origins, and no secret ever printed.

use figment::Jail;

use super::*;
use crate::config::{Config, Secret, render_effective};

const SECRETS: [&str; 5] = ["AKIA-ID-123", "s3cr3t-key", "t0ken-xyz", "pg-passw0rd", "ep-passw0rd"];

/// A file and variables that set every kind of secret.
fn with_secrets(jail: &Jail) -> LoadedConfig {
    let toml = r#"
[storage.s3]
access_key_id = "AKIA-ID-123"
endpoint = "http://minio:ep-passw0rd@127.0.0.1:9000"

[schema]
catalog_uri = "postgres://signaldb:pg-passw0rd@127.0.0.1:5432/signaldb?sslmode=disable"
"#;
    let env = [
        ("SIGNALDB_STORAGE_S3_SECRET_ACCESS_KEY", "s3cr3t-key"),
        ("SIGNALDB_STORAGE_S3_SESSION_TOKEN", "t0ken-xyz"),
    ];
    load_toml(jail, toml, &env).unwrap()
}

#[test]
fn secrets_never_appear_in_rendered_or_debug_output() {
    Jail::expect_with(|jail| {
        let loaded = with_secrets(jail);
        let s3 = &loaded.config.storage.s3;
        assert_eq!(s3.secret_access_key.as_ref().map(Secret::expose), Some("s3cr3t-key"));
        assert_eq!(s3.access_key_id.as_ref().map(Secret::expose), Some("AKIA-ID-123"));
        let outputs = [
            render_effective(&loaded),
            format!("{loaded:?}"),
            format!("{:?}", loaded.config),
            format!("{:#?}", loaded.config.storage),
        ];
        for out in &outputs {
            for secret in SECRETS {
                assert!(!out.contains(secret), "{secret} leaked:\n{out}");
            }
        }
        let rendered = &outputs[0];
        assert!(
            rendered.contains(
                "catalog_uri = \"postgres://signaldb:***@127.0.0.1:5432/signaldb?sslmode=disable\""
            ),
            "{rendered}"
        );
        assert!(rendered.contains("secret_access_key = \"***\""), "{rendered}");
        Ok(())
    });
}

#[test]
fn errors_never_echo_a_password() {
    Jail::expect_with(|jail| {
        let err = refused(jail, "[schema]\ncatalog_uri = \"mysql://u:pg-passw0rd@h/db\"\n", &[]);
        assert!(!err.to_string().contains("pg-passw0rd"), "{err}");
        assert!(err.to_string().contains("mysql://u:***@h/db"), "{err}");
        let err = refused(jail, "[storage]\ndsn = \"s3://key:s3cr3t-key@bucket/x\"\n", &[]);
        assert!(!err.to_string().contains("s3cr3t-key"), "{err}");
        // A secret of the wrong type is described, not shown.
        let err = refused(jail, "[storage.s3]\nsecret_access_key = 73105\n", &[]);
        assert!(err.to_string().contains("expected a string, found integer ("), "{err}");
        assert!(!err.to_string().contains("73105"), "{err}");
        Ok(())
    });
}

#[test]
fn rendered_output_parses_back_to_the_same_config() {
    Jail::expect_with(|jail| {
        let toml = r#"
[compactor]
dry_run = true
[compactor.retention]
enabled = true
[[compactor.retention.tenant_overrides]]
tenant_id = "acme"
traces_retention_days = 14
[[compactor.retention.tenant_overrides.dataset_overrides]]
dataset_id = "production"
traces_retention_days = 30
[[compactor.retention.tenant_overrides.dataset_overrides]]
dataset_id = "staging"
logs_retention_days = 1
[[compactor.retention.tenant_overrides]]
tenant_id = "other"
metrics_retention_days = 90
[storage.s3]
region = "eu-west-1"
"#;
        let loaded = load_toml(jail, toml, &[("SIGNALDB_COMPACTOR_METRICS_PORT", "0")]).unwrap();
        let rendered = render_effective(&loaded);
        let parsed: Config =
            toml::from_str(&rendered).unwrap_or_else(|e| panic!("{e}\n{rendered}"));
        assert_eq!(parsed, loaded.config);
        assert_eq!(parsed.compactor.retention.tenant_overrides.len(), 2);

        jail.create_file("rendered.toml", &rendered)?;
        let reloaded = load_in(jail, Some("rendered.toml"), &[]).unwrap();
        assert_eq!(reloaded.config, loaded.config);

        let loaded = with_secrets(jail);
        let parsed: Config = toml::from_str(&render_effective(&loaded)).unwrap();
        let mut expected = loaded.config.clone();
        let s3 = &mut expected.storage.s3;
        for secret in [&mut s3.access_key_id, &mut s3.secret_access_key, &mut s3.session_token] {
            *secret = Some(Secret::new("***"));
        }
        s3.endpoint = Some("http://minio:***@127.0.0.1:9000".to_string());
        expected.schema.catalog_uri =
            "postgres://signaldb:***@127.0.0.1:5432/signaldb?sslmode=disable".to_string();
        assert_eq!(parsed, expected);
        Ok(())
    });
}

#[test]
fn every_value_is_commented_with_its_origin() {
    Jail::expect_with(|jail| {
        let toml = "[compactor]\nenabled = false\n\n[[compactor.retention.tenant_overrides]]\ntenant_id = \"acme\"\n";
        let env = [("SIGNALDB_STORAGE_DSN", "file:///srv/warehouse")];
        let loaded = load_toml(jail, toml, &env).unwrap();
        let rendered = render_effective(&loaded);
        let file = toml_path(jail).display().to_string();
        let line_of = |start: &str| {
            rendered
                .lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no {start}:\n{rendered}"))
        };
        assert!(line_of("enabled = false").ends_with(&format!("# file {file}:2")));
        assert!(line_of("dry_run = false").ends_with("# default"));
        assert!(line_of("dsn = \"file:///srv/warehouse\"").ends_with("# env SIGNALDB_STORAGE_DSN"));
        assert!(
            line_of("[[compactor.retention.tenant_overrides]]")
                .ends_with(&format!("# file {file}:4"))
        );
        assert!(line_of("tenant_id = \"acme\"").ends_with(&format!("# file {file}:5")));
        assert!(line_of("# endpoint is unset").ends_with("# default"));
        for line in
            rendered.lines().filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("["))
        {
            assert!(line.contains("  # "), "no origin on `{line}`");
        }
        let defaults = load_in(jail, Some("/dev/null"), &[]).unwrap();
        assert!(render_effective(&defaults).contains("tenant_overrides = []"));
        Ok(())
    });
}

#[test]
fn an_admin_token_never_appears_in_rendered_or_debug_output() {
    Jail::expect_with(|jail| {
        let token = "adm1n-t0ken-0123456789abcdef";
        jail.create_file("admin-token", &format!("{token}\n"))?;
        let from_token_file = "[compactor.admin]\ntoken_file = \"admin-token\"\n";
        let loaded = [
            load_toml(jail, &format!("[compactor.admin]\ntoken = \"{token}\"\n"), &[]),
            load_toml(jail, "", &[("SIGNALDB_COMPACTOR_ADMIN_TOKEN", token)]),
            load_toml(jail, from_token_file, &[]),
        ];
        let token_lines = ["token = \"***\"", "token = \"***\"", "# token is unset"];
        for (loaded, token_line) in loaded.iter().zip(token_lines) {
            let loaded = loaded.as_ref().unwrap();
            let admin = &loaded.config.compactor.admin;
            assert_eq!(admin.token().map(Secret::expose), Some(token));
            let rendered = render_effective(loaded);
            let outputs = [
                rendered.clone(),
                format!("{loaded:?}"),
                format!("{:?}", loaded.config),
                format!("{admin:#?}"),
                toml::to_string(&loaded.config).unwrap(),
                serde_json::to_string(&loaded.config).unwrap(),
            ];
            for out in &outputs {
                assert!(!out.contains(token), "the token leaked:\n{out}");
            }
            assert!(rendered.lines().any(|l| l.starts_with(token_line)), "{rendered}");
        }
        // The rendered token file loads back to the same token.
        let loaded = load_toml(jail, from_token_file, &[]).unwrap();
        jail.create_file("rendered.toml", &render_effective(&loaded))?;
        assert_eq!(load_in(jail, Some("rendered.toml"), &[]).unwrap().config, loaded.config);
        Ok(())
    });
}
