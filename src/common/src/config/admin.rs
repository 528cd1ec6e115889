//! The `[compactor.admin]` section: the admin API under `/api/v1` and its web page at `/`, both
//! served on the metrics port, and the bearer token that guards them.
//!
//! The token comes from `token` or from the file `token_file` names (a mounted Kubernetes
//! secret); the file is read once, when the configuration is loaded, so a loaded [`AdminConfig`]
//! holds the token whichever way it was given and [`AdminConfig::token`] is all a caller needs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::secret::Secret;

/// Fewest characters an admin token may have.
pub(super) const MIN_TOKEN_CHARS: usize = 16;

/// Largest `max_body_bytes` accepted: 16 MiB.
pub(super) const MAX_BODY_BYTES_LIMIT: u64 = 16 * 1024 * 1024;

/// `[compactor.admin]`: the admin API and web page, and what they accept.
///
/// Without a token, reads are open (like `/metrics`) and every changing endpoint is refused.
/// Build one outside this crate with `AdminConfig::default()` and field assignments: the token
/// read from `token_file` is private to loading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Whether the admin API is served under `/api/v1` and its web page at `/`.
    /// Env `SIGNALDB_COMPACTOR_ADMIN_ENABLED`, default `true`.
    pub enabled: bool,
    /// Bearer token the API's changing endpoints require (and its reads and page, with
    /// `protect_reads`); at least 16 visible ASCII characters, never printed. Use
    /// [`AdminConfig::token`], which also gives the token read from `token_file`.
    /// Env `SIGNALDB_COMPACTOR_ADMIN_TOKEN`, default unset: changing endpoints are refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// File holding the token instead (a mounted Kubernetes secret), read when the
    /// configuration is loaded; surrounding whitespace and the trailing newline are not part of
    /// the token. Not together with `token`; a relative path is relative to the working
    /// directory. Env `SIGNALDB_COMPACTOR_ADMIN_TOKEN_FILE`, default unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Whether the read endpoints and the web page require the token too; needs a token.
    /// Env `SIGNALDB_COMPACTOR_ADMIN_PROTECT_READS`, default `false`.
    pub protect_reads: bool,
    /// Largest request body accepted; at least 1 and at most 16777216 (16 MiB).
    /// Env `SIGNALDB_COMPACTOR_ADMIN_MAX_BODY_BYTES`, default `65536`.
    pub max_body_bytes: u64,
    /// Requests the admin API and page serve at once; at least 1.
    /// Env `SIGNALDB_COMPACTOR_ADMIN_MAX_CONCURRENT_REQUESTS`, default `32`.
    pub max_concurrent_requests: usize,
    /// Runs started through the API that may be in flight at once, over all tables; at least 1.
    /// Env `SIGNALDB_COMPACTOR_ADMIN_MAX_CONCURRENT_RUNS`, default `4`.
    pub max_concurrent_runs: usize,
    /// The token read from `token_file` at load; never serialized.
    #[serde(skip)]
    pub(super) file_token: Option<Secret>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            token: None,
            token_file: None,
            protect_reads: false,
            max_body_bytes: 64 * 1024,
            max_concurrent_requests: 32,
            max_concurrent_runs: 4,
            file_token: None,
        }
    }
}

impl AdminConfig {
    /// The bearer token: `token`, else the content of `token_file` as read at load; `None`
    /// when neither is set (reads open, changing endpoints refused).
    pub fn token(&self) -> Option<&Secret> {
        self.token.as_ref().or(self.file_token.as_ref())
    }

    /// Reads `token_file` (relative to `cwd`) when it is the token's only source, keeping its
    /// trimmed content; an error says why the file gives no token, never what it holds.
    pub(super) fn read_token_file(&mut self, cwd: &Path) -> Result<(), String> {
        let (None, Some(file)) = (&self.token, &self.token_file) else { return Ok(()) };
        let path = cwd.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the token file {}: {e}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("the token file {} is empty", path.display()));
        }
        self.file_token = Some(Secret::new(token));
        Ok(())
    }
}

/// What is wrong with `token` as a bearer token, without ever quoting it.
pub(super) fn token_problems(token: &Secret) -> Vec<String> {
    let token = token.expose();
    let mut out = Vec::new();
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        out.push(
            "must be a visible ASCII string (characters `!` to `~`): no spaces, line breaks or \
             other characters"
                .to_string(),
        );
    }
    if token.chars().count() < MIN_TOKEN_CHARS {
        out.push(format!(
            "must be at least {MIN_TOKEN_CHARS} characters long; generate one with \
             `openssl rand -hex 32`"
        ));
    }
    out
}
