//! What the benchmarks share: how they know they are measuring (not smoke
//! testing under `cargo test`), and realistic synthetic items.

#![allow(dead_code)]

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use librarywire::item::{Item, ItemId, SourceRef};
use std::path::{Path, PathBuf};

/// True under `cargo bench` (which passes `--bench`), false under
/// `cargo test --all-targets` (which passes nothing, or `--test`): then a
/// bench only does a smoke run of a few seconds.
pub fn measuring() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// The source `n` of a synthetic store.
pub fn source(n: usize) -> SourceRef {
    SourceRef {
        id: format!("library-{n:03}"),
        name: format!("Library {n:03} news"),
        url: format!("https://library-{n:03}.example.org/news/feed/"),
    }
}

const WORDS: &[&str] = &[
    "library",
    "reading",
    "catalogue",
    "archive",
    "digital",
    "collection",
    "heritage",
    "manuscript",
    "exhibition",
    "members",
    "opening",
    "hours",
    "conference",
    "open",
    "access",
    "research",
    "community",
    "children",
    "workshop",
    "preservation",
];

/// `count` words picked deterministically from `seed`.
fn words(seed: usize, count: usize) -> String {
    let mut out = String::with_capacity(count * 9);
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345);
    for i in 0..count {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        if i > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[(x >> 33) % WORDS.len()]);
    }
    out
}

/// The `n`th item of `source`: a title of about 60 characters, a summary of
/// about 160, a short HTML content on a third of the items, one author, two
/// categories, dated `n` minutes after `start`. Its event is 800 to 1,000
/// bytes, like a real news item's.
pub fn item(source: &SourceRef, n: usize, start: DateTime<Utc>) -> Item {
    let guid = format!("https://{}.example.org/news/{n}/", source.id);
    let published = start + ChronoDuration::minutes(n as i64);
    let summary = words(n, 20);
    let mut item = Item {
        id: ItemId::derive(&source.id, &guid),
        source: source.clone(),
        url: Some(guid.clone()),
        guid,
        title: format!("{} {n}", words(n + 7, 7)),
        content_html: n
            .is_multiple_of(3)
            .then(|| format!("<p>{}</p>", words(n + 3, 15))),
        summary,
        authors: vec![format!("Author {}", n % 97)],
        categories: vec!["news".to_owned(), words(n + 11, 1)],
        language: Some("en".to_owned()),
        published,
        updated: None,
        revision: 1,
        published_from_source: true,
        content_hash: String::new(),
    };
    item.content_hash = item.compute_content_hash();
    item
}

/// A fixed start date, so the same run gives the same items.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

/// Reads the `VmHWM` (peak resident set) of this process from
/// `/proc/self/status`, in kB.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Median and the given percentile (0..=100) of `samples`, sorted in place.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    if samples.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

/// The corpus of real feeds and pages: `$LIBRARYWIRE_CORPUS`, else
/// `../shared/corpus` beside the crate.
pub fn corpus_root() -> PathBuf {
    std::env::var_os("LIBRARYWIRE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}
