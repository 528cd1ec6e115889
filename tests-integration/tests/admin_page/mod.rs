//! The admin web page end to end: a real `compactor run` daemon over tables the load generator
//! wrote (SQLite catalog, local warehouse), its pages loaded in headless Chromium, as an
//! operator's browser would: the DOM it renders, a screenshot, and the buttons clicked through
//! the DevTools protocol, checked against the admin API's JSON.

mod dom;
mod runs;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::TableKind;
use common::tables::TableId;
use serde_json::Value;
use tests_integration::chromium::Chromium;
use tests_integration::html::{self, Tag};
use tests_integration::{Backend, TestEnv, require_chromium};

use crate::compactor::Load;
use crate::service::{COMPACTOR, Daemon, command};

/// 3 quiet hours of 4 small files in `logs` and `traces`: compaction (with
/// `min_input_files = 3`) would make one file of each hour.
const LOAD: Load = Load {
    signals: &[TableKind::Logs, TableKind::Traces],
    hours: 3,
    files_per_hour: 4,
    rows_per_file: 50,
};

/// The admin token of the daemons that have one.
const TOKEN: &str = "page-test-token-0123456789";

/// How the daemon's admin API is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admin {
    /// No token: reads open, every run refused (`403 admin_disabled`).
    NoToken,
    /// [`TOKEN`]: reads open, runs with the bearer token.
    Token,
    /// [`TOKEN`] and `protect_reads`: the pages too need it.
    ProtectedReads,
}

/// A daemon serving the page over [`LOAD`]'s tables, with no scheduler running (only what the
/// page starts changes the tables), and the Chromium to look at it with.
struct Site {
    daemon: Daemon,
    tables: Vec<TableId>,
    chromium: Chromium,
    _env: TestEnv,
}

impl Site {
    /// The site, or `None` (the test skipped) without Chromium.
    async fn start(admin: Admin) -> Option<Site> {
        let chromium = Chromium::new(require_chromium()?);
        let env = TestEnv::new(Backend::SqliteLocal).await?;
        env.append_config("[compactor]\nmin_input_files = 3");
        let tables = LOAD.run(&env);
        let daemon = Daemon::start(|| {
            let cmd =
                command(COMPACTOR, &env).args(["run"]).env("SIGNALDB_COMPACTOR_ENABLED", "false");
            match admin {
                Admin::NoToken => cmd,
                Admin::Token => cmd.env("SIGNALDB_COMPACTOR_ADMIN_TOKEN", TOKEN),
                Admin::ProtectedReads => cmd
                    .env("SIGNALDB_COMPACTOR_ADMIN_TOKEN", TOKEN)
                    .env("SIGNALDB_COMPACTOR_ADMIN_PROTECT_READS", "true"),
            }
        });
        let site = Site { daemon, tables, chromium, _env: env };
        site.wait_ready();
        Some(site)
    }

    /// Waits until `/readyz` says the catalog and the object store answered.
    #[track_caller]
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.daemon.get("/readyz").status != 200 {
            assert!(Instant::now() < deadline, "the daemon was not ready within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The page at `path` as a browser asks for it.
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.daemon.port)
    }

    /// `GET path` of the API, which must answer `200` with JSON.
    #[track_caller]
    fn api(&self, path: &str) -> Value {
        let response = self.daemon.get(path);
        assert_eq!(response.status, 200, "GET {path}: {}", response.body);
        response.json()
    }

    /// The first table, `acme.prod.logs`.
    fn logs(&self) -> &TableId {
        self.tables.iter().find(|t| t.table == TableKind::Logs).expect("logs is loaded")
    }
}

/// The path of `id` under `prefix` (`/tables` for the page, `/api/v1/tables` for the API).
fn table_path(prefix: &str, id: &TableId) -> String {
    format!("{prefix}/{}/{}/{}", id.tenant, id.dataset, id.table)
}

/// The element `name` with attribute `attr` = `value`, which must be in `dom`.
#[track_caller]
fn element(dom: &str, name: &str, attr: &str, value: &str) -> Tag {
    html::find(dom, name, attr, value)
        .unwrap_or_else(|| panic!("no <{name} {attr}=\"{value}\"> in the page:\n{dom}"))
}

/// The text of the element with id `id` (a `name` element), which must be in `dom`.
#[track_caller]
fn text_of(dom: &str, name: &str, id: &str) -> String {
    html::inner_text(dom, &element(dom, name, "id", id), name)
}

/// Where `browser.py` finds Python: the tests' venv (it needs only the standard library).
fn python() -> Option<PathBuf> {
    tests_integration::require_python()
}
