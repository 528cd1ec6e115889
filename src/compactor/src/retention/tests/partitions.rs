//! Which partitions are expired: exactly at the cutoff, one second later, and files that are
//! never dropped.

use common::partition::TimePartition;
use iceberg::spec::DataContentType;

use super::{at, hour_start};
use crate::live_files::LiveFile;
use crate::retention::partitions::{SkipReason, evaluate, is_expired};

fn file(path: &str, hour: Option<i64>, content: DataContentType, spec_id: i32) -> LiveFile {
    LiveFile {
        path: path.into(),
        content,
        spec_id,
        partition: hour.map(TimePartition::hour),
        size: 100,
        records: 10,
        row_groups: Some(1),
        sort_order_id: None,
        sequence_number: Some(1),
        partition_value: iceberg::spec::Struct::empty(),
        referenced_data_file: None,
        equality_ids: None,
    }
}

#[test]
fn an_hour_ending_exactly_at_the_cutoff_is_expired_one_second_later_is_not() {
    let hour = 473_352;
    let end = hour_start(hour + 1);
    let (this, next) = (TimePartition::hour(hour), TimePartition::hour(hour + 1));
    assert!(is_expired(this, end));
    assert!(!is_expired(this, end - chrono::Duration::seconds(1)));
    assert!(!is_expired(next, end));
    assert!(is_expired(this, end + chrono::Duration::milliseconds(1)));
    // A day ends with its last hour.
    let day = TimePartition::day(hour / 24);
    assert!(!is_expired(day, hour_start(hour + 23)));
    assert!(is_expired(day, hour_start(hour + 24)));
    assert!(!is_expired(TimePartition::hour(i64::MAX), at("2026-01-01T00:00:00Z")));
}

#[test]
fn evaluation_groups_by_hour_and_never_drops_what_it_cannot_interpret() {
    let base = 473_352;
    let files = [
        file("a1", Some(base), DataContentType::Data, 0),
        file("a2", Some(base), DataContentType::Data, 0),
        file("b1", Some(base + 1), DataContentType::Data, 0),
        file("b-del", Some(base + 1), DataContentType::PositionDeletes, 0),
        file("c1", Some(base + 2), DataContentType::Data, 0),
        file("other-spec", None, DataContentType::Data, 3),
        file("no-hour", None, DataContentType::Data, 0),
    ];
    // Hours base and base+1 are expired, base+2 is not.
    let eval = evaluate(&files, hour_start(base + 2));
    let hours: Vec<i64> = eval.partitions.iter().map(|p| p.hour).collect();
    assert_eq!(hours, [base, base + 1, base + 2]);
    let expired: Vec<&str> = eval.expired.iter().map(|p| p.hour_label.as_str()).collect();
    assert_eq!(expired, ["2024-01-01-00", "2024-01-01-01"]);
    // An expired hour goes whole: its delete file with its data files.
    assert_eq!(eval.paths_to_drop(), ["a1", "a2", "b1", "b-del"]);
    let p = &eval.expired[0];
    assert_eq!((p.data_files, p.rows, p.bytes), (2, 20, 200));
    let p = &eval.expired[1];
    assert_eq!((p.data_files, p.delete_files, p.rows), (1, 1, 10));

    assert_eq!(eval.skipped.len(), 1, "{:?}", eval.skipped);
    let uninterpretable = &eval.skipped[0];
    assert_eq!(uninterpretable.reason, SkipReason::Uninterpretable);
    assert_eq!((uninterpretable.files, uninterpretable.spec_ids.clone()), (2, vec![0, 3]));

    // Nothing is expired before the first hour ends.
    let eval = evaluate(&files, hour_start(base + 1) - chrono::Duration::seconds(1));
    assert!(eval.expired.is_empty() && eval.paths_to_drop().is_empty());
}
