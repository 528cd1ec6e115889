//! `compactor`: command-line entry point of the SignalDB compactor.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use common::config::{ConfigError, load, render_effective};

/// Exit status for a configuration that was refused.
const EXIT_INVALID_CONFIG: u8 = 2;

/// SignalDB compactor: compaction, retention and orphan-file cleanup for Iceberg tables.
#[derive(Debug, Parser)]
#[command(name = "compactor", version, about)]
struct Cli {
    /// Configuration file; without it `$SIGNALDB_CONFIG`, else `./signaldb.toml` if present.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Format of log lines written to stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Load and validate the configuration, print it as TOML with the origin of every value,
    /// and exit 0; exit 2 with every problem on stderr if it is invalid.
    CheckConfig,
}

fn main() -> anyhow::Result<ExitCode> {
    let Cli { config, log_format, command } = Cli::parse();
    match command {
        // check-config reports on stdout and stderr itself and starts no logging, whatever
        // the log format.
        Command::CheckConfig => {
            let _ = log_format;
            check_config(config.as_deref(), &mut std::io::stdout(), &mut std::io::stderr())
        }
    }
}

/// Runs `check-config`: the effective configuration to `out`, or the problems to `err`.
fn check_config(
    config: Option<&Path>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    match load(config) {
        Ok(loaded) => {
            out.write_all(render_effective(&loaded).as_bytes())
                .context("writing the configuration")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            report(&e, err).context("writing the configuration error")?;
            Ok(ExitCode::from(EXIT_INVALID_CONFIG))
        }
    }
}

/// Writes a refused configuration as `error: …` lines.
fn report(error: &ConfigError, err: &mut impl Write) -> std::io::Result<()> {
    match error.problems() {
        [] | [_] => writeln!(err, "error: {error}"),
        problems => {
            writeln!(err, "error: {} configuration problems:", problems.len())?;
            problems.iter().try_for_each(|p| writeln!(err, "  - {p}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_global_flags_before_or_after_the_subcommand() {
        let cli = Cli::try_parse_from(["compactor", "--config", "a.toml", "check-config"]).unwrap();
        assert_eq!(cli.config.as_deref(), Some(Path::new("a.toml")));
        let cli = Cli::try_parse_from([
            "compactor",
            "check-config",
            "--config",
            "b.toml",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.config.as_deref(), Some(Path::new("b.toml")));
        assert_eq!(cli.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["compactor", "--log-format", "xml", "check-config"]).is_err());
    }

    #[test]
    fn check_config_prints_toml_or_exits_2_with_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(&good, "[compactor.retention]\ntraces_retention_days = 14\n").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = check_config(Some(&good), &mut out, &mut err).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("traces_retention_days = 14"), "{text}");
        assert!(text.contains(&format!("# file {}:2", good.display())), "{text}");

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[compactor.orphan_cleanup]\nbatch_size = 0\n").unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = check_config(Some(&bad), &mut out, &mut err).unwrap();
        assert_eq!(code, ExitCode::from(EXIT_INVALID_CONFIG));
        assert!(out.is_empty());
        let text = String::from_utf8(err).unwrap();
        assert!(text.contains("compactor.orphan_cleanup.batch_size"), "{text}");
        assert!(text.contains(&format!("{} line 2", bad.display())), "{text}");
    }
}
