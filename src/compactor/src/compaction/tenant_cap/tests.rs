use common::partition::{TimePartition, hour_label};

use super::*;
use crate::compaction::plan::{FileGroup, Method, PartitionPlan};

const H: i64 = 473_352; // 2024-01-01T00Z
const MIB: u64 = 1024 * 1024;

/// A group of `files` small files of `mib` MiB in all.
fn group(hour: i64, files: usize, mib: u64) -> FileGroup {
    FileGroup {
        files: (0..files).map(|n| format!("file:///wh/t/data/{hour}/f{n}-{mib}.parquet")).collect(),
        bytes: mib * MIB,
        rows: mib * 100,
        expected_output_files: 1,
        expected_bytes: mib * MIB,
        delete_files: Vec::new(),
        min_rows: mib * 100,
    }
}

/// A plan whose candidates are `hours`, each with its groups as (files, MiB).
fn plan(hours: &[(i64, &[(usize, u64)])]) -> TablePlan {
    let candidates: Vec<PartitionPlan> = hours
        .iter()
        .map(|&(hour, groups)| {
            let groups: Vec<FileGroup> = groups.iter().map(|&(f, m)| group(hour, f, m)).collect();
            let files: usize = groups.iter().map(|g| g.files.len()).sum();
            PartitionPlan {
                partition: TimePartition::hour(hour),
                hour,
                hour_label: hour_label(hour),
                spec_id: 0,
                other_spec_files: 0,
                files_before: files + 1,
                files_after: 1 + groups.len(),
                bytes: groups.iter().map(|g| g.bytes).sum(),
                rows: groups.iter().map(|g| g.rows).sum(),
                small_files: files,
                delete_files: 0,
                delete_rows: 0,
                files_with_deletes_rewritten: 0,
                method: Method::Rewrite,
                groups,
            }
        })
        .collect();
    let mut plan = TablePlan { partitions: candidates.len(), candidates, ..TablePlan::default() };
    defer(&mut plan, |_, _| false);
    plan
}

/// Each candidate's hour and the file counts of its groups.
fn kept(plan: &TablePlan) -> Vec<(i64, Vec<usize>)> {
    plan.candidates
        .iter()
        .map(|c| (c.hour, c.groups.iter().map(|g| g.files.len()).collect()))
        .collect()
}

#[test]
fn no_cap_changes_nothing() {
    let shares = TenantShares::new(TenantCap::default());
    let mut p = plan(&[(H, &[(10, 20), (5, 10)]), (H + 1, &[(8, 16)])]);
    let before = p.clone();
    shares.admit("acme", &mut p);
    assert_eq!(p, before);
}

#[test]
fn a_tenant_s_groups_are_counted_over_all_its_tables() {
    let shares = TenantShares::new(TenantCap { max_groups: 3, max_bytes: 0 });
    let mut first = plan(&[(H, &[(10, 20)]), (H + 1, &[(10, 20)])]);
    let mut second = plan(&[(H, &[(10, 20)]), (H + 1, &[(10, 20)])]);
    let mut other = plan(&[(H, &[(10, 20)]), (H + 1, &[(10, 20)]), (H + 2, &[(10, 20)])]);
    shares.admit("acme", &mut first);
    shares.admit("acme", &mut second);
    shares.admit("globex", &mut other);
    assert_eq!((first.candidates.len(), first.deferred_groups), (2, 0));
    // The second table gets the tenant's third group, its oldest hour; the other is deferred.
    assert_eq!(kept(&second), [(H, vec![10])]);
    assert_eq!((second.deferred_groups, second.deferred_bytes), (1, 20 * MIB));
    let skipped = &second.skipped[0];
    assert_eq!(skipped.reason, SkipReason::TenantCap);
    assert_eq!(skipped.hour_label.as_deref(), Some(hour_label(H + 1).as_str()));
    assert_eq!((skipped.files, skipped.small_files), (11, 10));
    // Another tenant has a share of its own.
    assert_eq!((other.candidates.len(), other.deferred_groups), (3, 0));
    // Totals are those of the groups left.
    assert_eq!((second.files_before, second.files_after), (11, 2));
    assert_eq!((second.bytes_to_rewrite, second.rows_to_rewrite), (20 * MIB, 2000));
}

#[test]
fn the_groups_merging_the_most_files_go_first_then_the_oldest() {
    let shares = TenantShares::new(TenantCap { max_groups: 3, max_bytes: 0 });
    let mut p = plan(&[(H, &[(4, 8)]), (H + 1, &[(12, 24), (6, 12)]), (H + 2, &[(6, 12)])]);
    shares.admit("acme", &mut p);
    // 12 files, then the two groups of 6, the older first; the group of 4 waits.
    assert_eq!(kept(&p), [(H + 1, vec![12, 6]), (H + 2, vec![6])]);
    assert_eq!(p.deferred_groups, 1);
    assert_eq!(p.skipped_by_reason().get(&SkipReason::TenantCap), Some(&1));
}

#[test]
fn a_partition_partly_deferred_expects_the_files_of_its_groups_left() {
    let shares = TenantShares::new(TenantCap { max_groups: 1, max_bytes: 0 });
    let mut p = plan(&[(H, &[(12, 120), (8, 80)])]);
    assert_eq!(p.candidates[0].files_after, 3);
    shares.admit("acme", &mut p);
    assert_eq!(kept(&p), [(H, vec![12])]);
    // 21 files: 12 merged into one, 8 small ones and the large one left.
    let c = &p.candidates[0];
    assert_eq!((c.files_before, c.files_after), (21, 10));
    assert_eq!((p.files_before, p.files_after, p.deferred_bytes), (21, 10, 80 * MIB));
    assert!(p.skipped.is_empty());
}

#[test]
fn a_byte_cap_admits_a_first_group_larger_than_itself_and_keeps_the_order() {
    let shares = TenantShares::new(TenantCap { max_groups: 0, max_bytes: 100 * MIB });
    let mut first = plan(&[(H, &[(20, 120)])]);
    shares.admit("acme", &mut first);
    assert_eq!(first.deferred_groups, 0, "a group larger than the cap still goes first");
    let mut second = plan(&[(H, &[(3, 1)])]);
    shares.admit("acme", &mut second);
    assert_eq!(second.deferred_groups, 1);

    let shares = TenantShares::new(TenantCap { max_groups: 0, max_bytes: 100 * MIB });
    let mut p = plan(&[(H, &[(10, 60)]), (H + 1, &[(9, 60)]), (H + 2, &[(2, 1)])]);
    shares.admit("acme", &mut p);
    // The second group does not fit; the small third one does not overtake it.
    assert_eq!(kept(&p), [(H, vec![10])]);
    assert_eq!((p.deferred_groups, p.deferred_bytes), (2, 61 * MIB));
}
