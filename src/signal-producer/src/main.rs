//! `signaldb-loadgen`: fills SignalDB's Iceberg tables with realistic, deterministic
//! OpenTelemetry-shaped traces, logs, metrics and profiles, written as many small Parquet files
//! through Iceberg fast appends — the workload the compactor exists for.
//!
//! Flow: arguments → [`run::Plan`] → configuration (same loading as the compactor) →
//! warehouse and catalog → [`run::run`] (tables of the chosen layout created by
//! [`tables::ensure_table`], back-dated hours, then optionally continuous appends) →
//! [`summary::Report`] on standard output. Logs go to standard error.

mod checksum;
mod generator;
mod run;
mod summary;
mod tables;
mod writer;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Parser;
use common::Signal;
use common::catalog::SignalCatalog;
use common::ids::validate_id;
use common::storage::Warehouse;
use common::tables::{Layout, TableId};
use common::telemetry::{self, LogFormat};
use tracing::info;

use crate::run::{Plan, Shutdown};

/// Writes realistic OpenTelemetry-shaped traces, logs, metrics and profiles into SignalDB's
/// Iceberg tables as many small Parquet files, one fast-append snapshot per table and hour.
///
/// Data is back-dated over the `--hours` whole hours ending with the hour that contains
/// `--end-time`, and is the same for the same seed, end hour and arguments.
#[derive(Debug, Parser)]
#[command(name = "signaldb-loadgen", version)]
struct Args {
    /// Configuration file [default: $SIGNALDB_CONFIG, else ./signaldb.toml if present];
    /// SIGNALDB_* variables override it.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Tenant ids, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "acme", value_parser = parse_id)]
    tenants: Vec<String>,

    /// Dataset ids, comma-separated; every tenant gets every dataset.
    #[arg(long, value_delimiter = ',', default_value = "prod", value_parser = parse_id)]
    datasets: Vec<String>,

    /// Table layout: `classic` (tables traces, logs, metrics; partition directories `hour=`)
    /// or `signaldb` (SignalDB's eight tables; partition directories `timestamp_hour=`).
    #[arg(long, default_value = "classic")]
    layout: Layout,

    /// Signals to write, comma-separated; with `--layout signaldb`, metrics means its five
    /// metrics_* tables [default: traces,logs,metrics; traces,logs,metrics,profiles with
    /// `--layout signaldb`].
    #[arg(long, value_delimiter = ',')]
    signals: Option<Vec<Signal>>,

    /// Whole hours of back-dated data per table; 0 skips the back-dated phase.
    #[arg(long, default_value_t = 24)]
    hours: u32,

    /// Parquet files per table and hour (one fast-append snapshot holds an hour's files).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    files_per_hour: u32,

    /// Rows per file.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    rows_per_file: u32,

    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    seed: u64,

    /// End of the back-dated range (RFC 3339); its hour is the last one written [default: now].
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    end_time: Option<DateTime<Utc>>,

    /// Print the summary as one JSON object instead of a table.
    #[arg(long)]
    json: bool,

    /// After the back-dated phase, keep appending one file per table to the current hour every
    /// `--interval-ms` until SIGINT or SIGTERM.
    #[arg(long)]
    continuous: bool,

    /// Interval between continuous appends, in milliseconds.
    #[arg(long, default_value_t = 200, requires = "continuous",
          value_parser = clap::value_parser!(u64).range(1..))]
    interval_ms: u64,
}

fn parse_id(s: &str) -> Result<String, String> {
    validate_id(s).map(|()| s.to_string()).map_err(|e| e.to_string())
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("not an RFC 3339 time such as 2024-05-01T12:00:00Z: {e}"))
}

/// The signals written when `--signals` is not given: every signal the layout has a table for.
fn default_signals(layout: Layout) -> &'static [Signal] {
    match layout {
        Layout::Classic => &[Signal::Traces, Signal::Logs, Signal::Metrics],
        Layout::Signaldb => &Signal::ALL,
    }
}

/// Keeps the first occurrence of each item.
fn dedup<T: PartialEq + Clone>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

impl Args {
    fn plan(&self, now: DateTime<Utc>) -> Result<Plan> {
        let Args {
            config: _,
            tenants,
            datasets,
            layout,
            signals,
            hours,
            files_per_hour,
            rows_per_file,
            seed,
            end_time,
            json: _,
            continuous,
            interval_ms,
        } = self;
        let layout = *layout;
        let signals = match signals {
            Some(signals) => dedup(signals),
            None => default_signals(layout).to_vec(),
        };
        if let Some(missing) = signals.iter().find(|s| layout.tables_of(**s).next().is_none()) {
            bail!("the {layout} layout has no {missing} table; --layout signaldb has one");
        }
        let mut tables = Vec::new();
        for tenant in dedup(tenants) {
            for dataset in dedup(datasets) {
                for &signal in &signals {
                    for table in layout.tables_of(signal) {
                        tables.push(TableId::new(&tenant, &dataset, table)?);
                    }
                }
            }
        }
        if tables.is_empty() {
            bail!("nothing to write: --tenants, --datasets and --signals must each name one");
        }
        let end_time = end_time.unwrap_or(now);
        Ok(Plan {
            layout,
            tables,
            seed: *seed,
            hours: *hours,
            files_per_hour: *files_per_hour,
            rows_per_file: *rows_per_file as usize,
            end_hour: end_time.timestamp().div_euclid(3_600),
            continuous: continuous.then(|| Duration::from_millis(*interval_ms)),
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    telemetry::init(LogFormat::Text);
    match run_cli(&args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command line; exit status 130 when a signal cut the back-dated phase short
/// without `--continuous`.
async fn run_cli(args: &Args) -> Result<ExitCode> {
    let plan = args.plan(Utc::now())?;
    let loaded = common::config::load(args.config.as_deref()).context("load configuration")?;
    let config = loaded.config;
    let warehouse = Warehouse::open(&config.storage).context("open the warehouse")?;
    let catalog =
        SignalCatalog::connect(&config.schema, &warehouse).await.context("connect the catalog")?;
    info!(warehouse = catalog.warehouse_location(), catalog = catalog.name(), "connected");

    let shutdown = Shutdown::on_signals()?;
    let report = run::run(Arc::new(catalog), &plan, shutdown).await?;

    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.render());
    }
    if report.interrupted && plan.continuous.is_none() {
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("signaldb-loadgen").chain(args.iter().copied()))
    }

    #[test]
    fn defaults() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.tenants, ["acme"]);
        assert_eq!(a.datasets, ["prod"]);
        assert_eq!((a.layout, &a.signals), (Layout::Classic, &None));
        let names = |plan: &Plan| plan.tables.iter().map(|t| t.table.as_str()).collect::<Vec<_>>();
        let plan = a.plan(Utc::now()).unwrap();
        assert_eq!(names(&plan), ["traces", "logs", "metrics"]);
        let plan = parse(&["--layout", "signaldb"]).unwrap().plan(Utc::now()).unwrap();
        assert_eq!(plan.layout, Layout::Signaldb);
        assert_eq!(
            names(&plan),
            [
                "traces",
                "logs",
                "metrics_gauge",
                "metrics_sum",
                "metrics_histogram",
                "metrics_exponential_histogram",
                "metrics_summary",
                "profiles"
            ]
        );
        assert_eq!((a.hours, a.files_per_hour, a.rows_per_file, a.seed), (24, 10, 1000, 42));
        assert!(!a.json && !a.continuous && a.end_time.is_none());
        assert_eq!(a.interval_ms, 200);
    }

    #[test]
    fn readme_quick_start_plans_six_tables() {
        let a = parse(&[
            "--tenants",
            "acme,production",
            "--datasets",
            "prod",
            "--signals",
            "traces,logs,metrics",
            "--hours",
            "48",
            "--files-per-hour",
            "20",
            "--rows-per-file",
            "1000",
            "--seed",
            "42",
            "--end-time",
            "2024-01-01T10:30:00+02:00",
        ])
        .unwrap();
        let plan = a.plan(Utc::now()).unwrap();
        assert_eq!(plan.tables.len(), 6);
        assert_eq!(plan.tables[3].to_string(), "production.prod.traces");
        // 08:30Z on 2024-01-01 is in hour 473352 + 8.
        assert_eq!(plan.end_hour, 473_360);
        assert_eq!(plan.backfill_hours(), 473_313..=473_360);
        assert!(plan.continuous.is_none());
    }

    #[test]
    fn refuses_bad_ids_signals_and_counts() {
        for bad in [
            &["--tenants", "Acme"][..],
            &["--datasets", "prod,"],
            &["--signals", "spans"],
            &["--layout", "iceberg"],
            &["--files-per-hour", "0"],
            &["--rows-per-file", "0"],
            &["--end-time", "yesterday"],
            &["--interval-ms", "100"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let e = parse(&["--tenants", "acme,Bad"]).unwrap_err().to_string();
        assert!(e.contains("Bad") && e.contains("[a-z0-9]"), "{e}");
    }

    #[test]
    fn signals_name_the_tables_of_the_layout() {
        let plan = |args: &[&str]| parse(args).unwrap().plan(Utc::now());
        let e = plan(&["--signals", "profiles"]).unwrap_err().to_string();
        assert!(e.contains("classic layout has no profiles table"), "{e}");
        let p = plan(&["--layout", "signaldb", "--signals", "metrics,logs,metrics"]).unwrap();
        let tables: Vec<String> = p.tables.iter().map(ToString::to_string).collect();
        assert_eq!(tables.len(), 6);
        assert_eq!(tables[0], "acme.prod.metrics_gauge");
        assert_eq!(tables[5], "acme.prod.logs");
        let p =
            plan(&["--layout", "signaldb", "--signals", "profiles", "--tenants", "a,b"]).unwrap();
        assert_eq!(p.tables.len(), 2);
    }

    #[test]
    fn continuous_and_duplicates() {
        let a = parse(&["--continuous", "--interval-ms", "50", "--tenants", "a,b,a"]).unwrap();
        let plan = a.plan(Utc::now()).unwrap();
        assert_eq!(plan.continuous, Some(Duration::from_millis(50)));
        assert_eq!(plan.tables.len(), 6);
    }
}
