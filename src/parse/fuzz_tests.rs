//! Inputs the fuzz target (`fuzz/fuzz_targets/parse_normalize.rs`) found,
//! minimized, kept in `testdata/fuzz/`: each once panicked, hung or broke a
//! promise of [`Item`]. Every one goes through parse and normalize with the
//! target's checks, so a regression fails here, without nightly or a fuzzer.

use crate::item::{Item, SourceRef};
use crate::normalize::{SUMMARY_MAX_CHARS, normalize};
use crate::parse::{ParseOptions, parse};
use chrono::{DateTime, TimeZone, Utc};
use std::path::Path;
use url::Url;

/// The fuzz target's `now`.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

/// Panics, naming `input`, when `item` breaks a promise of [`Item`]. The same
/// checks as the fuzz target's.
fn check(input: &str, item: &Item, now: DateTime<Utc>) {
    if let Some(url) = &item.url {
        let parsed =
            Url::parse(url).unwrap_or_else(|e| panic!("{input}: url {url:?} is not absolute: {e}"));
        assert!(
            matches!(parsed.scheme(), "http" | "https"),
            "{input}: url {url:?} is not http(s)"
        );
        assert!(
            parsed.host_str().is_some_and(|h| !h.is_empty()),
            "{input}: url {url:?} has no host"
        );
    }
    assert!(
        !item.title.to_ascii_lowercase().contains("<script"),
        "{input}: title {:?} holds a script",
        item.title
    );
    assert!(!item.title.is_empty(), "{input}: empty title");
    if let Some(html) = &item.content_html {
        assert!(
            !html.to_ascii_lowercase().contains("<script"),
            "{input}: content {html:?} holds a script"
        );
    }
    assert!(item.published <= now, "{input}: published after now");
    assert!(
        item.updated.is_none_or(|u| u <= now),
        "{input}: updated after now"
    );
    let summary_chars = item.summary.chars().count();
    assert!(
        summary_chars <= SUMMARY_MAX_CHARS,
        "{input}: summary of {summary_chars} characters"
    );
}

#[test]
fn every_fuzz_finding_parses_and_normalizes_without_breaking_a_promise() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/parse/testdata/fuzz");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|path| path.extension().is_none_or(|ext| ext != "md"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no findings in {}", dir.display());

    let base = Url::parse("https://news.example.org/feed/").unwrap();
    let source = SourceRef {
        id: "fuzz".to_owned(),
        name: "Fuzz".to_owned(),
        url: base.to_string(),
    };
    let now = now();
    for path in &inputs {
        let name = path.file_name().unwrap().to_string_lossy();
        let body = std::fs::read(path).unwrap();
        // An error is a fine outcome for a broken body; a panic, a hang or a
        // bad item is not.
        if let Ok(feed) = parse(&body, &ParseOptions::new(&base)) {
            for item in normalize(&source, &base, &feed, now) {
                check(&name, &item, now);
            }
        }
    }
}
