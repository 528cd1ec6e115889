//! Where every effective value came from: built-in default, a file line, or a variable.

use super::env::EnvLayer;
use super::error::Origin;
use super::file::FileSource;
use super::keys::{KeyPath, Seg, Shape, schema};
use super::root::Config;

/// The origin of every key of a loaded configuration, in schema order.
///
/// Keys are dotted paths with `[i]` for array elements
/// (`compactor.retention.tenant_overrides[0].tenant_id`); unset optional keys are listed too.
/// An array key itself (`compactor.retention.tenant_overrides`) and each of its elements
/// (`…tenant_overrides[0]`) are listed too, with the line of the first and of each element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    entries: Vec<(String, Origin)>,
}

impl Provenance {
    /// The origin of `key`, if `key` is a key of the configuration.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, o)| o)
    }

    /// Where a problem at `path` should point: the key's own origin, or for a key an array
    /// element leaves unset, the line of that element.
    pub(crate) fn locate(&self, path: &KeyPath) -> Origin {
        let set = |segs: &[Seg]| {
            self.origin(&KeyPath(segs.to_vec()).to_string())
                .filter(|o| **o != Origin::Default)
                .cloned()
        };
        set(&path.0)
            .or_else(|| {
                (1..path.0.len())
                    .rev()
                    .map(|n| &path.0[..n])
                    .filter(|segs| matches!(segs.last(), Some(Seg::Index(_))))
                    .find_map(set)
            })
            .unwrap_or(Origin::Default)
    }

    /// Every key and its origin, in schema order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Origin)> {
        self.entries.iter().map(|(k, o)| (k.as_str(), o))
    }

    /// Records the origin of every key of `config`: a variable beats the file, which beats
    /// the default.
    pub(crate) fn build(config: &Config, file: Option<&FileSource>, env: &EnvLayer) -> Provenance {
        let value = toml::Value::try_from(config).expect("a config serializes to TOML");
        let mut entries = Vec::new();
        walk(schema(), Some(&value), &KeyPath::default(), &mut |path| {
            let origin = if let Some(var) = env.var_for(path) {
                Origin::Env { var: var.to_string() }
            } else if let Some(origin) = file.and_then(|f| f.origin_of(path)) {
                origin
            } else {
                Origin::Default
            };
            entries.push((path.to_string(), origin));
        });
        Provenance { entries }
    }
}

/// Calls `visit` for every scalar key, every array key, and every array element and its keys.
fn walk(
    shape: &Shape,
    value: Option<&toml::Value>,
    path: &KeyPath,
    visit: &mut impl FnMut(&KeyPath),
) {
    match shape {
        Shape::Table(fields) => {
            for (key, child) in fields {
                let child_value = value.and_then(|v| v.get(key));
                walk(child, child_value, &path.key(key), visit);
            }
        }
        Shape::Array(element) => {
            visit(path);
            let elements = value.and_then(|v| v.as_array()).map_or(&[][..], |a| a.as_slice());
            for (i, e) in elements.iter().enumerate() {
                visit(&path.index(i));
                walk(element, Some(e), &path.index(i), visit);
            }
        }
        Shape::Bool | Shape::Int | Shape::Str | Shape::StrList => visit(path),
    }
}
