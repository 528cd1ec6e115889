//! Structured logging for every SignalDB binary: `RUST_LOG` filtering, text or JSON lines on
//! standard error (standard output is kept for command results such as `--json` reports).
//!
//! Each fact is said once. A text line is the event's message followed by the fields it does
//! not already state (`Compacted partition: tenant=acme ... rows=150`); a JSON line carries the
//! fields as typed values beside the message.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use std::str::FromStr;

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("unknown log format `{other}`: expected text or json")),
        }
    }
}

/// The filter used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info";

/// Installs the global subscriber writing to standard error; `RUST_LOG` selects targets and
/// levels (default [`DEFAULT_FILTER`]). Calling it again is harmless.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Text => builder.fmt_fields(MessageThenFields).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // An already-installed subscriber (tests, embedding binaries) is kept.
    drop(result);
}

/// Formats an event's fields as its message, then `: key=value ...` for every field the
/// message does not already state as `key=value`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessageThenFields;

impl<'writer> FormatFields<'writer> for MessageThenFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut seen = Collected::default();
        fields.record(&mut seen);
        writer.write_str(&seen.line())
    }
}

/// The message and the other fields of one event or span, in the order they were recorded.
#[derive(Debug, Default)]
struct Collected {
    message: String,
    fields: Vec<(&'static str, String)>,
}

impl Collected {
    /// The message, then `: ` (or a space, when the message already states fields) and every
    /// field whose `key=value` it does not contain.
    fn line(&self) -> String {
        let mut line = self.message.clone();
        let rest: Vec<String> = self
            .fields
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .filter(|pair| !self.message.contains(pair.as_str()))
            .collect();
        if !rest.is_empty() {
            if !line.is_empty() {
                line.push_str(if line.contains('=') { " " } else { ": " });
            }
            line.push_str(&rest.join(" "));
        }
        line
    }
}

impl Visit for Collected {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            name => self.fields.push((name, value.to_string())),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = write!(text, "{value:?}");
        match field.name() {
            "message" => self.message = text,
            name => self.fields.push((name, text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collected(message: &str, fields: &[(&'static str, &str)]) -> String {
        let fields = fields.iter().map(|(k, v)| (*k, v.to_string())).collect();
        Collected { message: message.to_string(), fields }.line()
    }

    #[test]
    fn a_text_line_states_each_field_once() {
        let fields = [("tenant", "acme"), ("table", "logs"), ("rows", "150")];
        assert_eq!(
            collected("Compacted partition", &fields),
            "Compacted partition: tenant=acme table=logs rows=150"
        );
        // Fields the message states are not repeated; the others follow it.
        assert_eq!(
            collected("Identified 2 files for tenant=acme table=logs", &fields),
            "Identified 2 files for tenant=acme table=logs rows=150"
        );
        assert_eq!(collected("Started", &[]), "Started");
        assert_eq!(collected("", &fields[..1]), "tenant=acme");
    }

    #[test]
    fn an_event_is_written_as_its_message_then_the_fields_it_does_not_state() {
        use std::sync::{Arc, Mutex};
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let make_writer = move || Sink(Arc::clone(&sink));
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(MessageThenFields)
            .with_writer(make_writer)
            .with_ansi(false)
            .without_time()
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let tenant = "acme";
            tracing::info!(tenant, files_in = 6, files_out = 1, "Compacted partition");
            tracing::info!(%tenant, rows = 3, "Dropped partition: tenant={tenant}");
        });
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].ends_with("Compacted partition: tenant=acme files_in=6 files_out=1"),
            "{text}"
        );
        assert!(lines[1].ends_with("Dropped partition: tenant=acme rows=3"), "{text}");
    }

    /// A `Write` into a shared buffer.
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
