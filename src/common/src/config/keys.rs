//! The key schema, derived from the config types themselves, and the env-variable names.
//!
//! The schema is read off a serialized sample [`Config`] in which every optional field is set
//! and every list holds one element, so it lists exactly the keys serde accepts, in field
//! order, with the TOML type of each. Env variable names are derived from it, never written by
//! hand.

use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

use super::retention::{DatasetOverride, TenantOverride};
use super::root::Config;
use super::secret::{REDACTED, Secret};
use super::storage::S3Config;

/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "SIGNALDB_";

/// Variable naming the configuration file; it is not a key.
pub const CONFIG_FILE_VAR: &str = "SIGNALDB_CONFIG";

/// One segment of a key path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Seg {
    /// A table key.
    Key(String),
    /// An element of an array of tables.
    Index(usize),
}

/// A path to a value: `compactor.retention.tenant_overrides[1].tenant_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct KeyPath(pub(crate) Vec<Seg>);

impl KeyPath {
    /// This path extended by table key `key`.
    pub(crate) fn key(&self, key: &str) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        KeyPath(segs)
    }

    /// This path extended by array index `i`.
    pub(crate) fn index(&self, i: usize) -> KeyPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(i));
        KeyPath(segs)
    }

    /// Path from dotted segments as figment reports them (indices as decimal strings).
    pub(crate) fn from_figment(path: &[String]) -> KeyPath {
        KeyPath(
            path.iter()
                .map(|s| match s.parse::<usize>() {
                    Ok(i) => Seg::Index(i),
                    Err(_) => Seg::Key(s.clone()),
                })
                .collect(),
        )
    }

    /// The environment variable for this path: `SIGNALDB_` + segments joined by `_`, upper case.
    pub(crate) fn env_var(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| match s {
                Seg::Key(k) => k.to_ascii_uppercase(),
                Seg::Index(i) => i.to_string(),
            })
            .collect();
        format!("{ENV_PREFIX}{}", parts.join("_"))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if n == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// The TOML type a key accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `true` or `false`.
    Bool,
    /// A non-negative integer.
    Int,
    /// A string.
    Str,
    /// An array of strings; one variable sets it whole.
    StrList,
    /// A table, its keys in field order.
    Table(Vec<(String, Shape)>),
    /// An array of tables of the given shape.
    Array(Box<Shape>),
}

impl Shape {
    /// The shape of key `key` of this table, if it has one.
    pub(crate) fn field(&self, key: &str) -> Option<&Shape> {
        match self {
            Shape::Table(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, s)| s),
            _ => None,
        }
    }

    /// The key names of this table.
    pub(crate) fn field_names(&self) -> Vec<&str> {
        match self {
            Shape::Table(fields) => fields.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// What a value of this shape is called in error messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Shape::Bool => "a boolean (true or false)",
            Shape::Int => "a non-negative integer",
            Shape::Str => "a string",
            Shape::StrList => "an array of strings",
            Shape::Table(_) => "a table",
            Shape::Array(_) => "an array of tables",
        }
    }
}

/// The schema of the whole file.
pub(crate) fn schema() -> &'static Shape {
    static SCHEMA: OnceLock<Shape> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = toml::to_string(&sample()).expect("the sample config serializes to TOML");
        let doc: toml_edit::DocumentMut = text.parse().expect("serialized TOML parses");
        table_shape(doc.as_table().iter())
    })
}

/// A config with every optional field set and one element in every list.
fn sample() -> Config {
    let mut config = Config::default();
    let set = || Some(1);
    config.compactor.retention.tenant_overrides = vec![TenantOverride {
        tenant_id: "t".to_string(),
        traces_retention_days: set(),
        logs_retention_days: set(),
        metrics_retention_days: set(),
        profiles_retention_days: set(),
        dataset_overrides: vec![DatasetOverride {
            dataset_id: "d".to_string(),
            traces_retention_days: set(),
            logs_retention_days: set(),
            metrics_retention_days: set(),
            profiles_retention_days: set(),
        }],
    }];
    config.compactor.sort.spill_dir = Some(String::new());
    config.compactor.admin.token = Some(Secret::new(""));
    config.compactor.admin.token_file = Some(PathBuf::new());
    config.storage.s3 = S3Config {
        endpoint: Some(String::new()),
        region: Some(String::new()),
        access_key_id: Some(Secret::new("")),
        secret_access_key: Some(Secret::new("")),
        session_token: Some(Secret::new("")),
        allow_http: false,
    };
    config
}

/// Whether `path` holds a [`Secret`], whose value no message may show: the keys whose sample
/// value serializes as [`REDACTED`].
pub(crate) fn is_secret(path: &KeyPath) -> bool {
    static SECRETS: OnceLock<Vec<KeyPath>> = OnceLock::new();
    let secrets = SECRETS.get_or_init(|| {
        let sample = toml::Value::try_from(sample()).expect("the sample config serializes");
        let value_at = |path: &KeyPath| {
            path.0.iter().try_fold(&sample, |v, seg| match seg {
                Seg::Key(k) => v.get(k.as_str()),
                Seg::Index(i) => v.get(*i),
            })
        };
        env_keys()
            .iter()
            .filter(|k| value_at(&k.path).and_then(toml::Value::as_str) == Some(REDACTED))
            .map(|k| k.path.clone())
            .collect()
    });
    secrets.contains(path)
}

fn table_shape<'a>(items: impl Iterator<Item = (&'a str, &'a toml_edit::Item)>) -> Shape {
    Shape::Table(items.map(|(k, item)| (k.to_string(), item_shape(item))).collect())
}

fn item_shape(item: &toml_edit::Item) -> Shape {
    use toml_edit::Item;
    match item {
        Item::Table(t) => table_shape(t.iter()),
        Item::ArrayOfTables(a) => Shape::Array(Box::new(
            a.iter().next().map_or(Shape::Table(Vec::new()), |t| table_shape(t.iter())),
        )),
        Item::Value(v) => value_shape(v),
        Item::None => unreachable!("a serialized config has no empty items"),
    }
}

fn value_shape(value: &toml_edit::Value) -> Shape {
    use toml_edit::Value;
    match value {
        Value::Boolean(_) => Shape::Bool,
        Value::Integer(_) => Shape::Int,
        Value::String(_) => Shape::Str,
        Value::InlineTable(t) => {
            Shape::Table(t.iter().map(|(k, v)| (k.to_string(), value_shape(v))).collect())
        }
        Value::Array(a) if a.iter().all(|v| v.is_str()) => Shape::StrList,
        Value::Array(a) => {
            Shape::Array(Box::new(a.get(0).map_or(Shape::Table(Vec::new()), value_shape)))
        }
        Value::Float(_) | Value::Datetime(_) => {
            unreachable!("config fields are booleans, integers, strings, tables or arrays")
        }
    }
}

/// A key that can be set from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvKey {
    /// Dotted key path, e.g. `compactor.retention.traces_retention_days`.
    pub key: String,
    /// The variable, e.g. `SIGNALDB_COMPACTOR_RETENTION_TRACES_RETENTION_DAYS`.
    pub var: String,
    pub(crate) path: KeyPath,
    pub(crate) shape: Shape,
}

/// Every scalar key outside arrays, with its environment variable, in schema order.
pub fn env_keys() -> &'static [EnvKey] {
    static KEYS: OnceLock<Vec<EnvKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut out = Vec::new();
        collect_env_keys(schema(), &KeyPath::default(), &mut out);
        out
    })
}

fn collect_env_keys(shape: &Shape, path: &KeyPath, out: &mut Vec<EnvKey>) {
    match shape {
        Shape::Table(fields) => {
            for (k, s) in fields {
                collect_env_keys(s, &path.key(k), out);
            }
        }
        Shape::Array(_) => {}
        scalar => out.push(EnvKey {
            key: path.to_string(),
            var: path.env_var(),
            path: path.clone(),
            shape: scalar.clone(),
        }),
    }
}
