use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

use super::*;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("ts", DataType::Int64, false),
        Field::new("payload", DataType::Utf8, false),
    ]))
}

/// `n` rows from a seed: keys from a small set with some nulls, timestamps shuffled.
fn batch(seed: u64, n: usize) -> RecordBatch {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut keys, mut ts, mut payload) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let r = next();
        keys.push((r % 7 != 0).then(|| format!("k{:02}", r % 23)));
        ts.push((next() % 1000) as i64);
        payload.push(format!("{seed}-{i}"));
    }
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from(keys)),
            Arc::new(Int64Array::from(ts)),
            Arc::new(StringArray::from(payload)),
        ],
    )
    .unwrap()
}

fn order(nulls_first: bool, descending: bool) -> Vec<SortColumn> {
    vec![
        SortColumn { column: "key".into(), descending, nulls_first },
        SortColumn { column: "ts".into(), descending: false, nulls_first: true },
    ]
}

type Row = (Option<String>, i64, String);

fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let keys = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        let ts = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        let payload = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..b.num_rows() {
            let key = keys.is_valid(i).then(|| keys.value(i).to_string());
            out.push((key, ts.value(i), payload.value(i).to_string()));
        }
    }
    out
}

fn multiset(rows: &[Row]) -> BTreeMap<&Row, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r).or_insert(0) += 1;
    }
    m
}

/// Whether `rows` are ordered by key (nulls placed as asked, direction as asked), then ts.
fn is_sorted(rows: &[Row], nulls_first: bool, descending: bool) -> bool {
    let rank = |r: &Row| {
        let null_rank = if r.0.is_none() == nulls_first { 0 } else { 1 };
        (null_rank, r.0.clone())
    };
    rows.windows(2).all(|w| {
        let (a, b) = (rank(&w[0]), rank(&w[1]));
        let key_order = if a.0 != b.0 {
            a.0.cmp(&b.0)
        } else if descending {
            b.1.cmp(&a.1)
        } else {
            a.1.cmp(&b.1)
        };
        key_order.then(w[0].1.cmp(&w[1].1)).is_le()
    })
}

fn sort_all(
    input: &[RecordBatch],
    order: &[SortColumn],
    budget: usize,
    dir: &std::path::Path,
) -> (Vec<RecordBatch>, usize) {
    let (out, spilled, _) = sort_spilling(input, order, budget, dir, false);
    (out, spilled)
}

/// [`sort_all`], its runs compressed when `compress`; also returns the bytes of the runs
/// spilled before the merge.
fn sort_spilling(
    input: &[RecordBatch],
    order: &[SortColumn],
    budget: usize,
    dir: &std::path::Path,
    compress: bool,
) -> (Vec<RecordBatch>, usize, u64) {
    let settings = SortSettings { memory_budget_bytes: budget, spill_dir: dir.to_path_buf() };
    let sort = ExternalSort::new(schema(), order, settings, 1000).unwrap();
    let mut sort = sort.compress_spills(compress);
    for b in input {
        sort.push(b).unwrap();
    }
    let spilled = sort.spilled_runs();
    let spill_bytes = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().metadata().unwrap().len()).sum())
        .unwrap_or(0);
    let mut sorted = sort.finish().unwrap();
    let mut out = Vec::new();
    while let Some(b) = sorted.next_batch().unwrap() {
        assert!(b.num_rows() <= 1000);
        assert_eq!(b.schema(), schema());
        out.push(b);
    }
    (out, spilled, spill_bytes)
}

#[test]
fn in_memory_output_is_sorted_and_holds_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<RecordBatch> = (0..5).map(|s| batch(s, 700)).collect();
    let (out, spilled) = sort_all(&input, &order(true, false), usize::MAX, dir.path());
    assert_eq!(spilled, 0);
    let (before, after) = (rows(&input), rows(&out));
    assert!(is_sorted(&after, true, false));
    assert_eq!(multiset(&before), multiset(&after));
    assert_eq!(std::fs::read_dir(dir.path()).map_or(0, |d| d.count()), 0, "nothing spilled");
}

#[test]
fn a_tiny_budget_spills_runs_and_still_sorts_every_row_compressed_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("spill");
    let input: Vec<RecordBatch> = (0..12).map(|s| batch(s, 500)).collect();
    let mut spill_bytes = Vec::new();
    for compress in [false, true] {
        let (out, spilled, bytes) =
            sort_spilling(&input, &order(true, false), 16 * 1024, &spill, compress);
        assert!(spilled >= 3, "{spilled} runs");
        let (before, after) = (rows(&input), rows(&out));
        assert_eq!(after.len(), 6000);
        assert!(is_sorted(&after, true, false));
        assert_eq!(multiset(&before), multiset(&after));
        assert_eq!(std::fs::read_dir(&spill).unwrap().count(), 0, "spill files are removed");
        spill_bytes.push(bytes);
    }
    assert!(spill_bytes[1] < spill_bytes[0], "compressed runs are smaller: {spill_bytes:?}");
}

#[test]
fn nulls_and_direction_follow_the_order_in_memory_and_spilled() {
    let input: Vec<RecordBatch> = (0..6).map(|s| batch(s, 400)).collect();
    for (nulls_first, descending) in [(true, false), (false, false), (true, true), (false, true)] {
        for budget in [usize::MAX, 16 * 1024] {
            let dir = tempfile::tempdir().unwrap();
            let (out, _) = sort_all(&input, &order(nulls_first, descending), budget, dir.path());
            let after = rows(&out);
            assert!(is_sorted(&after, nulls_first, descending), "{nulls_first} {descending}");
            let first_null = after.iter().position(|r| r.0.is_none()).unwrap();
            let last_null = after.iter().rposition(|r| r.0.is_none()).unwrap();
            if nulls_first {
                assert_eq!(first_null, 0);
            } else {
                assert_eq!(last_null, after.len() - 1);
            }
        }
    }
}

#[test]
fn spill_files_are_removed_when_a_sort_is_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let settings = SortSettings { memory_budget_bytes: 1024, spill_dir: dir.path().into() };
    let mut sort = ExternalSort::new(schema(), &order(true, false), settings, 100).unwrap();
    for s in 0..3 {
        sort.push(&batch(s, 300)).unwrap();
    }
    assert_eq!(sort.spilled_runs(), 3);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3, "one file per run");
    drop(sort);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // A merge given up half-way removes them too.
    let settings = SortSettings { memory_budget_bytes: 1024, spill_dir: dir.path().into() };
    let mut sort = ExternalSort::new(schema(), &order(true, false), settings, 100).unwrap();
    for s in 0..3 {
        sort.push(&batch(s, 300)).unwrap();
    }
    let mut sorted = sort.finish().unwrap();
    sorted.next_batch().unwrap().unwrap();
    drop(sorted);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_missing_sort_column_is_named() {
    let settings = SortSettings { memory_budget_bytes: 1024, spill_dir: "/nonexistent".into() };
    let order = [SortColumn { column: "nope".into(), descending: false, nulls_first: true }];
    let err = ExternalSort::new(schema(), &order, settings, 100).unwrap_err();
    assert_eq!(err.to_string(), "the rows have no column `nope` to sort by");
}

#[test]
fn more_runs_than_one_merge_reads_are_merged_first_and_still_sort_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<RecordBatch> = (0..150).map(|s| batch(s, 40)).collect();
    let (out, spilled) = sort_all(&input, &order(true, false), 1, dir.path());
    assert_eq!(spilled, 150, "every batch past the budget is a run");
    assert!(spilled > MAX_MERGE_FAN_IN);
    let (before, after) = (rows(&input), rows(&out));
    assert!(is_sorted(&after, true, false));
    assert_eq!(multiset(&before), multiset(&after));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "spill files are removed");
}

#[test]
fn premerges_leave_at_most_the_fan_in_and_never_merge_more_at_once() {
    for runs in 0..400 {
        let (mut left, mut merges) = (runs, 0);
        while let Some(width) = premerge_width(left) {
            assert!((2..=MAX_MERGE_FAN_IN).contains(&width), "{runs} runs: width {width}");
            left = left - width + 1;
            merges += 1;
        }
        assert_eq!(left, runs.min(MAX_MERGE_FAN_IN), "{runs} runs");
        if runs <= MAX_MERGE_FAN_IN {
            assert_eq!(merges, 0);
        }
    }
}
