//! Hour partition labels, as the loadgen writes and the compactor reports them.

pub use common::partition::{hour_label, hour_of_micros};

/// `YYYY-MM-DD-HH` (UTC) of the hour containing a timestamp in microseconds.
pub fn hour_label_of_micros(micros: i64) -> String {
    hour_label(hour_of_micros(micros))
}

/// Labels of the `n` whole UTC hours ending with the hour that contains `end` (oldest first):
/// the hours `signaldb-loadgen --hours n --end-time end` fills.
pub fn hours_ending_at(end: chrono::DateTime<chrono::Utc>, n: i64) -> Vec<String> {
    let last = end.timestamp().div_euclid(3600);
    (last - n + 1..=last).map(hour_label).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_labels_are_utc_and_zero_padded() {
        assert_eq!(hour_label(0), "1970-01-01-00");
        assert_eq!(hour_label_of_micros(3_600_000_000 * 25 - 1), "1970-01-02-00");
        assert_eq!(hour_label_of_micros(-1), "1969-12-31-23");
    }

    #[test]
    fn loadgen_hours_end_with_the_hour_of_end_time() {
        let end = "2026-01-15T12:00:00Z".parse().unwrap();
        assert_eq!(hours_ending_at(end, 3), ["2026-01-15-10", "2026-01-15-11", "2026-01-15-12"]);
        let end = "2026-01-15T00:59:59Z".parse().unwrap();
        assert_eq!(hours_ending_at(end, 2), ["2026-01-14-23", "2026-01-15-00"]);
    }
}
