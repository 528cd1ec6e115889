//! `[compactor.admin]`: the token from the file, a variable or a token file, and its rules.

use figment::Jail;

use super::*;
use crate::config::{AdminConfig, Config, Secret};

/// A valid token of 32 characters.
const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn admin(loaded: &LoadedConfig) -> &AdminConfig {
    &loaded.config.compactor.admin
}

fn token_of(loaded: &LoadedConfig) -> Option<&str> {
    admin(loaded).token().map(Secret::expose)
}

#[test]
fn the_defaults_serve_the_api_with_open_reads_and_no_token() {
    let admin = Config::default().compactor.admin;
    assert!(admin.enabled);
    assert_eq!(admin.token(), None);
    assert_eq!(admin.token_file, None);
    assert!(!admin.protect_reads);
    assert_eq!(admin.max_body_bytes, 65536);
    assert_eq!(admin.max_concurrent_requests, 32);
    assert_eq!(admin.max_concurrent_runs, 4);
}

#[test]
fn every_variable_sets_its_key() {
    Jail::expect_with(|jail| {
        jail.create_file("admin-token", &format!("{TOKEN}\n"))?;
        let env = [
            ("SIGNALDB_COMPACTOR_ADMIN_ENABLED", "false"),
            ("SIGNALDB_COMPACTOR_ADMIN_TOKEN_FILE", "admin-token"),
            ("SIGNALDB_COMPACTOR_ADMIN_PROTECT_READS", "true"),
            ("SIGNALDB_COMPACTOR_ADMIN_MAX_BODY_BYTES", "1048576"),
            ("SIGNALDB_COMPACTOR_ADMIN_MAX_CONCURRENT_REQUESTS", "8"),
            ("SIGNALDB_COMPACTOR_ADMIN_MAX_CONCURRENT_RUNS", "1"),
        ];
        let loaded = load_in(jail, None, &env).unwrap();
        let a = admin(&loaded);
        assert!(!a.enabled && a.protect_reads);
        assert_eq!(a.token_file.as_deref(), Some(std::path::Path::new("admin-token")));
        assert_eq!(token_of(&loaded), Some(TOKEN));
        assert_eq!(
            (a.max_body_bytes, a.max_concurrent_requests, a.max_concurrent_runs),
            (1 << 20, 8, 1)
        );
        for (var, _) in env {
            let key = format!(
                "compactor.admin.{}",
                var["SIGNALDB_COMPACTOR_ADMIN_".len()..].to_lowercase()
            );
            assert_eq!(loaded.provenance.origin(&key), Some(&Origin::Env { var: var.to_string() }));
        }

        let loaded = load_in(jail, None, &[("SIGNALDB_COMPACTOR_ADMIN_TOKEN", TOKEN)]).unwrap();
        assert_eq!(token_of(&loaded), Some(TOKEN));
        assert_eq!(admin(&loaded).token.as_ref().map(Secret::expose), Some(TOKEN));

        let err = load_in(jail, None, &[("SIGNALDB_COMPACTOR_ADMIN_TOKN", TOKEN)]).unwrap_err();
        assert!(err.to_string().contains("did you mean SIGNALDB_COMPACTOR_ADMIN_TOKEN?"), "{err}");
        assert!(!err.to_string().contains(TOKEN), "{err}");
        Ok(())
    });
}

#[test]
fn the_token_file_is_read_at_load_without_its_surrounding_whitespace() {
    Jail::expect_with(|jail| {
        jail.create_file("token", &format!("  {TOKEN}\r\n\n"))?;
        let loaded = load_toml(jail, "[compactor.admin]\ntoken_file = \"token\"\n", &[]).unwrap();
        assert_eq!(token_of(&loaded), Some(TOKEN));
        assert_eq!(admin(&loaded).token, None, "the file's token is not the `token` key");

        let absolute = jail.directory().join("token");
        let env = [("SIGNALDB_COMPACTOR_ADMIN_TOKEN_FILE", absolute.to_str().unwrap())];
        assert_eq!(token_of(&load_in(jail, None, &env).unwrap()), Some(TOKEN));

        // A config built in code gives its `token` the same way.
        let mut set = Config::default();
        set.compactor.admin.token = Some(Secret::new(TOKEN));
        assert_eq!(set.compactor.admin.token().map(Secret::expose), Some(TOKEN));
        Ok(())
    });
}

#[test]
fn a_missing_or_empty_token_file_is_refused_with_its_path() {
    Jail::expect_with(|jail| {
        let path = jail.directory().join("absent");
        assert_refused(
            jail,
            "[compactor.admin]\ntoken_file = \"absent\"\n",
            ProblemKind::InvalidValue,
            "compactor.admin.token_file",
            2,
            &format!("cannot read the token file {}: No such file or directory", path.display()),
        );
        jail.create_file("empty", " \n\t\n")?;
        assert_refused(
            jail,
            "[compactor]\n[compactor.admin]\ntoken_file = \"empty\"\n",
            ProblemKind::InvalidValue,
            "compactor.admin.token_file",
            3,
            &format!("the token file {} is empty", jail.directory().join("empty").display()),
        );
        let var = "SIGNALDB_COMPACTOR_ADMIN_TOKEN_FILE";
        let err = load_in(jail, None, &[(var, "absent")]).unwrap_err();
        let p = only_problem(&err, "compactor.admin.token_file");
        assert_eq!(p.origin, Origin::Env { var: var.to_string() });
        Ok(())
    });
}

#[test]
fn a_token_and_a_token_file_together_are_refused() {
    Jail::expect_with(|jail| {
        jail.create_file("token", TOKEN)?;
        let toml = format!("[compactor.admin]\ntoken = \"{TOKEN}\"\ntoken_file = \"token\"\n");
        let err = refused(jail, &toml, &[]);
        let p = only_problem(&err, "compactor.admin.token_file");
        assert_eq!(p.origin, file_line(jail, 3));
        assert!(p.message.contains("set only one of compactor.admin.token and"), "{err}");
        assert!(!err.to_string().contains(TOKEN), "{err}");
        Ok(())
    });
}

#[test]
fn a_short_token_is_refused_without_being_echoed() {
    Jail::expect_with(|jail| {
        let short = "s3cr3t-but-sh0r";
        assert_eq!(short.len(), 15);
        let toml = format!("[compactor.admin]\ntoken = \"{short}\"\n");
        assert_refused(
            jail,
            &toml,
            ProblemKind::InvalidValue,
            "compactor.admin.token",
            2,
            "must be at least 16 characters long; generate one with `openssl rand -hex 32`",
        );
        assert!(!refused(jail, &toml, &[]).to_string().contains(short));

        jail.create_file("token", &format!("{short}\n"))?;
        let err = refused(jail, "[compactor.admin]\ntoken_file = \"token\"\n", &[]);
        let p = only_problem(&err, "compactor.admin.token_file");
        assert!(p.message.starts_with("the token in token: must be at least 16"), "{err}");
        assert!(!err.to_string().contains(short), "{err}");

        let sixteen = &TOKEN[..16];
        let loaded = load_toml(jail, "", &[("SIGNALDB_COMPACTOR_ADMIN_TOKEN", sixteen)]).unwrap();
        assert_eq!(token_of(&loaded), Some(sixteen));
        Ok(())
    });
}

#[test]
fn a_token_with_whitespace_or_invisible_characters_is_refused() {
    Jail::expect_with(|jail| {
        let var = "SIGNALDB_COMPACTOR_ADMIN_TOKEN";
        for token in [
            "0123456789 abcdef0123",
            "0123456789abcdef0123\n",
            "\t0123456789abcdef0123",
            "0123456789abcdéf0123",
            "0123456789abcdef\u{7f}0123",
        ] {
            let err = load_in(jail, None, &[(var, token)]).unwrap_err();
            let p = only_problem(&err, "compactor.admin.token");
            assert!(p.message.starts_with("must be a visible ASCII string"), "{err}");
            assert_eq!(p.origin, Origin::Env { var: var.to_string() });
            assert!(!err.to_string().contains(token.trim()), "{err}");
        }
        // Inside a token file only the surrounding whitespace is trimmed.
        jail.create_file("token", "0123456789 abcdef0123\n")?;
        let err = refused(jail, "[compactor.admin]\ntoken_file = \"token\"\n", &[]);
        let p = only_problem(&err, "compactor.admin.token_file");
        assert!(p.message.contains("must be a visible ASCII string"), "{err}");
        assert!(!err.to_string().contains("abcdef0123"), "{err}");

        // Both rules at once: two problems, still no value.
        let err = load_toml(jail, "", &[(var, "short one")]).unwrap_err();
        assert_eq!(err.problems().len(), 2, "{err}");
        assert!(!err.to_string().contains("short one"), "{err}");
        Ok(())
    });
}

#[test]
fn a_token_of_the_wrong_type_is_refused_without_its_value() {
    Jail::expect_with(|jail| {
        let digits = "1234567890123456";
        let err = refused(jail, &format!("[compactor.admin]\ntoken = {digits}\n"), &[]);
        let p = only_problem(&err, "compactor.admin.token");
        assert_eq!(p.kind, ProblemKind::WrongType);
        assert!(p.message.starts_with("expected a string, found integer"), "{err}");
        assert!(!err.to_string().contains(digits), "{err}");
        // Other keys still show the value they refused.
        let err = refused(jail, "[compactor.admin]\ntoken_file = 42\n", &[]);
        assert!(err.to_string().contains("found integer 42"), "{err}");
        Ok(())
    });
}

#[test]
fn protecting_reads_needs_a_token() {
    Jail::expect_with(|jail| {
        assert_refused(
            jail,
            "[compactor.admin]\nprotect_reads = true\n",
            ProblemKind::InvalidValue,
            "compactor.admin.protect_reads",
            2,
            "needs a token (compactor.admin.token or compactor.admin.token_file)",
        );
        let env = [("SIGNALDB_COMPACTOR_ADMIN_TOKEN", TOKEN)];
        let loaded = load_toml(jail, "[compactor.admin]\nprotect_reads = true\n", &env).unwrap();
        assert!(admin(&loaded).protect_reads);
        // An unreadable token file is one problem, not also one of protect_reads.
        let err =
            refused(jail, "[compactor.admin]\nprotect_reads = true\ntoken_file = \"x\"\n", &[]);
        only_problem(&err, "compactor.admin.token_file");
        Ok(())
    });
}

#[test]
fn limits_out_of_range_are_refused() {
    Jail::expect_with(|jail| {
        let cases = [
            ("max_body_bytes = 0", "max_body_bytes", "must be at least 1 byte (got 0)"),
            (
                "max_body_bytes = 16777217",
                "max_body_bytes",
                "must be at most 16777216 bytes (16 MiB) (got 16777217)",
            ),
            (
                "max_concurrent_requests = 0",
                "max_concurrent_requests",
                "must be at least 1 (got 0)",
            ),
            ("max_concurrent_runs = 0", "max_concurrent_runs", "must be at least 1 (got 0)"),
        ];
        for (line, key, message) in cases {
            assert_refused(
                jail,
                &format!("[compactor.admin]\n{line}\n"),
                ProblemKind::InvalidValue,
                &format!("compactor.admin.{key}"),
                2,
                message,
            );
        }
        let loaded = load_toml(jail, "[compactor.admin]\nmax_body_bytes = 16777216\n", &[]);
        assert_eq!(admin(&loaded.unwrap()).max_body_bytes, 16 * 1024 * 1024);
        Ok(())
    });
}
