//! Any bytes through parse, then normalize: nothing may panic, and every item
//! that comes out must keep the promises the merged feed and the published
//! messages rely on.
//!
//! The same checks run on the kept findings in `src/parse/fuzz_tests.rs`;
//! keep the two in step.

#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use librarywire::item::{Item, SourceRef};
use librarywire::normalize::SUMMARY_MAX_CHARS;
use librarywire::parse::ParseOptions;
use std::sync::LazyLock;
use url::Url;

static BASE_URL: LazyLock<Url> =
    LazyLock::new(|| Url::parse("https://news.example.org/feed/").expect("a valid URL"));

static SOURCE: LazyLock<SourceRef> = LazyLock::new(|| SourceRef {
    id: "fuzz".to_owned(),
    name: "Fuzz".to_owned(),
    url: BASE_URL.to_string(),
});

/// A fixed `now`, so that a finding replays the same way.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fuzz_target!(|body: &[u8]| {
    let options = ParseOptions::new(&BASE_URL);
    let Ok(feed) = librarywire::parse::parse(body, &options) else {
        return;
    };
    let now = now();
    for item in librarywire::normalize::normalize(&SOURCE, &BASE_URL, &feed, now) {
        check(&item, now);
    }
});

/// Panics, with the item, when `item` breaks a promise of [`Item`].
fn check(item: &Item, now: DateTime<Utc>) {
    if let Some(url) = &item.url {
        let parsed = Url::parse(url).unwrap_or_else(|e| panic!("url {url:?} is not absolute: {e}"));
        assert!(
            matches!(parsed.scheme(), "http" | "https"),
            "url {url:?} is not http(s)"
        );
        assert!(
            parsed.host_str().is_some_and(|h| !h.is_empty()),
            "url {url:?} has no host"
        );
    }
    assert!(
        !item.title.to_ascii_lowercase().contains("<script"),
        "title {:?} holds a script",
        item.title
    );
    assert!(!item.title.is_empty(), "empty title in {item:?}");
    if let Some(html) = &item.content_html {
        assert!(
            !html.to_ascii_lowercase().contains("<script"),
            "content {html:?} holds a script"
        );
    }
    assert!(
        item.published <= now,
        "published {} after now",
        item.published
    );
    assert!(
        item.updated.is_none_or(|u| u <= now),
        "updated {:?} after now",
        item.updated
    );
    let summary_chars = item.summary.chars().count();
    assert!(
        summary_chars <= SUMMARY_MAX_CHARS,
        "summary of {summary_chars} characters"
    );
}
