//! Tests of loading, env mapping, validation, rendering and retention resolution.
//!
//! Files live in a `figment::Jail` directory; most tests pass the environment explicitly to
//! [`load_from`] so variables of the machine running the tests cannot leak in.

// `Jail` closures must return `figment::Error`, whatever its size.
#![allow(clippy::result_large_err)]

mod admin;
mod env;
mod example;
mod invalid;
mod output;
mod precedence;
mod render;
mod retention;
mod rules;
mod sort;

use std::path::Path;

use figment::Jail;

use super::{ConfigError, LoadedConfig, Origin, Problem, ProblemKind, load_from};

/// Loads with `explicit`, exactly the variables `env`, and the jail's directory as cwd.
fn load_in(
    jail: &Jail,
    explicit: Option<&str>,
    env: &[(&str, &str)],
) -> Result<LoadedConfig, ConfigError> {
    let vars = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    load_from(explicit.map(Path::new), vars, jail.directory())
}

/// Writes `signaldb.toml` in the jail and loads it with `env`.
fn load_toml(jail: &Jail, toml: &str, env: &[(&str, &str)]) -> Result<LoadedConfig, ConfigError> {
    jail.create_file("signaldb.toml", toml).expect("writing signaldb.toml");
    load_in(jail, None, env)
}

/// The error of loading `toml` with `env`; panics if it loads.
fn refused(jail: &Jail, toml: &str, env: &[(&str, &str)]) -> ConfigError {
    match load_toml(jail, toml, env) {
        Ok(loaded) => panic!("config was accepted: {:?}", loaded.config),
        Err(e) => e,
    }
}

/// The only problem of `error`, which must be about `key`.
fn only_problem<'a>(error: &'a ConfigError, key: &str) -> &'a Problem {
    match error.problems() {
        [p] if p.key == key => p,
        _ => panic!("expected one problem at {key}, got: {error}"),
    }
}

/// The path of `signaldb.toml` in the jail.
fn toml_path(jail: &Jail) -> std::path::PathBuf {
    jail.directory().join("signaldb.toml")
}

/// An origin at `line` of the jail's `signaldb.toml`.
fn file_line(jail: &Jail, line: usize) -> Origin {
    Origin::File { path: toml_path(jail), line }
}

/// Asserts `toml` is refused with one problem of `kind` at `key` on `line`, whose message
/// contains `message`.
fn assert_refused(
    jail: &Jail,
    toml: &str,
    kind: ProblemKind,
    key: &str,
    line: usize,
    message: &str,
) {
    let err = refused(jail, toml, &[]);
    let p = only_problem(&err, key);
    assert_eq!(p.kind, kind, "{err}");
    assert_eq!(p.origin, file_line(jail, line), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{key} in {} line {line}", toml_path(jail).display())),
        "{text}"
    );
    assert!(text.contains(message), "{text}");
}
