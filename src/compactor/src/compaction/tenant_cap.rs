//! A tenant's share of one compaction pass: at most `max_groups_per_tenant` groups and
//! `max_bytes_per_tenant` input bytes over all of its tables. Each table's plan is given the
//! groups its tenant's share still allows, most urgent first; the others are deferred to the
//! next pass, so one tenant's backlog cannot hold a pass (and every other tenant's next one)
//! for long.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use super::plan::{SkipReason, SkippedPartition, TablePlan};

/// How much compaction one tenant is given in one pass; `0` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantCap {
    /// Most groups, over all the tenant's tables.
    pub max_groups: usize,
    /// Most input bytes of those groups (a tenant's first group of a pass is never deferred,
    /// however large, so that no group waits forever).
    pub max_bytes: u64,
}

impl TenantCap {
    /// Whether the cap limits nothing.
    fn is_unlimited(self) -> bool {
        self.max_groups == 0 && self.max_bytes == 0
    }
}

/// What each tenant has been given so far in one pass: the compaction step's per-pass state,
/// shared by every table of the pass, whichever order they finish planning in.
#[derive(Debug, Default)]
pub struct TenantShares {
    cap: TenantCap,
    given: Mutex<HashMap<String, Given>>,
}

/// One tenant's share of a pass so far.
#[derive(Debug, Default, Clone, Copy)]
struct Given {
    groups: usize,
    bytes: u64,
    /// A group did not fit: the rest of the tenant's groups wait for the next pass, so that
    /// a smaller, less urgent group never overtakes a deferred one.
    full: bool,
}

impl Given {
    /// Takes a group of `bytes` when it fits under `cap`.
    fn take(&mut self, cap: TenantCap, bytes: u64) -> bool {
        let fits = !self.full
            && (cap.max_groups == 0 || self.groups < cap.max_groups)
            && (cap.max_bytes == 0
                || self.groups == 0
                || self.bytes.saturating_add(bytes) <= cap.max_bytes);
        if fits {
            self.groups += 1;
            self.bytes = self.bytes.saturating_add(bytes);
        } else {
            self.full = true;
        }
        fits
    }
}

impl TenantShares {
    /// A pass in which each tenant is given at most `cap`.
    pub fn new(cap: TenantCap) -> Self {
        Self { cap, given: Mutex::default() }
    }

    /// Keeps in `plan` (of a table of `tenant`) the groups the tenant's share still allows,
    /// most urgent first ([`urgency_order`]), and defers the others: they leave the plan,
    /// counted in its `deferred_groups` and `deferred_bytes`, and a candidate left without a
    /// group becomes a partition skipped for [`SkipReason::TenantCap`].
    pub(crate) fn admit(&self, tenant: &str, plan: &mut TablePlan) {
        if self.cap.is_unlimited() || plan.candidates.is_empty() {
            return;
        }
        let kept: HashSet<(usize, usize)> = {
            let mut given = self.given.lock().unwrap_or_else(|e| e.into_inner());
            let share = given.entry(tenant.to_string()).or_default();
            urgency_order(plan)
                .into_iter()
                .filter(|&(p, g)| share.take(self.cap, plan.candidates[p].groups[g].bytes))
                .collect()
        };
        defer(plan, |p, g| !kept.contains(&(p, g)));
    }
}

/// The groups of `plan` as (candidate, group) indices, most urgent first: the one merging
/// the most files, then the oldest partition, then the plan's order.
fn urgency_order(plan: &TablePlan) -> Vec<(usize, usize)> {
    let mut order: Vec<(usize, usize)> = plan
        .candidates
        .iter()
        .enumerate()
        .flat_map(|(p, c)| (0..c.groups.len()).map(move |g| (p, g)))
        .collect();
    order.sort_by_key(|&(p, g)| {
        let c = &plan.candidates[p];
        (std::cmp::Reverse(c.groups[g].files.len()), c.hour, p, g)
    });
    order
}

/// Removes from `plan` the groups `deferred` names, counting them, and makes its totals and
/// each candidate's expected file count agree with the groups left.
fn defer(plan: &mut TablePlan, deferred: impl Fn(usize, usize) -> bool) {
    let candidates = std::mem::take(&mut plan.candidates);
    for (p, mut c) in candidates.into_iter().enumerate() {
        let mut g = 0;
        c.groups.retain(|group| {
            let keep = !deferred(p, g);
            g += 1;
            if !keep {
                plan.deferred_groups += 1;
                plan.deferred_bytes += group.bytes;
            }
            keep
        });
        if c.groups.is_empty() {
            plan.skipped.push(SkippedPartition {
                hour_label: Some(c.hour_label.clone()),
                spec_id: c.spec_id,
                reason: SkipReason::TenantCap,
                files: c.files_before,
                small_files: c.small_files,
                delete_files: c.delete_files,
                delete_rows: c.delete_rows,
            });
            continue;
        }
        let grouped: usize = c.groups.iter().map(|g| g.files.len()).sum();
        let outputs: usize = c.groups.iter().map(|g| g.expected_output_files).sum();
        c.files_after = c.files_before - grouped + outputs;
        plan.candidates.push(c);
    }
    let groups: Vec<_> = plan.candidates.iter().flat_map(|c| c.groups.iter()).collect();
    let bytes = groups.iter().map(|g| g.bytes).sum();
    let rows = groups.iter().map(|g| g.rows).sum();
    let deletes = groups.iter().flat_map(|g| g.delete_files.iter()).collect::<BTreeSet<_>>().len();
    plan.files_before = plan.candidates.iter().map(|c| c.files_before).sum();
    plan.files_after = plan.candidates.iter().map(|c| c.files_after).sum();
    (plan.bytes_to_rewrite, plan.rows_to_rewrite, plan.delete_files_to_apply) =
        (bytes, rows, deletes);
}

#[cfg(test)]
mod tests;
