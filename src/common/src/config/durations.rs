//! Whole-unit counts from the configuration as durations.

use std::time::Duration;

/// `n` hours as a duration.
pub(super) fn hours(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 3600)
}
