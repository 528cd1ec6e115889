//! Loading: defaults, then the TOML file, then `SIGNALDB_*` variables, then validation.

use std::path::{Path, PathBuf};

use figment::error::Kind;
use figment::providers::Serialized;
use figment::{Figment, Profile};

use super::env::{ENV_SOURCE_NAME, EnvLayer};
use super::error::{ConfigError, Origin, Problem, ProblemKind};
use super::file::{FileSource, unknown_key_hint};
use super::keys::{CONFIG_FILE_VAR, KeyPath};
use super::provenance::Provenance;
use super::root::Config;
use super::validate::{Violation, validate};

/// Name of the file looked for in the working directory when no file is named.
pub const DEFAULT_FILE_NAME: &str = "signaldb.toml";

/// A validated configuration with the file it was read from and the origin of every value.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The effective configuration.
    pub config: Config,
    /// The TOML file that was read, if any.
    pub file: Option<PathBuf>,
    /// Where each value came from.
    pub provenance: Provenance,
}

/// Loads and validates the configuration of this process.
///
/// The file is `explicit` (from `--config`), else `$SIGNALDB_CONFIG`, else `./signaldb.toml`
/// if it exists; a named file that does not exist is an error. Variables override the file,
/// which overrides the built-in defaults.
pub fn load(explicit: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let vars = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())));
    load_from(explicit, vars, &cwd)
}

/// [`load`] with the environment and working directory given, for tests and embedding.
pub fn load_from(
    explicit: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
    cwd: &Path,
) -> Result<LoadedConfig, ConfigError> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let mut file = match find_file(explicit, &vars, cwd)? {
        Some(path) => Some(FileSource::read(&path)?),
        None => None,
    };
    let (env, env_problems) = EnvLayer::from_vars(vars);
    // Keys refused here are left out of the layers, so the rest can still be validated and
    // every problem reported at once.
    let (rejected, mut problems): (Vec<KeyPath>, Vec<Problem>) =
        file.as_mut().map(FileSource::check).unwrap_or_default().into_iter().unzip();
    problems.extend(env_problems);

    let defaults = Figment::from(Serialized::defaults(Config::default()));
    let mut figment = defaults.clone();
    if let Some(file) = &file {
        figment = figment.merge(file);
    }
    figment = figment.merge(&env);
    // A value its type refuses (an unknown timezone, ...) is set back to its default and
    // extraction retried, so the rest can still be validated and every problem reported at once.
    let mut refused: Vec<Violation> = Vec::new();
    let mut config: Config = loop {
        match figment.extract() {
            Ok(config) => break config,
            Err(e) => match refused_value(&e, &refused, &defaults) {
                Some((violation, default)) => {
                    figment = figment.merge(Serialized::default(&e.path.join("."), default));
                    refused.push(violation);
                }
                None => {
                    problems.extend(figment_problems(e, file.as_ref()));
                    return Err(ConfigError::Invalid(problems));
                }
            },
        }
    };

    // The token file is read here, once, so a loaded config holds the token itself.
    if let Err(message) = config.compactor.admin.read_token_file(cwd) {
        let path = KeyPath::default().key("compactor").key("admin").key("token_file");
        refused.push(Violation { kind: ProblemKind::InvalidValue, path, message });
    }
    let provenance = Provenance::build(&config, file.as_ref(), &env);
    problems.extend(
        validate(&config, &refused).into_iter().filter(|v| !rejected.contains(&v.path)).map(|v| {
            Problem {
                kind: v.kind,
                key: v.path.to_string(),
                origin: provenance.locate(&v.path),
                message: v.message,
            }
        }),
    );
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    Ok(LoadedConfig { config, file: file.map(|f| f.path().to_path_buf()), provenance })
}

/// The file to read: `explicit`, else `SIGNALDB_CONFIG`, else `signaldb.toml` in `cwd` if present.
fn find_file(
    explicit: Option<&Path>,
    vars: &[(String, String)],
    cwd: &Path,
) -> Result<Option<PathBuf>, ConfigError> {
    let from_env = vars
        .iter()
        .find(|(k, v)| k == CONFIG_FILE_VAR && !v.is_empty())
        .map(|(_, v)| PathBuf::from(v));
    let (named, named_by) = match (explicit, from_env) {
        (Some(path), _) => (path.to_path_buf(), "--config"),
        (None, Some(path)) => (path, CONFIG_FILE_VAR),
        (None, None) => {
            let default = cwd.join(DEFAULT_FILE_NAME);
            return Ok(default.is_file().then_some(default));
        }
    };
    let path = cwd.join(named);
    if path.exists() { Ok(Some(path)) } else { Err(ConfigError::FileNotFound { path, named_by }) }
}

/// When `error` is one value its type's parser refused (a custom deserialisation message at a
/// key, which no derived type produces) and that key was not refused before: the violation,
/// and the key's default value in `defaults` to load in its place.
fn refused_value(
    error: &figment::Error,
    refused: &[Violation],
    defaults: &Figment,
) -> Option<(Violation, figment::value::Value)> {
    let Kind::Message(message) = &error.kind else { return None };
    let path = KeyPath::from_figment(&error.path);
    if error.count() != 1 || refused.iter().any(|v| v.path == path) {
        return None;
    }
    let default = defaults.find_value(&error.path.join(".")).ok()?;
    Some((Violation { kind: ProblemKind::InvalidValue, path, message: message.clone() }, default))
}

/// Problems for figment's extraction errors, located in the file or at their variable.
fn figment_problems(error: figment::Error, file: Option<&FileSource>) -> Vec<Problem> {
    error
        .into_iter()
        .map(|e| {
            let path = KeyPath::from_figment(&e.path);
            let origin = match &e.metadata {
                Some(md) if md.name == ENV_SOURCE_NAME => {
                    Origin::Env { var: md.interpolate(&Profile::Default, &e.path) }
                }
                Some(md) if md.source.as_ref().and_then(|s| s.file_path()).is_some() => {
                    file.and_then(|f| f.origin_of(&path)).unwrap_or(Origin::Default)
                }
                _ => Origin::Default,
            };
            let (kind, message) = match &e.kind {
                Kind::InvalidType(found, expected) => {
                    (ProblemKind::WrongType, format!("expected {expected}, found {found}"))
                }
                Kind::InvalidValue(found, expected) => {
                    (ProblemKind::InvalidValue, format!("{found} is out of range for {expected}"))
                }
                Kind::UnknownField(field, valid) => {
                    (ProblemKind::UnknownKey, unknown_key_hint(field, valid))
                }
                other => (ProblemKind::InvalidValue, other.to_string()),
            };
            Problem { kind, key: path.to_string(), origin, message }
        })
        .collect()
}
