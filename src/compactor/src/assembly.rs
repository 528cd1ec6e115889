//! Assembly: the one place that turns the configuration into what the process runs.
//!
//! Per job kind, [`JobSpec`] says whether the daemon schedules it, its configured dry run and
//! its interval; the `*_job` functions build each job from its settings: the job's step,
//! wrapped in its metrics ([`Metered`]), run over the tables by a [`TablePass`]. On top of
//! those, [`Assembly`] hands out the runnable set:
//!
//! - the daemon's [`Schedule`]s: one per enabled job; retention runs as a [`RetentionCycle`]
//!   followed by orphan cleanup of the tables it changed, sharing the one orphan-cleanup job
//!   with its own scheduler so two cleanups never overlap;
//! - `run --once`: one pass of every enabled job in lifecycle order (compaction, then the
//!   retention cycle, whose cleanup covers the whole scope; orphan cleanup alone only when
//!   retention is disabled);
//! - one-shot commands: the job of one kind, whether or not its scheduler is enabled.
//!
//! A configured dry run always applies: a requested scope is combined with it
//! ([`Scope::or_dry_run`]) wherever a job of the runnable set is started.

use std::sync::Arc;

use common::catalog::CatalogHandle;
use common::clock::{Clock, SystemClock};
use common::config::{CompactorConfig, Config};
use common::storage::{StorageError, Warehouse};
use tokio_util::sync::CancellationToken;

use crate::compaction::CompactionStep;
use crate::compaction::slots::RewriteSlots;
use crate::instance::InstanceId;
use crate::job::{JobKind, JobSpec, Scope};
use crate::metered::{Metered, Recorded};
use crate::metrics::Metrics;
use crate::orphan::{OrphanCleanupStep, OrphanSettings};
use crate::pass::{Job, LeaseSettings, TableLocks, TablePass};
use crate::report::{JobOutcome, JobReport};
use crate::retention::RetentionStep;
use crate::retention_cycle::{FollowUp, RetentionCycle};
use crate::scheduler::{Schedule, run_pass};
use crate::step::TableStep;

/// The compaction job: [`CompactionStep`] over up to `pass.concurrency` tables at a time,
/// their groups sharing `max_concurrent_jobs` rewrites in flight (inside the step), so one
/// table's plan and commit overlap another's rewrites.
pub(crate) fn compaction_job(
    config: &CompactorConfig,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    pass: PassSettings,
    rewrites: Arc<RewriteSlots>,
) -> TablePass<Metered<CompactionStep>> {
    let settings = JobSettings::from(config).compaction;
    let step = CompactionStep::sharing(settings, Arc::clone(&clock), rewrites);
    metered_pass(step, catalog, metrics, clock, pass)
}

/// The retention job: [`RetentionStep`] over up to `pass.concurrency` tables at a time.
pub(crate) fn retention_job(
    config: &CompactorConfig,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    pass: PassSettings,
) -> TablePass<Metered<RetentionStep>> {
    let step = RetentionStep::new(JobSettings::from(config).retention, Arc::clone(&clock));
    metered_pass(step, catalog, metrics, clock, pass)
}

/// The orphan-cleanup job: [`OrphanCleanupStep`] over up to `pass.concurrency` tables at a time.
pub fn orphan_cleanup_job(
    settings: OrphanSettings,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    pass: PassSettings,
) -> TablePass<Metered<OrphanCleanupStep>> {
    let step = OrphanCleanupStep::new(settings, Arc::clone(&clock));
    metered_pass(step, catalog, metrics, clock, pass)
}

/// `step` wrapped in its metrics and run over up to `pass.concurrency` tables at a time: how every
/// job is made.
fn metered_pass<S>(
    step: S,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    pass: PassSettings,
) -> TablePass<Metered<S>>
where
    S: TableStep,
    S::Outcome: Recorded + JobOutcome,
{
    let parts = pass.components(&metrics, clock);
    TablePass::new(Metered::new(step, Arc::clone(&metrics)), catalog, metrics, parts)
}

/// The process a job runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Process {
    /// The daemon: it keeps every table's gauges, so each job's first pass loads every table.
    Daemon,
    /// A one-shot command or `run --once`: one pass, its report the output.
    OneShot,
    /// A run an operator starts on named tables through the admin API: every table named is
    /// loaded, even one unchanged since an idle run.
    Requested,
    /// A dry run an operator asks for to see what a job would do: like [`Process::Requested`],
    /// and kept out of the run history.
    Preview,
}

/// One entry of the runnable set: a job (or the retention cycle) and its spec.
pub(crate) struct Runnable {
    /// What the configuration says about it.
    pub spec: JobSpec,
    work: Work,
    metrics: Arc<Metrics>,
}

/// What a [`Runnable`] runs.
enum Work {
    /// One pass of a job.
    Pass(Arc<dyn Job>),
    /// A retention pass, then orphan cleanup of the whole scope.
    RetentionCycle(RetentionCycle),
}

impl Runnable {
    /// Runs it over `scope` (combined with the configured dry run), each pass logged and
    /// counted; the reports in the order the passes ran.
    pub(crate) async fn run(&self, scope: &Scope, cancel: &CancellationToken) -> Vec<JobReport> {
        let scope = scope.or_dry_run(self.spec.dry_run);
        match &self.work {
            Work::Pass(job) => vec![run_pass(job.as_ref(), &scope, &self.metrics, cancel).await],
            Work::RetentionCycle(cycle) => cycle.run_all(&scope, cancel).await,
        }
    }
}

/// The process's shared handles and configuration, and the runnable set built from them.
/// Every pass it builds leases its tables as this process's [`InstanceId`].
pub(crate) struct Assembly {
    config: CompactorConfig,
    catalog: Arc<CatalogHandle>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    instance: Arc<InstanceId>,
    locks: Arc<TableLocks>,
    /// The rewrite slots every compaction job of the process shares.
    rewrites: Arc<RewriteSlots>,
}

impl Assembly {
    /// Opens the warehouse and prepares the catalog handle (which connects on first use, so a
    /// database that is down only fails passes until it is back) and the metrics registry.
    pub(crate) fn new(config: &Config) -> Result<Self, StorageError> {
        let metrics = Arc::new(Metrics::new());
        let dependencies = Arc::new(metrics.dependencies.clone());
        let warehouse = Warehouse::open_observed(&config.storage, Some(dependencies.clone()))?;
        metrics.tables.set_config_warnings(&crate::warnings::config_warnings(&config.compactor));
        let instance = Arc::new(InstanceId::of_this_process());
        metrics.leases.set_instance(instance.as_str());
        Ok(Self {
            config: config.compactor.clone(),
            catalog: Arc::new(
                CatalogHandle::new(config.schema.clone(), warehouse).with_observer(dependencies),
            ),
            metrics,
            clock: Arc::new(SystemClock),
            instance,
            locks: Arc::default(),
            rewrites: Arc::new(RewriteSlots::new(config.compactor.max_concurrent_jobs)),
        })
    }

    /// This process's instance id: the owner of its leases, on its log lines and metrics.
    pub(crate) fn instance(&self) -> &Arc<InstanceId> {
        &self.instance
    }

    /// How every job's pass goes over its tables: `[compactor]`'s settings, each table
    /// leased by this instance; in the daemon, which keeps every table's gauges, a table is
    /// loaded by the first pass of each job even when unchanged since an idle run.
    fn pass_settings(&self, process: Process) -> PassSettings {
        let leases = LeaseSettings {
            instance: Arc::clone(&self.instance),
            ttl: self.config.lease_ttl(),
            renew_interval: self.config.lease_renew_interval(),
            locks: Arc::clone(&self.locks),
        };
        let pass = JobSettings::from(&self.config).pass.with_leases(leases);
        match process {
            Process::Daemon => pass.loading_unread(),
            Process::OneShot => pass,
            Process::Requested => pass.loading_every_table(),
            Process::Preview => pass.loading_every_table().without_history(),
        }
    }

    /// The catalog every job works on.
    pub(crate) fn catalog(&self) -> &Arc<CatalogHandle> {
        &self.catalog
    }

    /// The metrics registry every job reports to.
    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The `[compactor]` configuration.
    pub(crate) fn config(&self) -> &CompactorConfig {
        &self.config
    }

    /// The time every job reads.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The spec of every job, in lifecycle order.
    pub(crate) fn specs(&self) -> [JobSpec; 3] {
        JobKind::ALL.map(|kind| JobSpec::of(&self.config, kind))
    }

    /// The job of `kind`, alone, for a one-shot command.
    pub(crate) fn job(&self, kind: JobKind) -> Arc<dyn Job> {
        self.job_in(kind, Process::OneShot)
    }

    /// The job of `kind` for a run an operator requests on named tables (the admin API):
    /// leased, fenced and recorded like a scheduled pass, its rewrites sharing the process's
    /// slots, every table it names loaded.
    pub(crate) fn requested(&self, kind: JobKind) -> Arc<dyn Job> {
        self.job_in(kind, Process::Requested)
    }

    /// The job of `kind` for a dry run an operator asks for on named tables (the admin API's
    /// plan): every table it names loaded, no run recorded in the history.
    pub(crate) fn preview(&self, kind: JobKind) -> Arc<dyn Job> {
        self.job_in(kind, Process::Preview)
    }

    /// The job of `kind`, alone, for `process`.
    fn job_in(&self, kind: JobKind, process: Process) -> Arc<dyn Job> {
        let (config, catalog, metrics, clock) = (
            &self.config,
            Arc::clone(&self.catalog),
            Arc::clone(&self.metrics),
            Arc::clone(&self.clock),
        );
        let pass = self.pass_settings(process);
        match kind {
            JobKind::Compaction => {
                let rewrites = Arc::clone(&self.rewrites);
                Arc::new(compaction_job(config, catalog, metrics, clock, pass, rewrites))
            }
            JobKind::Retention => Arc::new(retention_job(config, catalog, metrics, clock, pass)),
            // What it looks for appears in storage without any commit: it loads every table.
            JobKind::OrphanCleanup => Arc::new(orphan_cleanup_job(
                OrphanSettings::from(&config.orphan_cleanup),
                catalog,
                metrics,
                clock,
                pass.loading_every_table(),
            )),
        }
    }

    /// Retention followed, when orphan cleanup is enabled, by `orphans` over what it changed,
    /// after `lifecycle_pause_secs`, with orphan cleanup's own dry run.
    fn retention_cycle(&self, orphans: Arc<dyn Job>, process: Process) -> RetentionCycle {
        let cleanup = JobSpec::of(&self.config, JobKind::OrphanCleanup);
        let follow_up = cleanup.enabled.then(|| FollowUp {
            job: orphans,
            pause: self.config.orphan_cleanup.lifecycle_pause(),
            dry_run: cleanup.dry_run,
        });
        let retention = self.job_in(JobKind::Retention, process);
        RetentionCycle::new(retention, follow_up, Arc::clone(&self.metrics))
    }

    /// One pass of the job of `kind`, whether or not its scheduler is enabled (the one-shot
    /// commands).
    pub(crate) fn one_shot(&self, kind: JobKind) -> Runnable {
        self.runnable(JobSpec::of(&self.config, kind), Work::Pass(self.job(kind)))
    }

    /// `run --once`: every enabled job in lifecycle order. Retention runs as its cycle, whose
    /// cleanup then stands for orphan cleanup's own pass.
    pub(crate) fn once(&self) -> Vec<Runnable> {
        let [compaction, retention, cleanup] = self.specs();
        let mut out = Vec::new();
        if compaction.enabled {
            out.push(self.one_shot(JobKind::Compaction));
        }
        if retention.enabled {
            let cycle = self.retention_cycle(self.job(JobKind::OrphanCleanup), Process::OneShot);
            out.push(self.runnable(retention, Work::RetentionCycle(cycle)));
        } else if cleanup.enabled {
            out.push(self.one_shot(JobKind::OrphanCleanup));
        }
        out
    }

    /// The daemon's runnable set: per job in lifecycle order its spec and, when enabled, its
    /// schedule, each pass with the job's configured dry run. One orphan-cleanup job serves
    /// its own scheduler and the cleanup after each retention pass, so two cleanup passes
    /// never overlap.
    pub(crate) fn schedules(&self) -> Vec<(JobSpec, Option<Schedule>)> {
        let orphans = self.job_in(JobKind::OrphanCleanup, Process::Daemon);
        let schedule = |spec: JobSpec| {
            let job = match spec.kind {
                JobKind::Compaction => self.job_in(spec.kind, Process::Daemon),
                JobKind::Retention => {
                    Arc::new(self.retention_cycle(Arc::clone(&orphans), Process::Daemon))
                }
                JobKind::OrphanCleanup => Arc::clone(&orphans),
            };
            let scope = Scope::default().or_dry_run(spec.dry_run);
            Schedule { job, interval: spec.interval, scope }
        };
        self.specs().into_iter().map(|spec| (spec, spec.enabled.then(|| schedule(spec)))).collect()
    }

    fn runnable(&self, spec: JobSpec, work: Work) -> Runnable {
        Runnable { spec, work, metrics: Arc::clone(&self.metrics) }
    }
}

pub(crate) mod settings;

use settings::JobSettings;
pub(crate) use settings::PassSettings;

#[cfg(test)]
mod tests;
