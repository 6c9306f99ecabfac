//! Telemetry: the tracing subscriber. Logs go to stderr, so `poll-once` can
//! print items on stdout.
//!
//! `log.format = "human"` (the default) writes readable lines, coloured only
//! on a terminal;
//! `log.format = "json"` writes one JSON object per line, with `timestamp`,
//! `level`, `target`, the event's fields (its text under `message`) and the
//! fields of the spans it happened in, for log shippers.

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` wins over `default_level`.
/// Calling it twice is harmless (tests do).
pub fn init(default_level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(default_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
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

/// Whether human logs may be coloured: stderr is a terminal and `NO_COLOR`
/// (no-color.org) is unset or empty.
fn colours_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
