// The snapshot tests' fixture (a SQLite catalog and a `logs` table filled by fast appends),
// compiled here too: that module is private to `snapshot`.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../snapshot/tests/fixture.rs"]
mod fixture;

mod execute;
