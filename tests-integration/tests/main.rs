//! SignalDB's end-to-end tests: one test binary, one module per area.
//!
//! Run them all with `scripts/test.sh` (it starts S3 and checks PostgreSQL first); one area
//! with `scripts/test.sh -p tests-integration --test main -- foundation::`.
//! Fixtures are in the `tests_integration` library (`tests-integration/src/`).

mod admin;
mod admin_page;
mod compactor;
mod deployment;
mod faults;
mod foundation;
mod monitoring;
mod scale_out;
mod service;
