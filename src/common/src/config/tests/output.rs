//! `[compactor.output]`: bloom filter and copy switches from the file and the environment.

use figment::Jail;

use super::*;
use crate::config::Config;

#[test]
fn the_defaults_write_a_trace_id_bloom_filter_and_copy_row_groups_of_8_mib() {
    let output = Config::default().compactor.output;
    assert!(output.trace_id_bloom_filter);
    assert_eq!(output.copy_min_row_group_bytes(), Some(8 * 1024 * 1024));
    assert!(output.tuned_encodings, "each column encoded for what it holds");
}

#[test]
fn switches_come_from_the_file_or_a_variable_and_a_tiny_row_group_is_refused() {
    Jail::expect_with(|jail| {
        let toml = "[compactor.output]\ntrace_id_bloom_filter = false\n\
                    copy_min_row_group_bytes = 16777216\n";
        let output = load_toml(jail, toml, &[]).unwrap().config.compactor.output;
        assert!(!output.trace_id_bloom_filter);
        assert_eq!(output.copy_min_row_group_bytes(), Some(16 * 1024 * 1024));

        let env = [("SIGNALDB_COMPACTOR_OUTPUT_COPY_ROW_GROUPS", "false")];
        let output = load_toml(jail, "", &env).unwrap().config.compactor.output;
        assert_eq!(output.copy_min_row_group_bytes(), None, "copying is off");
        let env = [("SIGNALDB_COMPACTOR_OUTPUT_TUNED_ENCODINGS", "false")];
        assert!(!load_toml(jail, "", &env).unwrap().config.compactor.output.tuned_encodings);

        assert_refused(
            jail,
            "[compactor.output]\ncopy_min_row_group_bytes = 4096\n",
            ProblemKind::InvalidValue,
            "compactor.output.copy_min_row_group_bytes",
            2,
            "must be at least 1048576 byte (got 4096)",
        );
        Ok(())
    });
}
