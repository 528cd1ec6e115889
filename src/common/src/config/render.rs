//! The effective configuration as commented TOML, as `check-config` prints it.

use std::fmt::Write;

use super::error::Origin;
use super::keys::{KeyPath, Shape, schema};
use super::load::LoadedConfig;
use super::provenance::Provenance;
use super::secret::redact_uri;

/// Column the origin comments are aligned to.
const COMMENT_COLUMN: usize = 48;

/// The effective configuration as TOML, every value followed by `# default`,
/// `# file PATH:LINE` or `# env VAR`.
///
/// Secrets print as `"***"` and passwords inside URIs are masked; with those exceptions the
/// text parses back to the same configuration. Unset optional keys appear as comments.
pub fn render_effective(loaded: &LoadedConfig) -> String {
    let LoadedConfig { config, file, provenance } = loaded;
    let value = toml::Value::try_from(config).expect("a config serializes to TOML");
    let mut out = String::from(
        "# Effective SignalDB configuration. Each value is followed by its origin:\n\
         # default, file PATH:LINE, or env VARIABLE. Secrets are shown as \"***\".\n",
    );
    match file {
        Some(path) => writeln!(out, "# Configuration file: {}", path.display()),
        None => writeln!(out, "# Configuration file: none"),
    }
    .expect("writing to a String");
    let mut r = Renderer { out, provenance };
    r.table(schema(), &value, &KeyPath::default(), &[]);
    r.out
}

struct Renderer<'a> {
    out: String,
    provenance: &'a Provenance,
}

impl Renderer<'_> {
    /// Writes the keys of one table, then its sub-tables and arrays of tables.
    fn table(&mut self, shape: &Shape, value: &toml::Value, path: &KeyPath, header: &[&str]) {
        let Shape::Table(fields) = shape else { return };
        for (key, field) in fields {
            let child = value.get(key);
            let child_path = path.key(key);
            match field {
                Shape::Table(_) => {}
                Shape::Array(_)
                    if child.and_then(|v| v.as_array()).is_some_and(|a| !a.is_empty()) => {}
                Shape::Array(_) => self.line(&format!("{key} = []"), &child_path),
                _ => match child {
                    Some(v) => self.line(&format!("{key} = {}", scalar(v)), &child_path),
                    None => self.line(&format!("# {key} is unset"), &child_path),
                },
            }
        }
        for (key, field) in fields {
            let Some(child) = value.get(key) else { continue };
            let mut child_header = header.to_vec();
            child_header.push(key);
            let child_path = path.key(key);
            match field {
                Shape::Table(_) => {
                    write!(self.out, "\n[{}]\n", child_header.join("."))
                        .expect("writing to a String");
                    self.table(field, child, &child_path, &child_header);
                }
                Shape::Array(element) => {
                    let elements = child.as_array().map_or(&[][..], |a| a.as_slice());
                    for (i, e) in elements.iter().enumerate() {
                        let origin = self.origin(&child_path.index(i));
                        let head = format!("\n[[{}]]", child_header.join("."));
                        self.out.push_str(&commented(&head, &origin));
                        self.table(element, e, &child_path.index(i), &child_header);
                    }
                }
                _ => {}
            }
        }
    }

    /// Writes `text` with the origin of `path` as a trailing comment.
    fn line(&mut self, text: &str, path: &KeyPath) {
        let origin = self.origin(path);
        self.out.push_str(&commented(text, &origin));
    }

    fn origin(&self, path: &KeyPath) -> Origin {
        self.provenance.origin(&path.to_string()).cloned().unwrap_or(Origin::Default)
    }
}

/// `text` and an origin comment aligned to [`COMMENT_COLUMN`], as one line.
fn commented(text: &str, origin: &Origin) -> String {
    let width = text.rsplit('\n').next().map_or(0, str::len);
    let pad = COMMENT_COLUMN.saturating_sub(width).max(2);
    format!("{text}{:pad$}# {origin}\n", "")
}

/// A scalar as TOML, with any URI password masked.
fn scalar(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => toml_edit::Value::from(redact_uri(s)).to_string(),
        other => other.to_string(),
    }
}
