//! The `total-*` fields of a snapshot summary, which iceberg-rust computes only privately.

use std::collections::HashMap;

/// Each running total with the summary fields that increase and decrease it.
const TOTALS: [(&str, &str, &str); 6] = [
    ("total-data-files", "added-data-files", "deleted-data-files"),
    ("total-delete-files", "added-delete-files", "removed-delete-files"),
    ("total-records", "added-records", "deleted-records"),
    ("total-files-size", "added-files-size", "removed-files-size"),
    ("total-position-deletes", "added-position-deletes", "removed-position-deletes"),
    ("total-equality-deletes", "added-equality-deletes", "removed-equality-deletes"),
];

/// Adds every `total-*` field to `properties` (the new snapshot's added/removed counts):
/// the parent's total plus what was added minus what was removed.
///
/// Without a parent every total starts at zero. A total the parent's summary lacks or cannot
/// be parsed stays unset, as Java does: an unknown base would make every later total wrong.
pub(super) fn add_totals(
    properties: &mut HashMap<String, String>,
    parent: Option<&HashMap<String, String>>,
) {
    let count = |map: &HashMap<String, String>, key: &str| -> Option<i64> {
        map.get(key).map_or(Some(0), |v| v.parse().ok())
    };
    for (total, added, removed) in TOTALS {
        let base = match parent {
            None => Some(0),
            Some(parent) => parent.get(total).and_then(|v| v.parse::<i64>().ok()),
        };
        let (Some(base), Some(added), Some(removed)) =
            (base, count(properties, added), count(properties, removed))
        else {
            continue;
        };
        properties.insert(total.to_string(), (base + added - removed).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn totals_are_parent_plus_added_minus_removed() {
        let parent = map(&[
            ("total-data-files", "12"),
            ("total-delete-files", "0"),
            ("total-records", "1200"),
            ("total-files-size", "50000"),
            ("total-position-deletes", "0"),
            ("total-equality-deletes", "0"),
        ]);
        let mut props = map(&[
            ("added-data-files", "1"),
            ("deleted-data-files", "4"),
            ("added-records", "400"),
            ("deleted-records", "400"),
            ("added-files-size", "9000"),
            ("removed-files-size", "16000"),
        ]);
        add_totals(&mut props, Some(&parent));
        assert_eq!(props["total-data-files"], "9");
        assert_eq!(props["total-records"], "1200");
        assert_eq!(props["total-files-size"], "43000");
        assert_eq!(props["total-delete-files"], "0");
    }

    #[test]
    fn no_parent_starts_at_zero_and_unknown_parent_totals_stay_unset() {
        let mut props = map(&[("added-data-files", "2"), ("added-records", "7")]);
        add_totals(&mut props, None);
        assert_eq!(props["total-data-files"], "2");
        assert_eq!(props["total-records"], "7");

        let mut props = map(&[("added-data-files", "2")]);
        add_totals(&mut props, Some(&map(&[("total-records", "5")])));
        assert!(!props.contains_key("total-data-files"));
        assert_eq!(props["total-records"], "5");
    }
}
