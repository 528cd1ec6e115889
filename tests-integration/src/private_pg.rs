//! A PostgreSQL server of a test's own, so the test can crash and restart its catalog without
//! touching the shared server on port 5432.
//!
//! [`PrivatePg::start`] runs `initdb` and `pg_ctl` from `/usr/lib/postgresql/<version>/bin` as
//! the `postgres` user (the tests run as root, and PostgreSQL refuses to run as root), in a
//! temp dir of its own owned by `postgres`: the data directory, the server log and the unix
//! socket all live there. The server listens on 127.0.0.1 only, on a free port, with `trust`
//! authentication. [`PrivatePg::stop`] is `pg_ctl stop -m immediate`, which kills the server
//! the way a crash or a failover does (no checkpoint, open connections cut);
//! [`PrivatePg::start_again`] brings it back on the same port and data directory, through
//! crash recovery. Dropping it stops the server and removes the dir.
//!
//! Without PostgreSQL's server binaries the test is skipped with a loud `SKIPPED:` line, and
//! fails under `CI=true` (see [`crate::require`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::http::free_port;
use crate::require::skip;

/// The database every server has; tests may use it directly or create their own on it.
pub const DATABASE: &str = "postgres";

/// How many ports [`PrivatePg::start`] tries when the one it picked is taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// A PostgreSQL server run by one test, on `127.0.0.1:port`.
#[derive(Debug)]
pub struct PrivatePg {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    bin: PathBuf,
    port: u16,
    running: bool,
}

impl PrivatePg {
    /// Initialises a data directory and starts a server on a free loopback port, or returns
    /// `None` (test skipped; a failure under `CI=true`) when PostgreSQL's server binaries are
    /// not installed.
    ///
    /// Panics when they are there but the server cannot be set up.
    pub fn start() -> Option<PrivatePg> {
        let bin = server_bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("signaldb-pg-")
            .tempdir()
            .expect("creating the private PostgreSQL's temp dir");
        let path = dir.path().to_path_buf();
        run_checked(Command::new("chown").args(["postgres:postgres"]).arg(&path), "chown");
        let initdb = as_postgres(&path, &bin.join("initdb"))
            .arg("-D")
            .arg(path.join("data"))
            .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
            .args(["--locale=C", "--no-instructions"])
            .output();
        check(initdb, "initdb");
        let mut pg = PrivatePg { dir: Some(dir), path, bin, port: 0, running: false };
        for attempt in 1..=PORT_ATTEMPTS {
            pg.port = free_port();
            match pg.pg_ctl_start() {
                Ok(()) => return Some(pg),
                Err(log) if attempt < PORT_ATTEMPTS && log.contains("could not bind") => {}
                Err(log) => panic!("the private PostgreSQL did not start:\n{log}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The port it listens on (the same across [`Self::stop`] and [`Self::start_again`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: an admin URL, e.g. for
    /// [`crate::TestEnv::with_postgres_at`].
    pub fn url(&self) -> String {
        self.url_of(DATABASE)
    }

    /// The URL of database `name` on this server.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The directory holding the data directory, the socket and `server.log`.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path.join("server.log")).unwrap_or_default()
    }

    /// Whether the server is running (as far as this fixture started and stopped it).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Kills the server with `pg_ctl stop -m immediate`: a crash, as in a failover. Open
    /// connections are cut, new ones are refused, and nothing is checkpointed.
    #[track_caller]
    pub fn stop(&mut self) {
        let out = as_postgres(&self.path, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.path.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        check(out, "pg_ctl stop -m immediate");
        self.running = false;
    }

    /// Starts the server again on the same port and data directory (crash recovery included).
    #[track_caller]
    pub fn start_again(&mut self) {
        if let Err(log) = self.pg_ctl_start() {
            panic!("the private PostgreSQL did not start again on port {}:\n{log}", self.port);
        }
    }

    /// `pg_ctl start -w` on `self.port`; the server log on failure.
    fn pg_ctl_start(&mut self) -> Result<(), String> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={} -c fsync=off \
             -c max_connections=100",
            self.port,
            self.path.display()
        );
        let out = as_postgres(&self.path, &self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.path.join("data"))
            .arg("-l")
            .arg(self.path.join("server.log"))
            .args(["-w", "-t", "30", "-o", &options, "start"])
            .output()
            .expect("running pg_ctl");
        if out.status.success() {
            self.running = true;
            return Ok(());
        }
        Err(format!("{}\n{}", describe(&out), self.log()))
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        if self.running {
            let _ = as_postgres(&self.path, &self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.path.join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        if std::env::var("SIGNALDB_TEST_KEEP").is_ok_and(|v| v == "1") {
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
            let _ = writeln!(
                std::io::stderr(),
                "SIGNALDB_TEST_KEEP: kept the private PostgreSQL's dir {}",
                self.path.display()
            );
        }
    }
}

/// `/usr/lib/postgresql/<highest version>/bin` when it has `initdb` and `pg_ctl` and this
/// process may run them as `postgres` (it is root); else skip.
fn server_bin_dir() -> Option<PathBuf> {
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout).unwrap_or_default();
    if String::from_utf8_lossy(&uid).trim() != "0" {
        return skip("a private PostgreSQL server", "it runs as user postgres, which needs root");
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| {
            bin.join("initdb").exists() && bin.join("pg_ctl").exists()
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => Some(bin),
        None => skip(
            "a private PostgreSQL server",
            "no /usr/lib/postgresql/*/bin/initdb and pg_ctl (Debian package postgresql)",
        ),
    }
}

/// `program` run as the `postgres` user from `dir` (which `postgres` can enter).
fn as_postgres(dir: &Path, program: &Path) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(program).current_dir(dir);
    cmd
}

#[track_caller]
fn run_checked(cmd: &mut Command, what: &str) {
    check(cmd.output(), what);
}

#[track_caller]
fn check(out: std::io::Result<Output>, what: &str) {
    let out = out.unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", describe(&out));
}

fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
