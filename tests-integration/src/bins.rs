//! Running the workspace's real binaries (`signaldb-loadgen`, `compactor`, `signaldb`) against
//! a [`TestEnv`].
//!
//! Binaries are found next to the test executable's profile directory (`target/<profile>/`).
//! `scripts/test.sh` builds them before the tests and sets `SIGNALDB_TEST_BINS_FRESH=1`;
//! otherwise the first use runs `cargo build --workspace --bins` once, so a plain
//! `cargo test -p tests-integration` never runs stale binaries.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::env::TestEnv;
use crate::workspace::workspace_root;

/// How long a binary may run before the test gives up on it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// `target/<profile>/`: the directory the test executable's `deps/` sits in.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("locating the test executable");
    let deps = exe.parent().expect("test executable has a directory");
    let dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps/ has a parent")
    } else {
        deps
    };
    dir.to_path_buf()
}

/// Path of binary `name`, building the workspace's binaries first unless `scripts/test.sh`
/// already did (see the module docs).
pub fn bin_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let path = profile_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let fresh = std::env::var("SIGNALDB_TEST_BINS_FRESH").is_ok_and(|v| v == "1");
    if !fresh || !path.exists() {
        BUILT.get_or_init(build_bins);
    }
    assert!(path.exists(), "binary {} does not exist after building", path.display());
    path
}

fn build_bins() {
    let profile = profile_dir();
    let profile_name = profile.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace_root()).args(["build", "--workspace", "--bins"]);
    match profile_name {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    // Build into the same target dir the tests run from.
    if let Some(target) = profile.parent() {
        cmd.env("CARGO_TARGET_DIR", target);
    }
    let _ = writeln!(std::io::stderr(), "tests-integration: {cmd:?}");
    let status = cmd.status().expect("running cargo build");
    assert!(status.success(), "cargo build --workspace --bins failed: {status}");
}

/// A binary invocation against a [`TestEnv`]: `SIGNALDB_CONFIG` points at the env's
/// `signaldb.toml`, and `SIGNALDB_*` variables from the caller's shell are removed so they
/// cannot change what the test sees.
#[derive(Debug)]
pub struct BinCommand {
    name: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    config: Option<PathBuf>,
    cwd: Option<PathBuf>,
    timeout: Duration,
}

impl BinCommand {
    /// Invocation of binary `name` with no arguments.
    pub fn new(name: &str) -> Self {
        BinCommand {
            name: name.to_string(),
            args: Vec::new(),
            envs: Vec::new(),
            config: None,
            cwd: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_string()));
        self
    }

    /// Adds `--config <env's signaldb.toml>` (for binaries where the flag is wanted on top of
    /// `SIGNALDB_CONFIG`).
    pub fn config_flag(self, env: &TestEnv) -> Self {
        let path = env.config_path().display().to_string();
        self.args(["--config", path.as_str()])
    }

    /// Sets an environment variable for the child (after the `SIGNALDB_*` cleanup).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_string(), value.to_string()));
        self
    }

    /// Points `SIGNALDB_CONFIG` at `env`'s config and runs in its temp dir.
    pub fn test_env(mut self, env: &TestEnv) -> Self {
        self.config = Some(env.config_path().to_path_buf());
        self.cwd = Some(env.dir().to_path_buf());
        self
    }

    /// How long [`BinCommand::run`] waits before killing the child and failing.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(bin_path(&self.name));
        cmd.args(&self.args);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("SIGNALDB_") && !key.starts_with("SIGNALDB_TEST_") {
                cmd.env_remove(key.as_ref());
            }
        }
        if let Some(config) = &self.config {
            cmd.env("SIGNALDB_CONFIG", config);
        }
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        cmd.envs(self.envs.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    fn describe(&self) -> String {
        std::iter::once(self.name.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts the binary and returns the running child (killed when dropped).
    pub fn spawn(self) -> BinChild {
        let mut child =
            self.command().spawn().unwrap_or_else(|e| panic!("spawning {}: {e}", self.describe()));
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        BinChild {
            child,
            stdout: Some(stdout),
            stderr: Some(stderr),
            command: self.describe(),
            timeout: self.timeout,
        }
    }

    /// Runs the binary to completion (or until the timeout, which fails the test).
    pub fn run(self) -> BinOutput {
        let timeout = self.timeout;
        self.spawn().wait_timeout(timeout)
    }
}

/// Runs `name` with `args` against `env` and returns its output, whatever the exit status.
pub fn run_bin(name: &str, args: &[&str], env: &TestEnv) -> BinOutput {
    BinCommand::new(name).args(args).test_env(env).run()
}

/// Starts `name` with `args` against `env` (for `--continuous` and services).
pub fn spawn_bin(name: &str, args: &[&str], env: &TestEnv) -> BinChild {
    BinCommand::new(name).args(args).test_env(env).spawn()
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// What a finished binary printed and how it exited.
#[derive(Debug, Clone)]
pub struct BinOutput {
    /// The command line, for messages.
    pub command: String,
    /// Exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl BinOutput {
    /// Whether the binary exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Fails the test, showing both streams, unless the binary exited with status 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "{} failed with {}\n{}", self.command, self.status, self.streams());
        self
    }

    /// Fails the test, showing both streams, if the binary exited with status 0.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(!self.success(), "{} unexpectedly succeeded\n{}", self.command, self.streams());
        self
    }

    /// stdout parsed as one JSON value.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!("stdout of {} is not JSON ({e})\n{}", self.command, self.streams())
        })
    }

    /// Both streams, labelled, for failure messages.
    pub fn streams(&self) -> String {
        format!("--- stdout ---\n{}\n--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

/// A running binary. Dropping it kills the process if it is still running.
#[derive(Debug)]
pub struct BinChild {
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    command: String,
    timeout: Duration,
}

impl BinChild {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has not exited yet.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`, ...) with `kill(1)`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Sends SIGTERM (graceful stop).
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Waits for exit with the timeout given at spawn time.
    pub fn wait(self) -> BinOutput {
        let timeout = self.timeout;
        self.wait_timeout(timeout)
    }

    /// Waits up to `timeout` for exit and collects the output; kills the process and fails
    /// the test when it takes longer.
    pub fn wait_timeout(mut self, timeout: Duration) -> BinOutput {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait().expect("waiting for the child") {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let status = self.child.wait().expect("waiting for the killed child");
                    let out = self.collect(status);
                    panic!(
                        "{} did not exit within {timeout:?}; killed\n{}",
                        out.command,
                        out.streams()
                    );
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        self.collect(status)
    }

    fn collect(&mut self, status: ExitStatus) -> BinOutput {
        let text = |handle: Option<JoinHandle<Vec<u8>>>| {
            handle
                .map(|h| String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned())
                .unwrap_or_default()
        };
        BinOutput {
            command: self.command.clone(),
            status,
            stdout: text(self.stdout.take()),
            stderr: text(self.stderr.take()),
        }
    }
}

impl Drop for BinChild {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
