use common::partition::hour_label;
use iceberg::spec::{Literal, Struct};

use super::*;
use crate::compaction::output_ratio::RatioSource;

const ASSUMED: OutputRatio = OutputRatio::ASSUMED;

const H: i64 = 473_352; // 2024-01-01T00Z
const MIB: u64 = 1024 * 1024;
/// Spec 0, partitioned by hour.
const HOURLY: OutputSpec = OutputSpec { spec_id: 0, grain: Some(Grain::Hour) };

fn settings() -> PlanSettings {
    PlanSettings {
        target_file_size_bytes: 128 * MIB,
        small_file_threshold_bytes: 96 * MIB,
        min_input_files: 5,
        quiet_period: Duration::from_secs(3600),
        copy_min_row_group_bytes: Some(8 * MIB),
        delete_file_threshold: 0,
        delete_ratio_percent: 30,
    }
}

/// `trace_id` ascending, recorded as the table's order 1.
fn order() -> OutputOrder {
    OutputOrder {
        columns: vec![super::super::order::SortColumn {
            column: "trace_id".into(),
            descending: false,
            nulls_first: true,
        }],
        source: super::super::order::OrderSource::Table,
        sort_order_id: Some(1),
        table_order_ignored: None,
    }
}

fn file(hour: i64, n: usize, size: u64) -> LiveFile {
    LiveFile {
        path: format!("file:///wh/t/data/hour={}/f{n}.parquet", hour_label(hour)),
        content: DataContentType::Data,
        spec_id: 0,
        partition: Some(TimePartition::hour(hour)),
        size,
        records: size / 100,
        row_groups: Some(usize::try_from(size.div_ceil(MIB)).unwrap()),
        sort_order_id: None,
        sequence_number: Some(1),
        partition_value: Struct::from_iter([Some(Literal::int(i32::try_from(hour).unwrap()))]),
        referenced_data_file: None,
        equality_ids: None,
    }
}

/// `now` such that hour `h` ended exactly `secs_after_end` seconds ago.
fn at(h: i64, secs_after_end: i64) -> DateTime<Utc> {
    DateTime::from_timestamp((h + 1) * 3600 + secs_after_end, 0).unwrap()
}

#[test]
fn small_files_of_a_quiet_hour_pack_into_target_sized_groups() {
    let files: Vec<LiveFile> = (0..20).map(|n| file(H, n, 10 * MIB)).collect();
    let p = plan(&files, 0, &settings(), at(H, 3600));
    assert_eq!(p.partitions, 1);
    let c = &p.candidates[0];
    assert_eq!((c.hour_label.as_str(), c.files_before, c.small_files), ("2024-01-01-00", 20, 20));
    // 200 MiB of 10 MiB files into 128 MiB bins: 12 + 8 files.
    let sizes: Vec<usize> = c.groups.iter().map(|g| g.files.len()).collect();
    assert_eq!(sizes, [12, 8]);
    assert!(c.groups.iter().all(|g| g.bytes <= 128 * MIB && g.expected_output_files == 1));
    assert_eq!((c.files_after, p.files_before, p.files_after, p.file_reduction()), (2, 20, 2, 18));
    assert_eq!(p.bytes_to_rewrite, 200 * MIB);
    assert_eq!(p.rows_to_rewrite, files.iter().map(|f| f.records).sum::<u64>());
    // Every input appears in exactly one group.
    let mut grouped: Vec<&String> = c.groups.iter().flat_map(|g| &g.files).collect();
    grouped.sort();
    grouped.dedup();
    assert_eq!(grouped.len(), 20);
}

#[test]
fn the_quiet_period_boundary_is_exact() {
    let files: Vec<LiveFile> = (0..6).map(|n| file(H, n, MIB)).collect();
    let early = plan(&files, 0, &settings(), at(H, 3599));
    assert_eq!(early.skipped[0].reason, SkipReason::ActiveHour);
    assert!(early.candidates.is_empty());
    let on_time = plan(&files, 0, &settings(), at(H, 3600));
    assert_eq!(on_time.candidates.len(), 1);
}

#[test]
fn large_files_stay_and_too_few_small_files_are_skipped() {
    let mut files: Vec<LiveFile> = (0..4).map(|n| file(H, n, MIB)).collect();
    files.push(file(H, 9, 120 * MIB));
    let p = plan(&files, 0, &settings(), at(H, 7200));
    assert_eq!(p.skipped[0].reason, SkipReason::TooFewSmallFiles);
    assert_eq!((p.skipped[0].files, p.skipped[0].small_files), (5, 4));

    files.push(file(H, 5, MIB));
    let p = plan(&files, 0, &settings(), at(H, 7200));
    let c = &p.candidates[0];
    // The 120 MiB file is not an input; it stays beside the one new file.
    assert_eq!((c.files_before, c.files_after, c.small_files), (6, 2, 5));
    assert!(!c.groups[0].files.iter().any(|f| f.ends_with("f9.parquet")));
}

#[test]
fn partitions_specs_and_deletes_are_never_mixed() {
    let mut files: Vec<LiveFile> = Vec::new();
    files.extend((0..6).map(|n| file(H, n, MIB)));
    files.extend((0..6).map(|n| file(H + 1, n, MIB)));
    // A day of an older spec cannot go into one hour of the current one.
    let day = Some(TimePartition::day(H / 24));
    files.extend((0..6).map(|n| LiveFile { spec_id: 1, partition: day, ..file(H + 2, n, MIB) }));
    files.extend((0..6).map(|n| LiveFile { partition: None, ..file(H + 3, n, MIB) }));
    files.extend((0..6).map(|n| file(H + 4, n, MIB)));
    // A delete file of the other spec's day applies to nothing of spec 0.
    files.push(LiveFile {
        content: DataContentType::PositionDeletes,
        spec_id: 1,
        partition: day,
        sequence_number: Some(5),
        ..file(H + 2, 99, 100)
    });
    let p = plan(&files, 0, &settings(), at(H + 10, 0));
    assert_eq!(p.partitions, 5);
    let hours: Vec<&str> = p.candidates.iter().map(|c| c.hour_label.as_str()).collect();
    assert_eq!(hours, ["2024-01-01-00", "2024-01-01-01", "2024-01-01-04"]);
    assert!(p.candidates.iter().all(|c| c.delete_files == 0));
    let day_skip = p.skipped.iter().find(|s| s.reason == SkipReason::OtherPartitionSpec).unwrap();
    assert_eq!(day_skip.delete_files, 1);
    for c in &p.candidates {
        let prefix = format!("hour={}/", c.hour_label);
        assert!(c.groups.iter().flat_map(|g| &g.files).all(|f| f.contains(&prefix)));
    }
    let reasons = p.skipped_by_reason();
    assert_eq!(reasons.get(&SkipReason::OtherPartitionSpec), Some(&1));
    assert_eq!(reasons.get(&SkipReason::UninterpretablePartition), Some(&1));
}

#[test]
fn an_empty_table_plans_nothing() {
    let p = plan(&[], 0, &settings(), at(H, 0));
    assert_eq!(p, TablePlan::default());
    assert_eq!(p.file_reduction(), 0);
}

#[test]
fn sorted_plans_take_a_partitions_small_files_as_one_group_of_several_outputs() {
    let mut files: Vec<LiveFile> = (0..20).map(|n| file(H, n, 10 * MIB)).collect();
    files.push(file(H, 99, 100 * MIB));
    let p = plan_ordered(&files, HOURLY, &settings(), at(H, 3600), Some(&order()), ASSUMED);
    let c = &p.candidates[0];
    assert_eq!(c.groups.len(), 1, "one group: sorted across the partition's new files");
    let g = &c.groups[0];
    assert_eq!(c.method, Method::Sort);
    assert_eq!(g.files.len(), 20, "large files stay out");
    assert!(g.files.is_sorted());
    assert_eq!((g.bytes, g.expected_output_files), (200 * MIB, 2));
    assert_eq!((c.files_before, c.files_after), (21, 3));

    let one = [file(H, 0, MIB)];
    let settings = PlanSettings { min_input_files: 1, ..settings() };
    let p = plan_ordered(&one, HOURLY, &settings, at(H, 3600), Some(&order()), ASSUMED);
    assert!(p.candidates.is_empty(), "one file rewrites nothing useful");
}

#[test]
fn groups_are_sized_by_expected_output_bytes_but_copies_by_their_own() {
    // 0.7 output bytes per input byte: 18 files of 10 MiB (126 MiB written) fill a 128 MiB
    // file, where 12 would only fill 0.66 of it.
    let ratio = OutputRatio { ratio: 0.7, source: RatioSource::Sample };
    let files: Vec<LiveFile> = (0..20).map(|n| file(H, n, 10 * MIB)).collect();
    let p = plan_ordered(&files, HOURLY, &settings(), at(H, 3600), None, ratio);
    assert_eq!(p.output_ratio, ratio);
    let c = &p.candidates[0];
    assert_eq!(c.groups.iter().map(|g| g.files.len()).collect::<Vec<_>>(), [18, 2]);
    assert_eq!(c.groups[0].expected_bytes, 126 * MIB);
    assert_eq!(c.groups[0].planned_output(), PlannedOutput { files: 1, bytes: Some(126 * MIB) });
    assert_eq!(c.files_after, 2);

    // Sorted: one group, 140 MiB expected, so two files.
    let p = plan_ordered(&files, HOURLY, &settings(), at(H, 3600), Some(&order()), ratio);
    let g = &p.candidates[0].groups[0];
    assert_eq!((g.expected_bytes, g.expected_output_files), (140 * MIB, 2));

    // Copied row groups keep their bytes whatever the ratio.
    let large = |n| LiveFile { row_groups: Some(1), ..file(H, n, 10 * MIB) };
    let files: Vec<LiveFile> = (0..20).map(large).collect();
    let p = plan_ordered(&files, HOURLY, &settings(), at(H, 3600), None, ratio);
    let c = &p.candidates[0];
    assert_eq!(c.method, Method::Copy);
    assert_eq!(c.groups.iter().map(|g| g.files.len()).collect::<Vec<_>>(), [12, 8]);
    assert_eq!(c.groups[0].expected_bytes, c.groups[0].bytes);
}

#[test]
fn inputs_of_large_row_groups_are_copied_unless_the_order_would_be_lost() {
    // 10 files of 10 MiB in one 10 MiB row group each: at the 8 MiB minimum.
    let large = |n| LiveFile { row_groups: Some(1), ..file(H, n, 10 * MIB) };
    let files: Vec<LiveFile> = (0..10).map(large).collect();
    let p = plan(&files, 0, &settings(), at(H, 3600));
    let c = &p.candidates[0];
    assert_eq!(c.method, Method::Copy);
    assert_eq!(c.groups.iter().map(|g| g.files.len()).collect::<Vec<_>>(), [10], "bin-packed");

    // Ordered output: copied only when every input already records the order.
    let sorted = |n| LiveFile { sort_order_id: Some(1), ..large(n) };
    let files: Vec<LiveFile> = (0..10).map(sorted).collect();
    let p = plan_ordered(&files, HOURLY, &settings(), at(H, 3600), Some(&order()), ASSUMED);
    assert_eq!(p.candidates[0].method, Method::Copy);
    let mut files = files;
    files[3].sort_order_id = None;
    let p = plan_ordered(&files, HOURLY, &settings(), at(H, 3600), Some(&order()), ASSUMED);
    assert_eq!(p.candidates[0].method, Method::Sort, "one unsorted input: sort them all");

    // One input of small row groups, one with no split offsets, or copying off: decoded.
    for change in
        [|f: &mut LiveFile| f.row_groups = Some(4), |f: &mut LiveFile| f.row_groups = None]
    {
        let mut files: Vec<LiveFile> = (0..10).map(large).collect();
        change(&mut files[0]);
        let p = plan(&files, 0, &settings(), at(H, 3600));
        assert_eq!(p.candidates[0].method, Method::Rewrite);
    }
    let off = PlanSettings { copy_min_row_group_bytes: None, ..settings() };
    let files: Vec<LiveFile> = (0..10).map(large).collect();
    assert_eq!(plan(&files, 0, &off, at(H, 3600)).candidates[0].method, Method::Rewrite);
}

#[test]
fn a_day_partition_is_quiet_once_its_day_has_ended() {
    let day = TimePartition::day(H / 24);
    let files: Vec<LiveFile> =
        (0..6).map(|n| LiveFile { partition: Some(day), ..file(H, n, MIB) }).collect();
    // One hour into the day's last hour, it is still active; a quiet period after its end, not.
    let active = plan(&files, 0, &settings(), at(H + 23, -1));
    assert_eq!(active.skipped[0].reason, SkipReason::ActiveHour);
    assert_eq!(active.skipped[0].hour_label.as_deref(), Some("2024-01-01"));
    let quiet = plan(&files, 0, &settings(), at(H + 23, 3600));
    let c = &quiet.candidates[0];
    assert_eq!((c.partition, c.hour, c.hour_label.as_str()), (day, H, "2024-01-01"));
}

#[test]
fn files_of_an_older_spec_move_into_the_partition_that_holds_them_whatever_their_size() {
    // The table went from hourly (spec 0) to daily (spec 1) partitions: two hours of the old
    // spec, one of them a single large file, and three small files of the new spec's day.
    let daily = OutputSpec { spec_id: 1, grain: Some(Grain::Day) };
    let day = TimePartition::day(H / 24);
    let mut files = vec![file(H, 0, 200 * MIB), file(H + 5, 1, MIB), file(H + 5, 2, MIB)];
    files.extend((3..6).map(|n| LiveFile { spec_id: 1, partition: Some(day), ..file(H, n, MIB) }));
    let p = plan_ordered(&files, daily, &settings(), at(H + 23, 3600), None, ASSUMED);
    assert_eq!(p.skipped, []);
    let c = &p.candidates[0];
    assert_eq!((c.partition, c.spec_id, c.other_spec_files), (day, 1, 3));
    assert_eq!(c.method, Method::Rewrite, "no row-group copy across specs");
    let grouped: usize = c.groups.iter().map(|g| g.files.len()).sum();
    assert_eq!(grouped, 6, "the large file of the old spec is rewritten too");

    // One file of an older spec alone is still worth rewriting; one of the current spec is not.
    let lone = [file(H, 0, MIB)];
    let p = plan_ordered(
        &lone,
        OutputSpec { spec_id: 7, grain: Some(Grain::Hour) },
        &settings(),
        at(H, 3600),
        None,
        ASSUMED,
    );
    assert_eq!((p.candidates.len(), p.candidates[0].files_after), (1, 1));
    assert!(plan(&lone, 0, &settings(), at(H, 3600)).candidates.is_empty());
    // Without a time field in the current spec nothing of an older spec moves.
    let none = OutputSpec { spec_id: 7, grain: None };
    let p = plan_ordered(&lone, none, &settings(), at(H, 3600), None, ASSUMED);
    assert_eq!(p.skipped[0].reason, SkipReason::OtherPartitionSpec);
}

/// A delete file of `content` in hour `hour`, with `records` rows, scoped to `scoped` when set.
fn delete(content: DataContentType, hour: i64, records: u64, scoped: Option<&str>) -> LiveFile {
    LiveFile {
        path: format!("file:///wh/t/data/hour={}/delete-{records}.parquet", hour_label(hour)),
        content,
        records,
        sequence_number: Some(2),
        referenced_data_file: scoped.map(str::to_string),
        row_groups: None,
        ..file(hour, 0, 1000)
    }
}

#[test]
fn deletes_are_applied_by_the_rewrite_of_the_files_they_apply_to() {
    let mut files: Vec<LiveFile> = (0..6).map(|n| file(H, n, MIB)).collect();
    files.push(file(H, 9, 120 * MIB));
    let pos = delete(DataContentType::PositionDeletes, H, 3, None);
    files.push(pos.clone());
    let p = plan(&files, 0, &settings(), at(H, 7200));
    let c = &p.candidates[0];
    assert_eq!((c.delete_files, c.delete_rows, c.files_with_deletes_rewritten), (1, 3, 0));
    assert_eq!(c.method, Method::Rewrite, "never copied: a copy cannot apply deletes");
    let g = &c.groups[0];
    assert_eq!(g.delete_files, std::slice::from_ref(&pos.path));
    assert_eq!(g.min_rows, g.rows - 3);
    assert_eq!((p.delete_files, p.delete_files_to_apply), (1, 1));

    // An equality delete may remove any number of rows.
    files.push(delete(DataContentType::EqualityDeletes, H, 2, None));
    let p = plan(&files, 0, &settings(), at(H, 7200));
    assert_eq!(p.candidates[0].groups[0].min_rows, 0);
    assert_eq!(p.candidates[0].delete_files, 2);
}

#[test]
fn a_large_file_is_rewritten_for_its_deletes_past_a_threshold() {
    let big = file(H, 0, 120 * MIB);
    let records = big.records;
    let scoped = |percent: u64| {
        delete(
            DataContentType::PositionDeletes,
            H,
            (records * percent).div_ceil(100),
            Some(&big.path),
        )
    };
    // 10% of its rows deleted: below the default 30%.
    let p = plan(&[big.clone(), scoped(10)], 0, &settings(), at(H, 7200));
    assert!(p.candidates.is_empty());
    assert_eq!((p.skipped[0].reason, p.skipped[0].delete_files), (SkipReason::TooFewSmallFiles, 1));
    // 30%: the one file is rewritten alone, its deletes applied.
    let p = plan(&[big.clone(), scoped(30)], 0, &settings(), at(H, 7200));
    let c = &p.candidates[0];
    assert_eq!((c.files_with_deletes_rewritten, c.files_before, c.files_after), (1, 1, 1));
    // A partition-scoped delete's rows are not known to be the file's: only the count counts.
    let wide = delete(DataContentType::PositionDeletes, H, records, None);
    assert!(plan(&[big.clone(), wide.clone()], 0, &settings(), at(H, 7200)).candidates.is_empty());
    let by_count = PlanSettings { delete_file_threshold: 1, ..settings() };
    let p = plan(&[big.clone(), wide], 0, &by_count, at(H, 7200));
    assert_eq!(p.candidates[0].files_with_deletes_rewritten, 1);
    // A delete older than the file does not apply to it.
    let older = LiveFile { sequence_number: Some(1), ..scoped(50) };
    let newer_big = LiveFile { sequence_number: Some(2), ..big };
    assert!(plan(&[newer_big, older], 0, &settings(), at(H, 7200)).candidates.is_empty());
}
