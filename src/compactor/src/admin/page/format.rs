//! How the pages write numbers, times and links: bytes in binary units, times in UTC to the
//! second, ages coarsely, a table's page by its id.

use chrono::{DateTime, Utc};

/// `bytes` in the largest binary unit it reaches (`512 B`, `12.3 MiB`).
pub(super) fn bytes(bytes: u64) -> String {
    common::storage::counted::human_bytes(bytes)
}

/// `at` as `2026-01-15 12:00:03Z`.
pub(super) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// How long before `now` `at` was, coarsely: `42s ago`, `17m ago`, `5h ago`, `3d ago`.
pub(super) fn ago(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    format!("{} ago", crate::status::render::coarse_age(now, at))
}

/// The path of the page of table `tenant.dataset.table`.
pub(super) fn table_href(tenant: &str, dataset: &str, table: &str) -> String {
    format!("/tables/{tenant}/{dataset}/{table}")
}

/// The API path of table `tenant.dataset.table` (`tables::detail`'s), which the buttons
/// append `/compact` or `/retention` to.
pub(super) fn table_api(tenant: &str, dataset: &str, table: &str) -> String {
    format!("/api/v1/tables/{tenant}/{dataset}/{table}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_sizes_read_at_a_glance() {
        let at: DateTime<Utc> = "2026-01-15T12:00:03Z".parse().unwrap();
        assert_eq!(time(at), "2026-01-15 12:00:03Z");
        assert_eq!(ago(at + chrono::Duration::minutes(17), at), "17m ago");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(table_href("acme", "prod", "logs"), "/tables/acme/prod/logs");
        assert_eq!(table_api("acme", "prod", "logs"), "/api/v1/tables/acme/prod/logs");
    }
}
