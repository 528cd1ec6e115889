//! The two phases of a run: back-dating `hours` whole hours of data into every table, then
//! (with `--continuous`) appending a small file per table per interval to the current hour
//! until a signal arrives.

use std::ops::{Range, RangeInclusive};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arrow_schema::SchemaRef;
use chrono::Utc;
use common::catalog::SignalCatalog;
use common::tables::{Layout, TableId};
use futures::{StreamExt, TryStreamExt};
use iceberg::table::Table;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

use crate::checksum::batch_digest;
use crate::generator::{self, FileSpec, US_PER_HOUR, Window};
use crate::summary::{Report, TableReport};
use crate::tables::ensure_table;
use crate::writer;
use common::partition::hour_label;

/// Tables back-dated at the same time. Generation runs on blocking threads, so this also
/// bounds CPU use and memory (one batch in flight per table).
const TABLE_CONCURRENCY: usize = 4;

/// What to write, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The layout the tables are created with and whose rows are generated.
    pub layout: Layout,
    /// Tables, in command-line order (tenant, then dataset, then signal; a signal's tables in
    /// the layout's order).
    pub tables: Vec<TableId>,
    /// Seed of every file's random stream.
    pub seed: u64,
    /// Whole hours to back-date; 0 skips the back-dated phase.
    pub hours: u32,
    /// Files per table and hour.
    pub files_per_hour: u32,
    /// Rows per file.
    pub rows_per_file: usize,
    /// The last back-dated hour (hours since the epoch): the one containing `--end-time`.
    pub end_hour: i64,
    /// Interval of the continuous phase, when enabled.
    pub continuous: Option<Duration>,
}

impl Plan {
    /// The back-dated hours, oldest first (empty when `hours` is 0).
    pub fn backfill_hours(&self) -> RangeInclusive<i64> {
        self.end_hour - i64::from(self.hours) + 1..=self.end_hour
    }
}

/// Whether a stop was requested (SIGINT/SIGTERM); cheap to clone into every task.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A shutdown that is requested by the first SIGINT or SIGTERM. A second signal exits
    /// at once with status 130.
    pub fn on_signals() -> Result<Self> {
        let (tx, rx) = watch::channel(false);
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("install SIGTERM handler")?;
        tokio::spawn(async move {
            loop {
                #[cfg(unix)]
                let name = tokio::select! {
                    _ = tokio::signal::ctrl_c() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                };
                #[cfg(not(unix))]
                let name = {
                    let _ = tokio::signal::ctrl_c().await;
                    "SIGINT"
                };
                if *tx.borrow() {
                    warn!(signal = name, "second signal: exiting without finishing commits");
                    std::process::exit(130);
                }
                info!(signal = name, "stopping after the commits in flight");
                tx.send_replace(true);
            }
        });
        Ok(Self(rx))
    }

    /// A shutdown requested through the returned sender (for tests).
    #[cfg(test)]
    pub fn manual() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    /// Whether a stop has been requested.
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once a stop is requested.
    pub async fn wait(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            // The listener is gone, so no stop can be requested any more.
            std::future::pending::<()>().await;
        }
    }
}

/// One table being written: its current state in the catalog and what was written so far.
struct TableWriter {
    layout: Layout,
    table: Table,
    schema: SchemaRef,
    report: TableReport,
}

impl TableWriter {
    fn id(&self) -> &TableId {
        &self.report.id
    }

    /// Generates, writes and commits `files` files of `hour` in one fast append.
    async fn write_hour(
        &mut self,
        catalog: &SignalCatalog,
        seed: u64,
        hour: i64,
        files: Range<u32>,
        window: Window,
        rows: usize,
    ) -> Result<()> {
        let mut data_files = Vec::new();
        let mut digests = Vec::new();
        for file_index in files {
            let table = self.id().clone();
            let layout = self.layout;
            let spec = FileSpec { seed, layout, table, hour, file_index, window, rows };
            let (batch, digest) = generate(spec, self.schema.clone()).await?;
            let written =
                writer::write_file(&self.table, self.id(), hour, file_index, batch).await?;
            data_files.extend(written);
            digests.push((file_index, digest));
        }
        let count = data_files.len() as u64;
        let rows = writer::record_count(&data_files);
        self.table = writer::append(catalog, &self.table, self.id(), hour, data_files).await?;
        self.report.record_commit(hour, &digests, count, rows);
        debug!(table = %self.id(), hour = %hour_label(hour), files = count, rows, "appended");
        Ok(())
    }
}

/// Generates one file's batch and its digest on a blocking thread.
async fn generate(spec: FileSpec, schema: SchemaRef) -> Result<(arrow_array::RecordBatch, u64)> {
    let table = spec.table.clone();
    tokio::task::spawn_blocking(move || {
        let batch = generator::generate(&spec, &schema)?;
        let digest = batch_digest(&batch);
        Ok::<_, arrow_schema::ArrowError>((batch, digest))
    })
    .await
    .context("generator task panicked")?
    .with_context(|| format!("generate rows for {table}: batch does not match the table schema"))
}

/// Runs the whole plan: ensure the tables, back-date, then append continuously if asked.
pub async fn run(catalog: Arc<SignalCatalog>, plan: &Plan, shutdown: Shutdown) -> Result<Report> {
    let started = Instant::now();
    let mut writers = Vec::with_capacity(plan.tables.len());
    for id in &plan.tables {
        let table = ensure_table(&catalog, id, plan.layout)
            .await
            .with_context(|| format!("prepare table {id}"))?;
        let schema = writer::arrow_schema(&table).with_context(|| format!("table {id}"))?;
        let report = TableReport::new(id.clone());
        writers.push(TableWriter { layout: plan.layout, table, schema, report });
    }
    if plan.hours > 0 {
        info!(
            tables = writers.len(),
            hours = plan.hours,
            files_per_hour = plan.files_per_hour,
            rows_per_file = plan.rows_per_file,
            first_hour = %hour_label(*plan.backfill_hours().start()),
            last_hour = %hour_label(plan.end_hour),
            "back-dating"
        );
    }

    let mut writers = backfill(&catalog, plan, writers, &shutdown).await?;
    let interrupted = writers.iter().any(|w| w.report.hours() < plan.hours as usize);
    if let (Some(interval), false) = (plan.continuous, shutdown.requested()) {
        writers = continuous(&catalog, plan, writers, interval, shutdown).await?;
    }
    Ok(Report {
        layout: plan.layout,
        tables: writers.into_iter().map(|w| w.report).collect(),
        duration: started.elapsed(),
        interrupted,
    })
}

/// Runs `work` on every writer as its own task (so Parquet encoding uses every core), at most
/// `limit` at a time; returns the writers in their original order.
async fn for_each_table<F, Fut>(
    writers: Vec<TableWriter>,
    limit: usize,
    work: F,
) -> Result<Vec<TableWriter>>
where
    F: Fn(TableWriter) -> Fut,
    Fut: Future<Output = Result<TableWriter>> + Send + 'static,
{
    let mut done: Vec<(usize, TableWriter)> =
        futures::stream::iter(writers.into_iter().enumerate())
            .map(|(pos, w)| {
                let task = tokio::spawn(work(w));
                async move {
                    Ok::<_, anyhow::Error>((pos, task.await.context("table writer panicked")??))
                }
            })
            .buffer_unordered(limit.max(1))
            .try_collect()
            .await?;
    done.sort_by_key(|(pos, _)| *pos);
    Ok(done.into_iter().map(|(_, w)| w).collect())
}

/// Back-dates every table, a few tables at a time; stops between hours once a stop is
/// requested.
async fn backfill(
    catalog: &Arc<SignalCatalog>,
    plan: &Plan,
    writers: Vec<TableWriter>,
    shutdown: &Shutdown,
) -> Result<Vec<TableWriter>> {
    for_each_table(writers, TABLE_CONCURRENCY, |mut w| {
        let (catalog, plan, shutdown) = (catalog.clone(), plan.clone(), shutdown.clone());
        async move {
            for hour in plan.backfill_hours() {
                if shutdown.requested() {
                    break;
                }
                let files = 0..plan.files_per_hour;
                let (seed, rows) = (plan.seed, plan.rows_per_file);
                w.write_hour(&catalog, seed, hour, files, Window::hour(hour), rows).await?;
            }
            if plan.hours > 0 {
                let r = &w.report;
                info!(table = %r.id, hours = r.hours(), files = r.files, rows = r.rows, "back-dated");
            }
            Ok(w)
        }
    })
    .await
}

/// Appends one file per table to the current hour every `interval` until a stop is requested;
/// the appends of the tick in progress are always finished.
async fn continuous(
    catalog: &Arc<SignalCatalog>,
    plan: &Plan,
    mut writers: Vec<TableWriter>,
    interval: Duration,
    mut shutdown: Shutdown,
) -> Result<Vec<TableWriter>> {
    info!(interval_ms = interval.as_millis() as u64, "appending to the current hour until stopped");
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let backfilled = plan.backfill_hours();
    let first_index = |hour| if backfilled.contains(&hour) { plan.files_per_hour } else { 0 };
    let mut last_us = now_us();
    let mut current: Option<(i64, u32)> = None;
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = ticker.tick() => {}
        }
        let now = now_us();
        let hour = now.div_euclid(US_PER_HOUR);
        let file_index = match current {
            Some((h, next)) if h == hour => next,
            _ => first_index(hour),
        };
        let start_us = last_us.max(hour * US_PER_HOUR).min(now);
        let window = Window { start_us, end_us: now + 1 };
        let (seed, rows) = (plan.seed, plan.rows_per_file);
        let tables = writers.len();
        writers = for_each_table(writers, tables, |mut w| {
            let catalog = catalog.clone();
            async move {
                let files = file_index..file_index + 1;
                w.write_hour(&catalog, seed, hour, files, window, rows).await?;
                Ok(w)
            }
        })
        .await?;
        current = Some((hour, file_index + 1));
        last_us = now + 1;
    }
    Ok(writers)
}

/// The wall clock in microseconds since the epoch; only the continuous phase reads it.
fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests;
