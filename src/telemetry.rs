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
