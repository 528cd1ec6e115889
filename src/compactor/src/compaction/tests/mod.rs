// A SQLite catalog and a `logs` table filled by fast appends, shared by the crate's tests.
use crate::test_support as fixture;

mod copy;
mod deletes;
mod execute;
mod manifests;
mod output_ratio;
mod sorted;
mod table_props;
