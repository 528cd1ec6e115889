//! Why a configuration was refused, and where each value came from.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where one configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A line of the TOML file.
    File {
        /// The file, as it was named.
        path: PathBuf,
        /// 1-based line of the key.
        line: usize,
    },
    /// A `SIGNALDB_*` environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
}

impl fmt::Display for Origin {
    /// `default`, `file PATH:LINE` or `env VAR`, as `check-config` comments print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line } => write!(f, "file {}:{line}", path.display()),
            Origin::Env { var } => write!(f, "env {var}"),
        }
    }
}

impl Origin {
    /// The phrase an error message uses to point at this origin.
    fn phrase(&self) -> String {
        match self {
            Origin::Default => "(built-in default)".to_string(),
            Origin::File { path, line } => format!("in {} line {line}", path.display()),
            Origin::Env { var } => format!("from environment variable {var}"),
        }
    }
}

/// The class of a configuration problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// A key or variable the schema does not have.
    UnknownKey,
    /// A value of the wrong TOML type (a string where a number belongs, ...).
    WrongType,
    /// A value of the right type that breaks a rule (zero days, unknown timezone, ...).
    InvalidValue,
    /// An id listed twice where each must be unique.
    Duplicate,
}

/// One refused setting: the key, where it came from, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The class of problem.
    pub kind: ProblemKind,
    /// Dotted key path, with `[i]` for array elements:
    /// `compactor.retention.tenant_overrides[1].tenant_id`.
    pub key: String,
    /// Where the offending value was set.
    pub origin: Origin,
    /// What is wrong, without the key or origin.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Problem { kind, key, origin, message } = self;
        if let (ProblemKind::UnknownKey, Origin::Env { var }) = (kind, origin)
            && var == key
        {
            return write!(f, "unknown environment variable {var}: {message}");
        }
        let what = match kind {
            ProblemKind::UnknownKey => "unknown key",
            ProblemKind::WrongType => "wrong type for",
            ProblemKind::InvalidValue => "invalid value for",
            ProblemKind::Duplicate => "duplicate entry at",
        };
        write!(f, "{what} {key} {}: {message}", origin.phrase())
    }
}

/// Why configuration could not be loaded. Nothing should run after any of these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` or `SIGNALDB_CONFIG` does not exist.
    #[error("configuration file {} does not exist (named by {named_by})", path.display())]
    FileNotFound {
        /// The missing file.
        path: PathBuf,
        /// `--config` or `SIGNALDB_CONFIG`.
        named_by: &'static str,
    },
    /// The file exists but could not be read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        /// The unreadable file.
        path: PathBuf,
        /// The I/O failure.
        source: io::Error,
    },
    /// The file is not valid TOML.
    #[error("TOML syntax error in {} line {line} column {column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// One or more settings were refused; every problem found is listed.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The refused settings, empty for file-level errors.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

/// One problem as is, several as a counted list, one per line.
fn render_problems(problems: &[Problem]) -> String {
    match problems {
        [one] => one.to_string(),
        many => {
            let mut out = format!("{} configuration problems:", many.len());
            for p in many {
                out.push_str("\n  - ");
                out.push_str(&p.to_string());
            }
            out
        }
    }
}

/// 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
