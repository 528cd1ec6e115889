//! The environment layer: `SIGNALDB_<SECTION>_<KEY>` variables mapped through the key schema.
//!
//! Key names contain underscores, so a variable is never split on `_`: it is looked up in the
//! table of every scalar key's variable ([`env_keys`]). Values parse like TOML scalars; strings
//! need no quotes. A list of strings is a TOML array or comma-separated (`trace_id,timestamp`). Empty variables are ignored. Array-of-table keys (tenant overrides) have no
//! variables.

use figment::value::{Dict, Map, Value as FigmentValue};
use figment::{Metadata, Profile, Provider};

use super::error::{Origin, Problem, ProblemKind};
use super::keys::{CONFIG_FILE_VAR, ENV_PREFIX, EnvKey, KeyPath, Seg, Shape, env_keys, schema};

/// Name of the environment layer's figment metadata.
pub(crate) const ENV_SOURCE_NAME: &str = "environment variable";

/// A typed value read from one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum EnvValue {
    Bool(bool),
    Int(u64),
    Str(String),
    List(Vec<String>),
}

/// The configuration keys set by `SIGNALDB_*` variables.
#[derive(Debug, Default)]
pub(crate) struct EnvLayer {
    values: Vec<(&'static EnvKey, EnvValue)>,
}

impl EnvLayer {
    /// Maps `vars` to keys; the problems list unknown variables and unparseable values.
    pub(crate) fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> (EnvLayer, Vec<Problem>) {
        let mut vars: Vec<(String, String)> =
            vars.into_iter().filter(|(name, _)| name.starts_with(ENV_PREFIX)).collect();
        vars.sort();
        let section_prefixes: Vec<String> = schema()
            .field_names()
            .iter()
            .map(|section| format!("{ENV_PREFIX}{}_", section.to_ascii_uppercase()))
            .collect();
        let mut layer = EnvLayer::default();
        let mut problems = Vec::new();
        for (name, raw) in vars {
            if name == CONFIG_FILE_VAR || raw.is_empty() {
                continue;
            }
            let Some(key) = env_keys().iter().find(|k| k.var == name) else {
                if section_prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                    problems.push(unknown_var(&name));
                }
                continue;
            };
            match parse(&key.shape, &raw) {
                Ok(value) => layer.values.push((key, value)),
                Err((kind, message)) => problems.push(Problem {
                    kind,
                    key: key.key.clone(),
                    origin: Origin::Env { var: name },
                    message,
                }),
            }
        }
        (layer, problems)
    }

    /// The variable that set `path`, if one did.
    pub(crate) fn var_for(&self, path: &KeyPath) -> Option<&str> {
        self.values.iter().find(|(k, _)| &k.path == path).map(|(k, _)| k.var.as_str())
    }
}

/// The problem for a variable in a configuration section that names no key.
fn unknown_var(name: &str) -> Problem {
    let overrides = KeyPath::default().key("compactor").key("retention").key("tenant_overrides");
    let message = if name.starts_with(&overrides.env_var()) {
        "tenant and dataset retention overrides can only be set in the configuration file"
            .to_string()
    } else {
        match super::suggest::closest(name, env_keys().iter().map(|k| k.var.as_str())) {
            Some(best) => format!("did you mean {best}?"),
            None => "no configuration key has this variable; see docs/configuration.md".to_string(),
        }
    };
    Problem {
        kind: ProblemKind::UnknownKey,
        key: name.to_string(),
        origin: Origin::Env { var: name.to_string() },
        message,
    }
}

/// Parses `raw` as a TOML scalar of `shape`.
fn parse(shape: &Shape, raw: &str) -> Result<EnvValue, (ProblemKind, String)> {
    let toml_value = raw.trim().parse::<toml_edit::Value>().ok();
    let wrong =
        || (ProblemKind::WrongType, format!("expected {}, found `{raw}`", shape.describe()));
    match (shape, toml_value) {
        (Shape::Bool, Some(toml_edit::Value::Boolean(b))) => Ok(EnvValue::Bool(*b.value())),
        (Shape::Int, Some(toml_edit::Value::Integer(n))) => {
            let n = *n.value();
            u64::try_from(n)
                .map(EnvValue::Int)
                .map_err(|_| (ProblemKind::InvalidValue, format!("must not be negative (got {n})")))
        }
        (Shape::Str, Some(toml_edit::Value::String(s)))
            if raw.trim_start().starts_with(['"', '\'']) =>
        {
            Ok(EnvValue::Str(s.value().clone()))
        }
        (Shape::Str, _) => Ok(EnvValue::Str(raw.to_string())),
        (Shape::StrList, Some(toml_edit::Value::Array(a))) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(EnvValue::List)
            .ok_or_else(wrong),
        (Shape::StrList, _) if !raw.trim_start().starts_with('[') => Ok(EnvValue::List(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        )),
        _ => Err(wrong()),
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_SOURCE_NAME).interpolater(|_profile: &Profile, keys: &[&str]| {
            let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            KeyPath::from_figment(&keys).env_var()
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (key, value) in &self.values {
            let value = match value {
                EnvValue::Bool(b) => FigmentValue::from(*b),
                EnvValue::Int(n) => FigmentValue::from(*n),
                EnvValue::Str(s) => FigmentValue::from(s.clone()),
                EnvValue::List(items) => FigmentValue::from(items.clone()),
            };
            insert(&mut root, &key.path.0, value);
        }
        Ok(Profile::Default.collect(root))
    }
}

/// Inserts `value` at `path` into nested dictionaries.
fn insert(dict: &mut Dict, path: &[Seg], value: FigmentValue) {
    let Some((Seg::Key(first), rest)) = path.split_first() else { return };
    if rest.is_empty() {
        dict.insert(first.clone(), value);
        return;
    }
    let child = dict.entry(first.clone()).or_insert_with(|| FigmentValue::from(Dict::new()));
    if let FigmentValue::Dict(_, inner) = child {
        insert(inner, rest, value);
    }
}
