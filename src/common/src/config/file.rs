//! The TOML file layer: reading, syntax and schema checks with line numbers, key lookup.

use std::ops::Range;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value as FigmentValue};
use figment::{Metadata, Profile, Provider};
use toml_edit::{Array, ArrayOfTables, InlineTable, Item, Table, Value};

use super::error::{ConfigError, Origin, Problem, ProblemKind, line_col};
use super::keys::{KeyPath, Seg, Shape, is_secret, schema};
use super::suggest::closest;

/// A parsed configuration file, kept with its text so any key can be traced to its line.
pub(crate) struct FileSource {
    path: PathBuf,
    text: String,
    doc: toml_edit::Document<String>,
    /// Keys [`FileSource::check`] refused; the figment layer leaves them out so the rest of
    /// the file can still be validated.
    rejected: Vec<KeyPath>,
}

/// A borrowed piece of the parsed document.
#[derive(Clone, Copy)]
enum Node<'a> {
    Table(&'a Table),
    Inline(&'a InlineTable),
    Tables(&'a ArrayOfTables),
    Array(&'a Array),
    Scalar(&'a Value),
}

impl<'a> Node<'a> {
    fn of_item(item: &'a Item) -> Option<Node<'a>> {
        match item {
            Item::None => None,
            Item::Table(t) => Some(Node::Table(t)),
            Item::ArrayOfTables(a) => Some(Node::Tables(a)),
            Item::Value(v) => Some(Node::of_value(v)),
        }
    }

    fn of_value(value: &'a Value) -> Node<'a> {
        match value {
            Value::InlineTable(t) => Node::Inline(t),
            Value::Array(a) => Node::Array(a),
            scalar => Node::Scalar(scalar),
        }
    }

    /// The entry `key` of a table node, with the span of the key.
    fn child(self, key: &str) -> Option<(Option<Range<usize>>, Node<'a>)> {
        match self {
            Node::Table(t) => {
                let (k, item) = t.get_key_value(key)?;
                Some((k.span(), Node::of_item(item)?))
            }
            Node::Inline(t) => {
                let (k, item) = t.get_key_value(key)?;
                Some((k.span(), Node::of_item(item)?))
            }
            _ => None,
        }
    }

    /// Element `i` of an array node, with its span.
    fn element(self, i: usize) -> Option<(Option<Range<usize>>, Node<'a>)> {
        match self {
            Node::Tables(a) => a.get(i).map(|t| (t.span(), Node::Table(t))),
            Node::Array(a) => a.get(i).map(|v| (v.span(), Node::of_value(v))),
            _ => None,
        }
    }

    /// The keys of a table node, in document order.
    fn keys(self) -> Vec<&'a str> {
        match self {
            Node::Table(t) => t.iter().map(|(k, _)| k).collect(),
            Node::Inline(t) => t.iter().map(|(k, _)| k).collect(),
            _ => Vec::new(),
        }
    }

    /// The number of elements of an array node.
    fn len(self) -> usize {
        match self {
            Node::Tables(a) => a.len(),
            Node::Array(a) => a.len(),
            _ => 0,
        }
    }

    /// What this node is, for "found ..." in error messages; a scalar's value is shown unless
    /// it is a `secret`'s.
    fn describe(self, secret: bool) -> String {
        match self {
            Node::Table(_) | Node::Inline(_) => "a table".to_string(),
            Node::Tables(_) | Node::Array(_) => "an array".to_string(),
            Node::Scalar(v) => {
                let kind = match v {
                    Value::String(_) => "string",
                    Value::Integer(_) => "integer",
                    Value::Float(_) => "float",
                    Value::Boolean(_) => "boolean",
                    _ => "date-time",
                };
                if secret {
                    format!("{kind} (a secret's value is not shown)")
                } else {
                    format!("{kind} {}", v.to_string().trim())
                }
            }
        }
    }
}

impl FileSource {
    /// Reads and parses `path`; a TOML syntax error carries its line and column.
    pub(crate) fn read(path: &Path) -> Result<FileSource, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(path, text)
    }

    /// Parses `text` as the content of `path`.
    pub(crate) fn parse(path: &Path, text: String) -> Result<FileSource, ConfigError> {
        let doc = toml_edit::Document::parse(text.clone()).map_err(|e| {
            let (line, column) = line_col(&text, e.span().map_or(0, |s| s.start));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        Ok(FileSource { path: path.to_path_buf(), text, doc, rejected: Vec::new() })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The line `path` is written on, if the file sets it.
    pub(crate) fn line_of(&self, path: &KeyPath) -> Option<usize> {
        let mut node = Node::Table(self.doc.as_table());
        let mut span = None;
        for seg in &path.0 {
            let (s, next) = match seg {
                Seg::Key(k) => node.child(k)?,
                Seg::Index(i) => node.element(*i)?,
            };
            span = s.or(span);
            node = next;
        }
        Some(span.map_or(1, |s| line_col(&self.text, s.start).0))
    }

    /// The origin of `path` if the file sets it.
    pub(crate) fn origin_of(&self, path: &KeyPath) -> Option<Origin> {
        self.line_of(path).map(|line| Origin::File { path: self.path.clone(), line })
    }

    /// Every unknown key, wrong type and negative number in the file. The keys concerned are
    /// left out of the figment layer from then on.
    pub(crate) fn check(&mut self) -> Vec<(KeyPath, Problem)> {
        let mut out = Vec::new();
        let root = Node::Table(self.doc.as_table());
        self.check_node(root, schema(), &KeyPath::default(), None, &mut out);
        self.rejected = out.iter().map(|(path, _)| path.clone()).collect();
        out
    }

    fn check_node(
        &self,
        node: Node<'_>,
        shape: &Shape,
        path: &KeyPath,
        span: Option<Range<usize>>,
        out: &mut Vec<(KeyPath, Problem)>,
    ) {
        let wrong_type =
            || format!("expected {}, found {}", shape.describe(), node.describe(is_secret(path)));
        match (shape, node) {
            (Shape::Table(_), Node::Table(_) | Node::Inline(_)) => {
                for key in node.keys() {
                    let Some((key_span, child)) = node.child(key) else { continue };
                    let child_path = path.key(key);
                    match shape.field(key) {
                        Some(child_shape) => {
                            self.check_node(child, child_shape, &child_path, key_span, out)
                        }
                        None => {
                            let hint = unknown_key_hint(key, &shape.field_names());
                            let problem =
                                self.problem(ProblemKind::UnknownKey, &child_path, key_span, hint);
                            out.push((child_path, problem));
                        }
                    }
                }
            }
            (Shape::Array(element), Node::Tables(_) | Node::Array(_)) => {
                for i in 0..node.len() {
                    if let Some((element_span, child)) = node.element(i) {
                        self.check_node(child, element, &path.index(i), element_span, out);
                    }
                }
            }
            (Shape::Bool, Node::Scalar(Value::Boolean(_))) => {}
            (Shape::Str, Node::Scalar(Value::String(_))) => {}
            (Shape::StrList, Node::Array(a)) if a.iter().all(Value::is_str) => {}
            (Shape::Int, Node::Scalar(Value::Integer(n))) => {
                let n = *n.value();
                if n < 0 {
                    let message = format!("must not be negative (got {n})");
                    out.push((
                        path.clone(),
                        self.problem(ProblemKind::InvalidValue, path, span, message),
                    ));
                }
            }
            _ => out.push((
                path.clone(),
                self.problem(ProblemKind::WrongType, path, span, wrong_type()),
            )),
        }
    }

    fn problem(
        &self,
        kind: ProblemKind,
        path: &KeyPath,
        span: Option<Range<usize>>,
        message: String,
    ) -> Problem {
        let line = span.map_or(1, |s| line_col(&self.text, s.start).0);
        Problem {
            kind,
            key: path.to_string(),
            origin: Origin::File { path: self.path.clone(), line },
            message,
        }
    }
}

/// "did you mean `x`?" when a valid key is close to `key`, else the list of valid keys.
pub(crate) fn unknown_key_hint(key: &str, valid: &[&str]) -> String {
    match closest(key, valid.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!("valid keys here: {}", valid.join(", ")),
    }
}

impl Provider for FileSource {
    fn metadata(&self) -> Metadata {
        Metadata::from("TOML file", self.path.as_path())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut data = Toml::string(&self.text).data()?;
        for dict in data.values_mut() {
            for path in &self.rejected {
                prune(dict, &path.0);
            }
        }
        Ok(data)
    }
}

/// Removes the value at `path` from `dict`; an array element becomes an empty table so the
/// indices of the others stay as in the file.
fn prune(dict: &mut Dict, path: &[Seg]) {
    match path {
        [Seg::Key(k)] => {
            dict.remove(k);
        }
        [Seg::Key(k), rest @ ..] => {
            if let Some(value) = dict.get_mut(k) {
                prune_value(value, rest);
            }
        }
        _ => {}
    }
}

fn prune_value(value: &mut FigmentValue, path: &[Seg]) {
    match (value, path) {
        (FigmentValue::Dict(_, dict), _) => prune(dict, path),
        (FigmentValue::Array(_, elements), [Seg::Index(i), rest @ ..]) => {
            if let Some(element) = elements.get_mut(*i) {
                if rest.is_empty() {
                    *element = FigmentValue::from(Dict::new());
                } else {
                    prune_value(element, rest);
                }
            }
        }
        _ => {}
    }
}
