//! `[compactor.sort]`: lists of columns from the file and the environment, and its rules.

use figment::Jail;

use super::*;
use crate::config::{Config, DEFAULT_SPILL_DIR_NAME};
use crate::signal::Signal;

#[test]
fn the_defaults_are_each_signals_query_columns() {
    let sort = Config::default().compactor.sort;
    assert!(sort.enabled);
    assert_eq!(sort.columns(Signal::Traces), ["trace_id", "timestamp"]);
    assert_eq!(sort.columns(Signal::Logs), ["service_name", "severity_number", "timestamp"]);
    assert_eq!(sort.columns(Signal::Metrics), ["metric_name", "service_name", "timestamp"]);
    assert_eq!(sort.memory_budget_bytes, 64 * 1024 * 1024);
    assert_eq!(sort.spill_dir(), std::env::temp_dir().join(DEFAULT_SPILL_DIR_NAME));
}

#[test]
fn columns_come_from_the_file_or_from_a_variable_as_a_list_or_an_array() {
    Jail::expect_with(|jail| {
        let toml = "[compactor.sort]\nlogs = [\"service_name\", \"timestamp\"]\nmetrics = []\n\
                    spill_dir = \"/var/tmp/sort\"\n";
        let loaded = load_toml(jail, toml, &[]).unwrap();
        let sort = &loaded.config.compactor.sort;
        assert_eq!(sort.logs, ["service_name", "timestamp"]);
        assert!(sort.metrics.is_empty(), "an empty list leaves the signal unsorted");
        assert_eq!(sort.spill_dir(), std::path::PathBuf::from("/var/tmp/sort"));
        assert_eq!(loaded.provenance.origin("compactor.sort.logs"), Some(&file_line(jail, 2)));

        for raw in ["span_id, timestamp", "[\"span_id\", \"timestamp\"]"] {
            let env = [("SIGNALDB_COMPACTOR_SORT_TRACES", raw)];
            let loaded = load_toml(jail, "", &env).unwrap();
            assert_eq!(loaded.config.compactor.sort.traces, ["span_id", "timestamp"], "{raw}");
        }
        let env = [("SIGNALDB_COMPACTOR_SORT_TRACES", "[1, 2]")];
        let err = refused(jail, "", &env);
        assert!(err.to_string().contains("expected an array of strings"), "{err}");
        Ok(())
    });
}

#[test]
fn unknown_or_repeated_columns_a_small_budget_and_an_empty_dir_are_refused() {
    Jail::expect_with(|jail| {
        assert_refused(
            jail,
            "[compactor.sort]\ntraces = [\"trace_ids\"]\n",
            ProblemKind::InvalidValue,
            "compactor.sort.traces",
            2,
            "`trace_ids` is not a column of traces tables; did you mean `trace_id`?",
        );
        assert_refused(
            jail,
            "[compactor.sort]\nlogs = [\"timestamp\", \"timestamp\"]\n",
            ProblemKind::InvalidValue,
            "compactor.sort.logs",
            2,
            "`timestamp` is listed twice",
        );
        assert_refused(
            jail,
            "[compactor.sort]\nmemory_budget_bytes = 1000\n",
            ProblemKind::InvalidValue,
            "compactor.sort.memory_budget_bytes",
            2,
            "must be at least 65536 byte (got 1000)",
        );
        assert_refused(
            jail,
            "[compactor.sort]\nspill_dir = \" \"\n",
            ProblemKind::InvalidValue,
            "compactor.sort.spill_dir",
            2,
            "must not be empty",
        );
        assert_refused(
            jail,
            "[compactor.sort]\nmetrics = \"metric_name\"\n",
            ProblemKind::WrongType,
            "compactor.sort.metrics",
            2,
            "expected an array of strings",
        );
        Ok(())
    });
}
