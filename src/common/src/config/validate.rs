//! Rules a well-typed configuration must also satisfy; every broken rule is reported.
//!
//! Values parsed into types at load (the retention timezone, the catalog type) are checked by
//! their types; a value its type refused, like a token file that could not be read at load,
//! reaches [`validate`] as a [`Violation`] and is reported here, in its key's place among the
//! rules.

use std::collections::HashMap;

use crate::ids::validate_id;
use crate::signal::Signal;

use super::admin::{AdminConfig, MAX_BODY_BYTES_LIMIT, token_problems};
use super::compactor::{CompactorConfig, OrphanCleanupConfig};
use super::error::ProblemKind;
use super::keys::KeyPath;
use super::output::OutputConfig;
use super::retention::RetentionConfig;
use super::root::Config;
use super::schema::{CatalogBackend, SchemaConfig};
use super::sort::SortConfig;
use super::storage::{StorageConfig, StorageLocation, check_endpoint};

/// A broken rule at one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) kind: ProblemKind,
    pub(crate) path: KeyPath,
    pub(crate) message: String,
}

/// Collects violations under a common key prefix.
struct Checker<'a> {
    out: &'a mut Vec<Violation>,
    prefix: KeyPath,
}

impl Checker<'_> {
    fn invalid(&mut self, key: &str, message: String) {
        self.out.push(Violation {
            kind: ProblemKind::InvalidValue,
            path: self.prefix.key(key),
            message,
        });
    }

    /// Reports the values of `refused` at `key`: values its type refused at load.
    fn refused(&mut self, key: &str, refused: &[Violation]) {
        let path = self.prefix.key(key);
        self.out.extend(refused.iter().filter(|v| v.path == path).cloned());
    }

    fn at_least<N: Into<u64> + Copy>(&mut self, key: &str, value: N, min: u64, unit: &str) {
        let value: u64 = value.into();
        if value < min {
            let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
            self.invalid(key, format!("must be at least {min}{unit} (got {value})"));
        }
    }
}

/// Every rule `config` breaks, and every value of `refused` (values their type refused at load,
/// replaced by their defaults in `config`, and a token file load could not read) at its key's
/// place.
pub(crate) fn validate(config: &Config, refused: &[Violation]) -> Vec<Violation> {
    let Config { compactor, storage, schema } = config;
    let mut out = Vec::new();
    let root = KeyPath::default();
    check_compactor(compactor, &mut Checker { out: &mut out, prefix: root.key("compactor") });
    let retention_path = root.key("compactor").key("retention");
    check_retention(&compactor.retention, &retention_path, refused, &mut out);
    let orphan_path = root.key("compactor").key("orphan_cleanup");
    check_orphans(&compactor.orphan_cleanup, &mut Checker { out: &mut out, prefix: orphan_path });
    let sort_path = root.key("compactor").key("sort");
    check_sort(&compactor.sort, &mut Checker { out: &mut out, prefix: sort_path });
    let output_path = root.key("compactor").key("output");
    check_output(&compactor.output, &mut Checker { out: &mut out, prefix: output_path });
    let admin_path = root.key("compactor").key("admin");
    check_admin(&compactor.admin, refused, &mut Checker { out: &mut out, prefix: admin_path });
    check_storage(storage, &mut Checker { out: &mut out, prefix: root.key("storage") });
    check_schema(schema, refused, &mut Checker { out: &mut out, prefix: root.key("schema") });
    out
}

fn check_compactor(c: &CompactorConfig, check: &mut Checker<'_>) {
    let CompactorConfig {
        enabled: _,
        compaction_interval_secs,
        dry_run: _,
        metrics_port: _,
        target_file_size_bytes,
        small_file_threshold_bytes,
        min_input_files,
        delete_file_threshold: _,
        delete_ratio_threshold_percent,
        max_concurrent_jobs,
        quiet_period_secs: _,
        shutdown_timeout_secs: _,
        groups_per_commit: _,
        max_groups_per_tenant: _,
        max_bytes_per_tenant,
        manifest_merge_min_count: _,
        manifest_target_size_bytes,
        run_history_days,
        lease_ttl_secs,
        lease_renew_interval_secs,
        // Any value works: 0 loads every table on every pass.
        full_check_interval_secs: _,
        retention: _,
        orphan_cleanup: _,
        sort: _,
        output: _,
        admin: _,
    } = c;
    check.at_least("compaction_interval_secs", *compaction_interval_secs, 1, "second");
    check.at_least("target_file_size_bytes", *target_file_size_bytes, 1, "byte");
    check.at_least("small_file_threshold_bytes", *small_file_threshold_bytes, 1, "byte");
    if small_file_threshold_bytes >= target_file_size_bytes && *target_file_size_bytes > 0 {
        check.invalid(
            "small_file_threshold_bytes",
            format!(
                "must be below compactor.target_file_size_bytes ({target_file_size_bytes}), or \
                 compacted files would be compacted again (got {small_file_threshold_bytes})"
            ),
        );
    }
    check.at_least("min_input_files", *min_input_files as u64, 2, "files");
    if *delete_ratio_threshold_percent > 100 {
        check.invalid(
            "delete_ratio_threshold_percent",
            format!("must be at most 100 (got {delete_ratio_threshold_percent})"),
        );
    }
    check.at_least("max_concurrent_jobs", *max_concurrent_jobs as u64, 1, "");
    if *max_bytes_per_tenant > 0 && max_bytes_per_tenant < target_file_size_bytes {
        check.invalid(
            "max_bytes_per_tenant",
            format!(
                "must be 0 (unlimited) or at least compactor.target_file_size_bytes \
                 ({target_file_size_bytes}), or a tenant gets one group per pass \
                 (got {max_bytes_per_tenant})"
            ),
        );
    }
    check.at_least("manifest_target_size_bytes", *manifest_target_size_bytes, 1024, "byte");
    check.at_least("run_history_days", *run_history_days, 1, "day");
    check.at_least("lease_renew_interval_secs", *lease_renew_interval_secs, 1, "second");
    if *lease_renew_interval_secs >= 1 && lease_ttl_secs / 2 < *lease_renew_interval_secs {
        check.invalid(
            "lease_ttl_secs",
            format!(
                "must be at least twice compactor.lease_renew_interval_secs \
                 ({lease_renew_interval_secs}), so one late renewal never loses a lease \
                 (got {lease_ttl_secs})"
            ),
        );
    }
}

fn check_retention(
    r: &RetentionConfig,
    prefix: &KeyPath,
    refused: &[Violation],
    out: &mut Vec<Violation>,
) {
    let RetentionConfig {
        enabled: _,
        retention_check_interval_secs,
        dry_run: _,
        traces_retention_days,
        logs_retention_days,
        metrics_retention_days,
        profiles_retention_days,
        grace_period_hours: _,
        timezone: _,
        snapshots_to_keep,
        tenant_overrides,
    } = r;
    let check = &mut Checker { out, prefix: prefix.clone() };
    check.at_least("retention_check_interval_secs", *retention_check_interval_secs, 1, "second");
    check.at_least("traces_retention_days", *traces_retention_days, 1, "day");
    check.at_least("logs_retention_days", *logs_retention_days, 1, "day");
    check.at_least("metrics_retention_days", *metrics_retention_days, 1, "day");
    check.at_least("profiles_retention_days", *profiles_retention_days, 1, "day");
    check.refused("timezone", refused);
    if *snapshots_to_keep < 1 {
        check.invalid(
            "snapshots_to_keep",
            "must be at least 1, so every table keeps a current snapshot (got 0)".to_string(),
        );
    }

    let mut seen_tenants: HashMap<&str, usize> = HashMap::new();
    for (i, t) in tenant_overrides.iter().enumerate() {
        let element = prefix.key("tenant_overrides").index(i);
        let check = &mut Checker { out: check.out, prefix: element.clone() };
        id_rules(check, "tenant_id", &t.tenant_id, &mut seen_tenants, i, "tenant_overrides");
        override_days(check, |s| t.days(s));
        let mut seen_datasets: HashMap<&str, usize> = HashMap::new();
        for (j, d) in t.dataset_overrides.iter().enumerate() {
            let check =
                &mut Checker { out: check.out, prefix: element.key("dataset_overrides").index(j) };
            id_rules(
                check,
                "dataset_id",
                &d.dataset_id,
                &mut seen_datasets,
                j,
                "dataset_overrides",
            );
            override_days(check, |s| d.days(s));
        }
    }
}

/// The id rule, and uniqueness of `id` among the `list` entries seen so far.
fn id_rules<'a>(
    check: &mut Checker<'_>,
    key: &str,
    id: &'a str,
    seen: &mut HashMap<&'a str, usize>,
    index: usize,
    list: &str,
) {
    if let Err(e) = validate_id(id) {
        check.invalid(key, e.to_string());
    }
    if let Some(first) = seen.get(id) {
        check.out.push(Violation {
            kind: ProblemKind::Duplicate,
            path: check.prefix.key(key),
            message: format!("`{id}` is listed twice; first at {list}[{first}]"),
        });
    } else {
        seen.insert(id, index);
    }
}

/// Overridden retention periods (`days` of each signal, when set) must be at least one day.
fn override_days(check: &mut Checker<'_>, days: impl Fn(Signal) -> Option<u32>) {
    for signal in Signal::ALL {
        if let Some(days) = days(signal) {
            check.at_least(&format!("{signal}_retention_days"), days, 1, "day");
        }
    }
}

fn check_orphans(o: &OrphanCleanupConfig, check: &mut Checker<'_>) {
    let OrphanCleanupConfig {
        enabled: _,
        grace_period_hours,
        cleanup_interval_hours,
        batch_size,
        dry_run: _,
        revalidate_before_delete: _,
        max_snapshot_age_hours,
        lifecycle_pause_secs,
    } = o;
    if *grace_period_hours < 1 {
        check.invalid(
            "grace_period_hours",
            "must be at least 1 hour, so a file of a write still in flight never looks orphaned \
             (got 0)"
                .to_string(),
        );
    }
    check.at_least("cleanup_interval_hours", *cleanup_interval_hours, 1, "hour");
    check.at_least("batch_size", *batch_size as u64, 1, "");
    check.at_least("max_snapshot_age_hours", *max_snapshot_age_hours, 1, "hour");
    if *lifecycle_pause_secs > MAX_LIFECYCLE_PAUSE_SECS {
        check.invalid(
            "lifecycle_pause_secs",
            format!(
                "must be at most {MAX_LIFECYCLE_PAUSE_SECS} seconds (got {lifecycle_pause_secs})"
            ),
        );
    }
}

/// Smallest sort memory budget: below it every batch would be a spilled run of its own.
const MIN_SORT_MEMORY_BUDGET_BYTES: u64 = 64 * 1024;

fn check_sort(s: &SortConfig, check: &mut Checker<'_>) {
    let SortConfig {
        enabled: _,
        traces: _,
        logs: _,
        metrics: _,
        profiles: _,
        memory_budget_bytes,
        spill_dir,
    } = s;
    for signal in Signal::ALL {
        sort_columns(check, signal, s.columns(signal));
    }
    check.at_least(
        "memory_budget_bytes",
        *memory_budget_bytes,
        MIN_SORT_MEMORY_BUDGET_BYTES,
        "byte",
    );
    if spill_dir.as_deref().is_some_and(|d| d.trim().is_empty()) {
        check.invalid(
            "spill_dir",
            "must not be empty; leave it unset for the system temp dir".to_string(),
        );
    }
}

/// Smallest row group the copy path may be told to copy: smaller ones are what compaction
/// exists to merge into larger ones.
const MIN_COPY_ROW_GROUP_BYTES: u64 = 1024 * 1024;

fn check_output(o: &OutputConfig, check: &mut Checker<'_>) {
    let OutputConfig {
        trace_id_bloom_filter: _,
        copy_row_groups: _,
        copy_min_row_group_bytes,
        tuned_encodings: _,
    } = o;
    check.at_least(
        "copy_min_row_group_bytes",
        *copy_min_row_group_bytes,
        MIN_COPY_ROW_GROUP_BYTES,
        "byte",
    );
}

fn check_admin(a: &AdminConfig, refused: &[Violation], check: &mut Checker<'_>) {
    let AdminConfig {
        enabled: _,
        token,
        token_file,
        protect_reads,
        max_body_bytes,
        max_concurrent_requests,
        max_concurrent_runs,
        file_token,
    } = a;
    match (token, token_file) {
        (Some(_), Some(_)) => check.invalid(
            "token_file",
            "set only one of compactor.admin.token and compactor.admin.token_file".to_string(),
        ),
        (Some(token), None) => {
            for message in token_problems(token) {
                check.invalid("token", message);
            }
        }
        (None, Some(file)) => {
            check.refused("token_file", refused);
            for message in file_token.iter().flat_map(token_problems) {
                check.invalid("token_file", format!("the token in {}: {message}", file.display()));
            }
        }
        (None, None) if *protect_reads => check.invalid(
            "protect_reads",
            "needs a token (compactor.admin.token or compactor.admin.token_file): without one \
             no read could ever be served"
                .to_string(),
        ),
        (None, None) => {}
    }
    check.at_least("max_body_bytes", *max_body_bytes, 1, "byte");
    if *max_body_bytes > MAX_BODY_BYTES_LIMIT {
        check.invalid(
            "max_body_bytes",
            format!("must be at most {MAX_BODY_BYTES_LIMIT} bytes (16 MiB) (got {max_body_bytes})"),
        );
    }
    check.at_least("max_concurrent_requests", *max_concurrent_requests as u64, 1, "");
    check.at_least("max_concurrent_runs", *max_concurrent_runs as u64, 1, "");
}

/// Sort columns must be columns of some table of the signal (in a layout the compactor knows),
/// each listed once.
fn sort_columns(check: &mut Checker<'_>, signal: Signal, columns: &[String]) {
    let known = crate::tables::known_columns(signal);
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    for (i, column) in columns.iter().enumerate() {
        if !names.contains(&column.as_str()) {
            let hint = match super::suggest::closest(column, names.iter().copied()) {
                Some(best) => format!("; did you mean `{best}`?"),
                None => format!(" (columns: {})", names.join(", ")),
            };
            check.invalid(
                signal.as_str(),
                format!("`{column}` is not a column of {signal} tables{hint}"),
            );
        } else if columns[..i].contains(column) {
            check.invalid(signal.as_str(), format!("`{column}` is listed twice"));
        }
    }
}

/// Longest pause between retention and the orphan cleanup that follows it: a longer one is
/// taken for a unit mistake (it would hold the retention scheduler for that long).
const MAX_LIFECYCLE_PAUSE_SECS: u64 = 3600;

fn check_storage(s: &StorageConfig, check: &mut Checker<'_>) {
    let StorageConfig {
        dsn,
        max_retries: _,
        retry_timeout_secs,
        request_timeout_secs,
        connect_timeout_secs,
        max_concurrent_requests,
        s3,
    } = s;
    if let Err(e) = StorageLocation::parse(dsn) {
        check.invalid("dsn", e.to_string());
    }
    check.at_least("retry_timeout_secs", *retry_timeout_secs, 1, "second");
    check.at_least("request_timeout_secs", *request_timeout_secs, 1, "second");
    check.at_least("connect_timeout_secs", *connect_timeout_secs, 1, "second");
    check.at_least("max_concurrent_requests", *max_concurrent_requests as u64, 1, "");
    let mut s3_check = Checker { out: check.out, prefix: check.prefix.key("s3") };
    if let Some(endpoint) = &s3.endpoint
        && let Err(e) = check_endpoint(endpoint)
    {
        s3_check.invalid("endpoint", e.to_string());
    }
    if s3.region.as_deref().is_some_and(|r| r.trim().is_empty()) {
        s3_check.invalid("region", "must not be empty".to_string());
    }
}

fn check_schema(s: &SchemaConfig, refused: &[Violation], check: &mut Checker<'_>) {
    let SchemaConfig { catalog_type: _, catalog_uri, catalog_name } = s;
    check.refused("catalog_type", refused);
    if let Err(e) = CatalogBackend::of(catalog_uri) {
        check.invalid("catalog_uri", e.to_string());
    }
    if catalog_name.trim().is_empty() {
        check.invalid("catalog_name", "must not be empty".to_string());
    }
}
