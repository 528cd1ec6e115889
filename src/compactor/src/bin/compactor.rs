//! `compactor`: command-line entry point of the SignalDB compactor.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use common::Signal;
use common::config::{Config, ConfigError, load, render_effective};
use common::ids::validate_id;
use common::telemetry::{self, LogFormat};
use compactor::JobReport;
use compactor::{JobKind, Scope};
use compactor::{Service, ServiceError, shutdown_signal};
use compactor::{explain_retention_policy, render_plans, render_retention};
use tokio_util::sync::CancellationToken;

/// Exit status for a configuration that was refused or a service that could not start.
const EXIT_INVALID_CONFIG: u8 = 2;

/// SignalDB compactor: compaction, retention and orphan-file cleanup for Iceberg tables.
///
/// Without a subcommand it runs the daemon (`compactor run`).
#[derive(Debug, Parser)]
#[command(name = "compactor", version, about)]
struct Cli {
    /// Configuration file; without it `$SIGNALDB_CONFIG`, else `./signaldb.toml` if present.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Format of log lines written to stderr: text or json.
    #[arg(long, global = true, default_value = "text", value_parser = clap::value_parser!(LogFormat))]
    log_format: LogFormat,
    /// What to do (default: run).
    #[command(subcommand)]
    command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: one scheduler per enabled job, /metrics, /healthz and /readyz, until
    /// SIGINT or SIGTERM. With --once, run one pass of every enabled job in lifecycle order
    /// (compaction, retention, orphan cleanup) and exit.
    Run(RunArgs),
    /// Plan compaction and print the report (candidate partitions, files before -> after,
    /// bytes, why others are skipped); changes nothing.
    Plan(PlanArgs),
    /// Run one compaction pass now and exit (even if [compactor] enabled = false).
    Compact(OneShotArgs),
    /// Run one retention pass now and exit (even if [compactor.retention] enabled = false):
    /// drop expired partitions, then expire old snapshots, and print per table the policy and
    /// its tier, the cutoff, partitions evaluated and dropped, rows and bytes removed and
    /// snapshots expired. With --explain, only print the resolved policy.
    Retention(RetentionArgs),
    /// Run one orphan-file cleanup pass now and exit (even if [compactor.orphan_cleanup]
    /// enabled = false).
    Orphans(OneShotArgs),
    /// Load and validate the configuration, print it as TOML with the origin of every value,
    /// warn on stderr of settings that cannot work together, and exit 0; exit 2 with every
    /// problem on stderr if it is invalid.
    CheckConfig,
    /// Print every table's health: files, small files, average size against the target,
    /// manifests, snapshots, oldest partition against its retention cutoff, each job's last
    /// pass, warning signs and a health score with its reasons. Changes nothing; exits 1 when
    /// a table is unhealthy or cannot be read.
    Status(StatusArgs),
}

/// Options of `run`.
#[derive(Debug, Default, Args)]
struct RunArgs {
    /// Run one pass of every enabled job, print a summary and exit.
    #[arg(long)]
    once: bool,
    /// With --once: print the reports as one JSON document on stdout (logs stay on stderr).
    #[arg(long, requires = "once")]
    json: bool,
}

/// Which tables a command covers.
#[derive(Debug, Args)]
struct TableFilter {
    /// Only this tenant's tables.
    #[arg(long, value_parser = parse_id)]
    tenant: Option<String>,
    /// Only this dataset's tables.
    #[arg(long, value_parser = parse_id)]
    dataset: Option<String>,
    /// Only this signal's tables: traces, logs, metrics (every metrics table) or profiles.
    #[arg(long)]
    signal: Option<Signal>,
}

impl TableFilter {
    fn scope(self, dry_run: bool) -> Scope {
        let TableFilter { tenant, dataset, signal } = self;
        Scope { tenant, dataset, signal, dry_run, tables: None }
    }
}

/// Options of `plan`.
#[derive(Debug, Args)]
struct PlanArgs {
    #[command(flatten)]
    filter: TableFilter,
    /// Print the plan as one JSON document on stdout (logs stay on stderr).
    #[arg(long)]
    json: bool,
}

/// Options of `status`.
#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    filter: TableFilter,
    /// Print the status as one JSON document on stdout (logs stay on stderr).
    #[arg(long)]
    json: bool,
}

/// Options shared by the one-shot commands.
#[derive(Debug, Args)]
struct OneShotArgs {
    #[command(flatten)]
    filter: TableFilter,
    /// Report what would be done and change nothing (also when the config says dry_run).
    #[arg(long)]
    dry_run: bool,
    /// Print the report as one JSON document on stdout (logs stay on stderr).
    #[arg(long)]
    json: bool,
}

/// Options of `retention`.
#[derive(Debug, Args)]
struct RetentionArgs {
    #[command(flatten)]
    pass: OneShotArgs,
    /// Print the retention policy of --tenant/--dataset per signal and the tier each value
    /// comes from, then exit; opens neither the catalog nor the warehouse.
    #[arg(long, requires_all = ["tenant", "dataset"], conflicts_with = "dry_run")]
    explain: bool,
}

fn parse_id(s: &str) -> Result<String, String> {
    validate_id(s).map(|()| s.to_string()).map_err(|e| e.to_string())
}

/// Exit status when a pass had failures.
const EXIT_FAILURES: u8 = 1;

fn main() -> anyhow::Result<ExitCode> {
    let Cli { config, log_format, command } = Cli::parse();
    let command = command.unwrap_or(Command::Run(RunArgs::default()));
    if let Command::CheckConfig = command {
        // check-config reports on stdout and stderr itself and starts no logging.
        return check_config(config.as_deref(), &mut std::io::stdout(), &mut std::io::stderr());
    }
    let loaded = match load(config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            report(&e, &mut std::io::stderr()).context("writing the configuration error")?;
            return Ok(ExitCode::from(EXIT_INVALID_CONFIG));
        }
    };
    telemetry::init(log_format);
    if let Some(file) = &loaded.file {
        tracing::info!(target: compactor::log_target::SERVICE, file = %file.display(), "Loaded configuration");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(run(loaded.config, command))
}

async fn run(config: Config, command: Command) -> anyhow::Result<ExitCode> {
    if let Command::Retention(args @ RetentionArgs { explain: true, .. }) = &command {
        return explain_retention(&config, args, &mut std::io::stdout().lock());
    }
    let service = match Service::new(config) {
        Ok(service) => service,
        Err(e) => return Ok(startup_error(&e)),
    };
    if let Command::Status(StatusArgs { filter, json }) = command {
        let report = service.status(&filter.scope(true)).await;
        let mut out = std::io::stdout().lock();
        if json {
            serde_json::to_writer_pretty(&mut out, &report).context("writing the JSON status")?;
            writeln!(out)?;
        } else {
            out.write_all(compactor::render_status(&report).as_bytes())?;
        }
        let bad = report.unhealthy() + report.errors.len();
        return Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILURES) });
    }
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.cancel();
    });
    let (reports, json) = match command {
        Command::Run(RunArgs { once: false, .. }) => {
            return Ok(match service.run_daemon(cancel).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => startup_error(&e),
            });
        }
        Command::Run(RunArgs { once: true, json }) => {
            (service.run_lifecycle_once(Scope::default(), &cancel).await, json)
        }
        Command::Plan(PlanArgs { filter, json }) => {
            let scope = filter.scope(true);
            let report = service.run_once(JobKind::Compaction, scope, &cancel).await;
            if !json {
                print!("{}", render_plans(&report));
                let code = if report.succeeded() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_FAILURES)
                };
                return Ok(code);
            }
            (vec![report], json)
        }
        Command::Compact(args) => one_shot(&service, JobKind::Compaction, args, &cancel).await,
        Command::Retention(RetentionArgs { pass, explain: _ }) => {
            let (reports, json) = one_shot(&service, JobKind::Retention, pass, &cancel).await;
            if !json {
                let mut out = std::io::stdout().lock();
                reports.iter().try_for_each(|r| out.write_all(render_retention(r).as_bytes()))?;
                let failures: usize = reports.iter().map(JobReport::failures).sum();
                return Ok(if failures == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_FAILURES)
                });
            }
            (reports, json)
        }
        Command::Orphans(args) => one_shot(&service, JobKind::OrphanCleanup, args, &cancel).await,
        Command::CheckConfig => unreachable!("handled before the runtime starts"),
        Command::Status(_) => unreachable!("handled above"),
    };
    let failures: usize = reports.iter().map(JobReport::failures).sum();
    // Retried S3 requests and catalog errors of the run, so a slow or failing dependency
    // shows in a one-shot report as it does on /metrics.
    let dependencies = service.metrics().dependencies.counts();
    let mut out = std::io::stdout().lock();
    if json {
        let doc = serde_json::json!({
            "reports": reports,
            "failures": failures,
            "dependencies": dependencies,
        });
        serde_json::to_writer_pretty(&mut out, &doc).context("writing the JSON report")?;
        writeln!(out)?;
    } else {
        for r in &reports {
            out.write_all(r.render_text().as_bytes())?;
        }
        if reports.is_empty() {
            writeln!(out, "no job is enabled; nothing to run")?;
        }
        if !dependencies.is_empty() {
            out.write_all(dependencies.render_line().as_bytes())?;
        }
    }
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILURES) })
}

/// Reports a service that could not start (busy port, unusable warehouse) and gives the exit
/// status of a refused configuration: nothing ran.
fn startup_error(e: &ServiceError) -> ExitCode {
    tracing::error!(target: compactor::log_target::SERVICE, error = %e, "Compactor could not start");
    eprintln!("error: {e}");
    ExitCode::from(EXIT_INVALID_CONFIG)
}

async fn one_shot(
    service: &Service,
    kind: JobKind,
    args: OneShotArgs,
    cancel: &CancellationToken,
) -> (Vec<JobReport>, bool) {
    let OneShotArgs { filter, dry_run, json } = args;
    let scope = filter.scope(dry_run);
    (vec![service.run_once(kind, scope, cancel).await], json)
}

/// Runs `retention --explain`: the resolved policy of one tenant's dataset, as text or JSON.
fn explain_retention(
    config: &Config,
    args: &RetentionArgs,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let filter = &args.pass.filter;
    let (Some(tenant), Some(dataset)) = (&filter.tenant, &filter.dataset) else {
        anyhow::bail!("--explain needs --tenant and --dataset");
    };
    let mut explanation = explain_retention_policy(&config.compactor.retention, tenant, dataset);
    explanation.signals.retain(|s| filter.signal.is_none_or(|wanted| s.signal == wanted));
    if args.pass.json {
        serde_json::to_writer_pretty(&mut *out, &explanation).context("writing the policy")?;
        writeln!(out)?;
    } else {
        out.write_all(explanation.render_text().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
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
            // Valid but unwise: said on stderr, and the configuration still loads.
            for w in compactor::config_warnings(&loaded.config.compactor) {
                writeln!(err, "warning: {}: {}", w.check, w.message)?;
            }
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
        assert!(Cli::try_parse_from(["compactor"]).unwrap().command.is_none());
        let cli = Cli::try_parse_from([
            "compactor",
            "retention",
            "--tenant",
            "acme",
            "--signal",
            "logs",
            "--dry-run",
        ])
        .unwrap();
        let Some(Command::Retention(args)) = cli.command else { panic!("not retention") };
        assert_eq!(
            (args.pass.filter.tenant.as_deref(), args.pass.filter.signal, args.pass.dry_run),
            (Some("acme"), Some(Signal::Logs), true)
        );
        assert!(!args.explain);
        let explain =
            ["compactor", "retention", "--explain", "--tenant", "acme", "--dataset", "prod"];
        let cli = Cli::try_parse_from(explain).unwrap();
        let Some(Command::Retention(args)) = cli.command else { panic!("not retention") };
        assert!(args.explain);
        assert!(
            Cli::try_parse_from(["compactor", "retention", "--explain", "--tenant", "acme"])
                .is_err()
        );
        assert!(Cli::try_parse_from([&explain[..], &["--dry-run"]].concat()).is_err());
        assert!(Cli::try_parse_from(["compactor", "compact", "--tenant", "Acme"]).is_err());
        assert!(Cli::try_parse_from(["compactor", "run", "--json"]).is_err());
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
        assert!(err.is_empty(), "nothing to warn of by default");

        // A configuration that loads but cannot work as meant: warned of, not refused.
        let unwise = dir.path().join("unwise.toml");
        let toml = "[compactor.retention]\nenabled = true\ngrace_period_hours = 200\n";
        std::fs::write(&unwise, toml).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = check_config(Some(&unwise), &mut out, &mut err).unwrap();
        assert_eq!(code, ExitCode::SUCCESS);
        let text = String::from_utf8(err).unwrap();
        assert!(text.contains("warning: grace_exceeds_retention: "), "{text}");
        assert!(text.contains("warning: orphan_cleanup_disabled: "), "{text}");

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
