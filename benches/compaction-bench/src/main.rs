//! `compaction-bench`: the pieces of the compaction benchmark that `scripts/bench-compaction.sh`
//! drives (see docs/benchmarks.md).
//!
//! - `measure` runs one contender (or, repeated, one `compactor plan`) as a child process and
//!   records its wall time and peak RSS;
//! - `arrow-baseline` is contender (a), the floor: per hour directory, read every input Parquet
//!   file fully into memory with arrow-rs and write one file with the compactor's writer
//!   settings, committing nothing;
//! - `lease-overhead` times what leasing adds per table to a pass (scripts/bench-scale-out.sh);
//! - `report` reads every measurement of a run, prints the table with the ratios and whether
//!   each target is met (`targets`), and writes them as one JSON document.

mod baseline;
mod lease_overhead;
mod measure;
mod render;
mod report;
mod targets;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Compaction benchmark helper (driven by scripts/bench-compaction.sh).
#[derive(Debug, Parser)]
#[command(name = "compaction-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a command, write its stdout to --stdout and its wall time and peak RSS as JSON to
    /// --out; exit with the command's status. With --repeat N, run it N times in a row and
    /// record the median wall time (and every run's).
    Measure {
        /// Where the measurement JSON goes.
        #[arg(long)]
        out: PathBuf,
        /// Where the command's standard output goes.
        #[arg(long)]
        stdout: PathBuf,
        /// How many times to run the command.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
        repeat: u16,
        /// The command and its arguments.
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
    /// Contender (a): per hour directory under --warehouse, read all Parquet files into memory
    /// and write one file under --out-dir with the compactor's writer settings; prints JSON.
    ArrowBaseline {
        /// Warehouse root holding `.../data/hour=YYYY-MM-DD-HH/*.parquet`.
        #[arg(long)]
        warehouse: PathBuf,
        /// Directory for the output files (mirrors the warehouse's layout).
        #[arg(long)]
        out_dir: PathBuf,
        /// Fail unless exactly this many rows were read and written.
        #[arg(long)]
        expect_rows: Option<u64>,
    },
    /// Lease --tables tables the way one pass does (acquire, check, release), --rounds times,
    /// on the catalog database at --catalog-uri; prints the time per table as JSON.
    LeaseOverhead {
        /// The catalog database (sqlite://… or postgres://…).
        #[arg(long)]
        catalog_uri: String,
        /// Tables leased per round.
        #[arg(long, default_value_t = 100)]
        tables: usize,
        /// Rounds timed.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Print the results table of a run and write it as JSON.
    Report {
        /// The run's results directory (`<workload>/<contender>.{measure,out}.json`).
        #[arg(long)]
        results: PathBuf,
        /// Where the JSON document goes.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Measure { out, stdout, repeat, command } => {
            let m = measure::run_repeated(&command, &stdout, usize::from(repeat))?;
            let json = serde_json::to_vec_pretty(&m)?;
            std::fs::write(&out, json).with_context(|| format!("writing {}", out.display()))?;
            Ok(if m.exit_code == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::ArrowBaseline { warehouse, out_dir, expect_rows } => {
            let summary = baseline::run(&warehouse, &out_dir)?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            let rows = (summary.rows_read, summary.rows_written);
            if let Some(want) = expect_rows.filter(|&want| rows != (want, want)) {
                anyhow::bail!(
                    "row count changed: expected {want}, read {}, wrote {}",
                    rows.0,
                    rows.1
                );
            }
            anyhow::ensure!(rows.0 == rows.1, "read {} rows but wrote {}", rows.0, rows.1);
            Ok(ExitCode::SUCCESS)
        }
        Command::LeaseOverhead { catalog_uri, tables, rounds } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let overhead = runtime.block_on(lease_overhead::run(&catalog_uri, tables, rounds))?;
            println!("{}", serde_json::to_string_pretty(&overhead)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { results, out } => {
            let doc = report::collect(&results)?;
            print!("{}", render::render(&doc));
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&out, serde_json::to_vec_pretty(&doc)?)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("results written to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
