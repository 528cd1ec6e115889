//! Headless Chromium (Debian's `chromium` package) for the web page's end-to-end tests: the
//! DOM a page renders (`--dump-dom`), a screenshot (`--screenshot`), and a page driven through
//! the DevTools protocol (`browser.py`, over `--remote-debugging-pipe`): real clicks, typing,
//! waiting for the DOM.
//!
//! Every run has its own profile directory and [`FLAGS`], which keep Chromium off the
//! network: the tests only ever load pages from 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::workspace::workspace_root;

/// How long one Chromium run may take.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// The flags of every run: headless without a sandbox (the tests run as root), no GPU, and
/// none of the background requests a browser makes on its own (updates, safe browsing,
/// metrics, translation), so that nothing but loopback is ever contacted.
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--metrics-recording-only",
    "--no-pings",
    "--no-proxy-server",
    "--password-store=basic",
    "--use-mock-keychain",
    "--hide-scrollbars",
];

/// A Chromium binary to run pages with.
#[derive(Debug, Clone)]
pub struct Chromium {
    path: PathBuf,
}

impl Chromium {
    /// The Chromium at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The command line of a run with `args`, in a fresh profile under `profile`.
    fn command(&self, profile: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.args(FLAGS).arg(format!("--user-data-dir={}", profile.display())).args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    /// The DOM of `url` once it has loaded and its scripts have run, serialised.
    #[track_caller]
    pub fn dump_dom(&self, url: &str) -> String {
        let profile = tempfile::tempdir().expect("a Chromium profile directory");
        let out = run(self.command(profile.path(), &["--dump-dom", url]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A PNG screenshot of `url` in a `width` × `height` window, written to `png`.
    #[track_caller]
    pub fn screenshot(&self, url: &str, png: &Path, width: u32, height: u32) {
        let profile = tempfile::tempdir().expect("a Chromium profile directory");
        let shot = format!("--screenshot={}", png.display());
        let size = format!("--window-size={width},{height}");
        run(self.command(profile.path(), &[&shot, &size, url]));
    }

    /// Opens `url` and runs `steps` on it with `browser.py` under `python` (see its docs for
    /// the steps); returns its JSON: the eval steps' `results`, the page's `exceptions` and
    /// `console_errors`.
    #[track_caller]
    pub fn drive(&self, python: &Path, url: &str, steps: &serde_json::Value) -> serde_json::Value {
        let script = workspace_root().join("tests-integration/src/browser.py");
        let mut cmd = Command::new(python);
        cmd.arg(script).arg(url).arg(steps.to_string()).arg(&self.path).args(FLAGS);
        cmd.arg("--window-size=1280,1024");
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = run(cmd);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("browser.py printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
        })
    }
}

/// Runs `cmd` to its end, within [`TIMEOUT`]; fails the test, showing its stderr, when it
/// fails or takes longer.
#[track_caller]
fn run(mut cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {shown}: {e}"));
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(stdout.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let stderr = drain(stderr.map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for Chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
            panic!("{shown} did not finish within {TIMEOUT:?}\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    assert!(
        out.status.success(),
        "{shown} failed with {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
