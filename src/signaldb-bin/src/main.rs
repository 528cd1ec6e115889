//! `signaldb`: the monolithic SignalDB binary. It reads the same `signaldb.toml` as every
//! component and runs the components in one process, each embedded as a library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use common::config::load;
use common::telemetry::{self, LogFormat};
use compactor::{Service, shutdown_signal};
use tokio_util::sync::CancellationToken;

/// SignalDB, all components in one process.
///
/// Components run: compactor (compaction, retention and orphan cleanup schedulers, with
/// /metrics, /healthz and /readyz on [compactor] metrics_port). Stops cleanly on SIGINT or
/// SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "signaldb", version, about, long_about)]
struct Cli {
    /// Configuration file; without it `$SIGNALDB_CONFIG`, else `./signaldb.toml` if present.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Format of log lines written to stderr: text or json.
    #[arg(long, default_value = "text", value_parser = clap::value_parser!(LogFormat))]
    log_format: LogFormat,
}

/// Exit status for a configuration that was refused or a service that could not start.
const EXIT_INVALID_CONFIG: u8 = 2;

fn main() -> anyhow::Result<ExitCode> {
    let Cli { config, log_format } = Cli::parse();
    let loaded = match load(config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            for problem in e.problems() {
                eprintln!("error: {problem}");
            }
            if e.problems().is_empty() {
                eprintln!("error: {e}");
            }
            return Ok(ExitCode::from(EXIT_INVALID_CONFIG));
        }
    };
    telemetry::init(log_format);
    tracing::info!(target: "signaldb", components = "compactor", "Starting SignalDB");
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let shutdown = CancellationToken::new();
        let on_signal = shutdown.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            on_signal.cancel();
        });
        let started = match Service::new(loaded.config) {
            Ok(compactor) => compactor.run_daemon(shutdown).await,
            Err(e) => Err(e),
        };
        if let Err(e) = started {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_INVALID_CONFIG));
        }
        tracing::info!(target: "signaldb", "SignalDB stopped");
        Ok(ExitCode::SUCCESS)
    })
}
