//! Telemetry: the tracing subscriber. Logs go to stderr, so `poll-once` can
//! print items on stdout.
//!
//! `log.format = "human"` (the default) writes readable lines, coloured only
//! on a terminal;
//! `log.format = "json"` writes one JSON object per line, with `timestamp`,
//! `level`, `target`, the event's fields (its text under `message`) and the
//! fields of the spans it happened in, for log shippers.
//!
//! A log line that cannot be written (stderr a closed pipe, a full disk
//! under a redirect) is dropped and counted ([`dropped_writes`], on
//! `/metrics`): logging never panics and never stops the daemon.

use crate::config::LogFormat;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Log writes that failed and were dropped since start.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// How many log writes failed and were dropped since start.
pub fn dropped_writes() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Stderr for the log layer, which drops what it cannot write: a failed
/// write is counted and reported as done, so the layer neither retries nor
/// reports the failure (on stderr, which would panic in `eprintln!`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DroppingStderr;

impl<'a> MakeWriter<'a> for DroppingStderr {
    type Writer = DroppingStderr;

    fn make_writer(&'a self) -> Self::Writer {
        DroppingStderr
    }
}

impl Write for DroppingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // One `write_all` per event: a line is written whole or dropped whole.
        if std::io::stderr().lock().write_all(buf).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Where lapin logs every message the broker returns, at WARN, as a dump of
/// the whole message, body bytes and all. The publisher counts returns and
/// logs them once per routing key per minute itself (`publish::returns`).
const LAPIN_RETURN_DUMPS: &str = "lapin::returned_messages";

/// Installs the global subscriber. `RUST_LOG` wins over `default_level`.
/// Calling it twice is harmless (tests do).
pub fn init(default_level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = quiet_return_dumps(filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(DroppingStderr)
        // Its own errors would go to stderr through `eprintln!`, which
        // panics when stderr is broken.
        .log_internal_errors(false);
    let _ = match format {
        // Colours only on a terminal: journald and log files get plain text.
        LogFormat::Human => builder.with_ansi(colours_wanted()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
}

/// Filters out lapin's per-message dumps of returned messages, unless the
/// filter names that target itself (an admin asking for them on purpose).
fn quiet_return_dumps(filter: EnvFilter) -> EnvFilter {
    if filter.to_string().contains(LAPIN_RETURN_DUMPS) {
        return filter;
    }
    match format!("{LAPIN_RETURN_DUMPS}=error").parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// Whether human logs may be coloured: stderr is a terminal and `NO_COLOR`
/// (no-color.org) is unset or empty.
fn colours_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_fails_is_reported_done_and_counted() {
        // The test harness captures stdout only; stderr here is whatever the
        // runner has, and the writer must say "done" either way.
        let mut writer = DroppingStderr.make_writer();
        let before = dropped_writes();
        assert_eq!(writer.write(b"").unwrap(), 0);
        assert_eq!(writer.write(b"a line\n").unwrap(), 7);
        assert!(dropped_writes() >= before);
    }

    #[test]
    fn lapins_return_dumps_are_filtered_unless_asked_for() {
        let quiet = quiet_return_dumps(EnvFilter::new("warn")).to_string();
        assert!(quiet.contains("lapin::returned_messages=error"), "{quiet}");
        assert!(quiet.contains("warn"), "{quiet}");
        let asked = quiet_return_dumps(EnvFilter::new("info,lapin::returned_messages=warn"));
        let asked = asked.to_string();
        assert!(asked.contains("lapin::returned_messages=warn"), "{asked}");
        assert!(!asked.contains("lapin::returned_messages=error"), "{asked}");
    }
}
