//! Every feed of the shared corpus through parse and normalize.
//!
//! The corpus (`/work/shared/corpus`, see its README) holds several hundred
//! feeds and pages written by other people, with their real-world breakage.
//! Each must give items or a clear [`ParseError`], never a panic, and every
//! item must keep the invariants the rest of the pipeline relies on.
//!
//! The corpus root is `$LIBRARYWIRE_CORPUS`, else `../shared/corpus` beside
//! the crate. Without it the test is skipped, unless `CI` is set.

use crate::item::{Item, SourceRef};
use crate::normalize::{SUMMARY_MAX_CHARS, normalize};
use crate::parse::{ParseError, ParseOptions, parse};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;
use url::Url;

/// What one corpus file gave.
pub(super) enum Outcome {
    /// The items, and how many entries feed-rs read.
    Items(Vec<Item>, usize),
    Error(ParseError),
    Panic(String),
}

/// Files in legacy or mislabelled encodings, and a title each must give.
/// A wrong decoding garbles exactly these.
const ENCODED_TITLES: &[(&str, &str)] = &[
    (
        "miniflux/internal/reader/parser/testdata/encoding_WINDOWS-1251.xml",
        "Цитата #17703",
    ),
    (
        // No declaration at all.
        "miniflux/internal/reader/parser/testdata/no_encoding_ISO-8859-1.xml",
        "La criminalité liée surtout à... l'ennui ?",
    ),
    (
        "miniflux/internal/reader/parser/testdata/urdu_UTF8.xml",
        "امریکی عسکری امداد کی بندش کی وجوہات: انڈیا سے جنگ، جوہری پروگرام اور اب دہشت گردوں کی پشت پناہی",
    ),
    (
        "miniflux/internal/reader/encoding/testdata/koi8r.xml",
        "Первая новость",
    ),
    (
        // UTF-8 under an ISO-8859-1 declaration.
        "miniflux/internal/reader/encoding/testdata/utf8-incorrect-prolog.xml",
        "Café",
    ),
    (
        // A declaration naming no known encoding.
        "miniflux/internal/reader/encoding/testdata/invalid-prolog.xml",
        "Café",
    ),
    (
        "node-feedparser/test/feeds/iconv.xml",
        "В Бузулуке главные стройплощадки – детсад и Ледовый дворец",
    ),
    (
        // windows-1252 without a declaration.
        "rss-parser/test/input/uolNoticias.rss",
        "Promotoria abre inquérito para apurar suspeita de improbidade de Skaf no Sebrae-SP",
    ),
];

/// Ill-formed files, and how many items each must give now that parsing
/// repairs what it safely can (stray `&`, references to forbidden
/// characters).
const REPAIRED: &[(&str, usize)] = &[
    ("node-feedparser/test/feeds/saxerror.xml", 3),
    (
        "miniflux/inline-extracted/reader/rdf/parser_test/TestParseFeedWithInvalidCharacterEntity.xml",
        0,
    ),
    (
        "miniflux/inline-extracted/reader/rss/parser_test/TestParseFeedLinkWithInvalidCharacterEntity.xml",
        0,
    ),
    (
        "miniflux/inline-extracted/reader/atom/atom_10_test/TestParseWithInvalidCharacterEntity.xml",
        0,
    ),
];

/// Feed-rs fixtures whose item count differs from the entry count in their
/// `.serde.json`, and why. None does today: no fixture repeats an id.
const EXPECTED_COUNT_DIFFERENCES: &[(&str, &str)] = &[];

#[test]
fn every_corpus_file_gives_items_or_a_clear_error() {
    let Some(root) = corpus_root() else {
        return;
    };
    let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("a valid date");
    let files = corpus_files(&root);
    assert!(
        !files.is_empty(),
        "no files under the corpus root {}",
        root.display()
    );

    let mut outcomes = BTreeMap::new();
    let mut durations = Vec::with_capacity(files.len());
    for path in &files {
        let relative = path.strip_prefix(&root).expect("under the root");
        let started = Instant::now();
        let outcome = run_one(path, relative, now);
        durations.push((started.elapsed(), relative.to_path_buf()));
        outcomes.insert(relative.to_path_buf(), outcome);
    }
    // For whoever tunes the pipeline; never asserted, since timings vary.
    durations.sort_unstable_by(|a, b| b.cmp(a));
    for (took, path) in durations.iter().take(3) {
        println!("slowest: {took:.2?} {}", path.display());
    }

    let mut problems = Vec::new();
    let (mut items, mut errors, mut empty, mut repeats) = (0usize, 0usize, 0usize, 0usize);
    for (path, outcome) in &outcomes {
        match outcome {
            Outcome::Items(found, entries) => {
                items += found.len();
                repeats += entries - found.len();
                if found.is_empty() {
                    empty += 1;
                }
                check_items(path, found, now, &mut problems);
            }
            Outcome::Error(err) => {
                errors += 1;
                if err.to_string().trim().is_empty() {
                    problems.push(format!("{}: an error with no message", path.display()));
                }
            }
            Outcome::Panic(msg) => problems.push(format!("{}: PANIC: {msg}", path.display())),
        }
    }
    println!(
        "corpus: {} files, {items} items ({repeats} repeated entries dropped), {errors} parse errors, \
         {empty} feeds without entries",
        files.len()
    );
    for (path, outcome) in &outcomes {
        match outcome {
            Outcome::Error(err) => println!("  error  {}: {err}", path.display()),
            Outcome::Items(found, entries) if found.len() < *entries => println!(
                "  repeats {}: {} of {entries} entries repeat an earlier id",
                path.display(),
                entries - found.len()
            ),
            Outcome::Items(found, _) if found.is_empty() => println!("  empty  {}", path.display()),
            _ => {}
        }
    }

    check_captured_html(&outcomes, &mut problems);
    check_hostile_files(&outcomes, &mut problems);
    check_feed_rs_fixtures(&root, &outcomes, &mut problems);
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The corpus root, or None (after saying so) when it is missing outside CI.
pub(super) fn corpus_root() -> Option<PathBuf> {
    let root = std::env::var_os("LIBRARYWIRE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if root.is_dir() {
        return Some(root);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the feed corpus is missing at {}; set LIBRARYWIRE_CORPUS to its path",
        root.display()
    );
    println!(
        "SKIPPED: no feed corpus at {}; set LIBRARYWIRE_CORPUS to run this test",
        root.display()
    );
    None
}

/// Every file under `root` that may be a feed or a page, sorted.
pub(super) fn corpus_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if !is_plainly_not_a_feed(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Files the corpus holds beside the feeds: other parsers' outputs, indexes,
/// notes, licenses and subscription lists.
fn is_plainly_not_a_feed(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let in_output_dir = path.parent().is_some_and(|p| p.ends_with("test/output"));
    name.ends_with(".serde.json")
        || (in_output_dir && name.ends_with(".json"))
        || name == "INDEX.json"
        || name.ends_with(".md")
        || name.ends_with(".txt")
        || name.starts_with("LICENSE")
        || name.ends_with(".opml")
}

/// Parses and normalizes one file, catching a panic.
pub(super) fn run_one(path: &Path, relative: &Path, now: DateTime<Utc>) -> Outcome {
    let body =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    // A made-up https base, so relative links resolve to something checkable.
    let base = Url::parse("https://corpus.example/")
        .and_then(|u| u.join(&relative.to_string_lossy()))
        .expect("a valid URL");
    let source = SourceRef {
        id: "corpus".into(),
        name: "Corpus".into(),
        url: base.to_string(),
    };
    let run = catch_unwind(AssertUnwindSafe(|| {
        parse(&body, &ParseOptions::new(&base))
            .map(|feed| (normalize(&source, &base, &feed, now), feed.entries.len()))
    }));
    match run {
        Ok(Ok((items, entries))) => Outcome::Items(items, entries),
        Ok(Err(err)) => Outcome::Error(err),
        Err(panic) => Outcome::Panic(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic without a message".into()),
        ),
    }
}

/// The invariants every item keeps, whatever its feed looked like.
fn check_items(path: &Path, items: &[Item], now: DateTime<Utc>, problems: &mut Vec<String>) {
    let mut ids = HashSet::new();
    for item in items {
        let mut problem = |what: &str| {
            problems.push(format!("{}: item {:?}: {what}", path.display(), item.title));
        };
        if !ids.insert(&item.id) {
            problem("a repeated id");
        }
        if item.title.trim().is_empty() || item.title != item.title.trim() {
            problem("an empty or untrimmed title");
        }
        if item.summary.chars().count() > SUMMARY_MAX_CHARS {
            problem("a summary over the bound");
        }
        if let Some(url) = &item.url
            && (!(url.starts_with("http://") || url.starts_with("https://"))
                || url.contains("utm_"))
        {
            problem("a link that is not clean http(s)");
        }
        if item.published > now || item.updated.is_some_and(|u| u > now) {
            problem("a date in the future");
        }
        if item.published.timestamp() < super::EARLIEST_BELIEVABLE_DATE {
            problem("a date before 1990");
        }
        if let Some(unsafe_markup) = item.content_html.as_deref().and_then(unsafe_markup) {
            problem(&format!("unsanitized content: {unsafe_markup}"));
        }
        if item.content_hash != item.compute_content_hash() || item.revision != 1 {
            problem("a stale content hash or a revision other than 1");
        }
    }
}

/// The first thing in `html` that sanitizing should have removed: a script,
/// style or frame, an event handler, or a URL that is not http(s) or mailto.
fn unsafe_markup(html: &str) -> Option<String> {
    let fragment = scraper::Html::parse_fragment(html);
    fragment
        .root_element()
        .descendent_elements()
        .find_map(|el| {
            let name = el.value().name();
            if ["script", "style", "iframe", "object", "embed", "form"].contains(&name) {
                return Some(format!("a <{name}> element"));
            }
            el.value().attrs().find_map(|(attr, value)| {
                if attr.starts_with("on") || attr == "style" {
                    return Some(format!("a {attr} attribute"));
                }
                let value = value.trim();
                let is_url = ["href", "src", "cite"].contains(&attr);
                let scheme_ok = ["http://", "https://", "mailto:"].iter().any(|s| {
                    value
                        .get(..s.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(s))
                });
                (is_url && !scheme_ok).then(|| format!("{attr}={value:?}"))
            })
        })
}

/// The files in legacy encodings give their titles right, the ill-formed
/// ones that can be repaired give their items, and the gzip bodies say so.
fn check_hostile_files(outcomes: &BTreeMap<PathBuf, Outcome>, problems: &mut Vec<String>) {
    let items_of = |path: &str| match outcomes.get(Path::new(path)) {
        Some(Outcome::Items(items, _)) => Ok(items),
        Some(Outcome::Error(err)) => Err(err.to_string()),
        Some(Outcome::Panic(msg)) => Err(format!("PANIC: {msg}")),
        None => Err("missing from the corpus".into()),
    };
    for (path, title) in ENCODED_TITLES {
        match items_of(path) {
            Ok(items) if items.iter().any(|i| i.title == *title) => {}
            Ok(items) => problems.push(format!(
                "{path}: no item titled {title:?}; the first is {:?}",
                items.first().map(|i| &i.title)
            )),
            Err(err) => problems.push(format!("{path}: {err}")),
        }
    }
    for (path, count) in REPAIRED {
        match items_of(path) {
            Ok(items) if items.len() == *count => {}
            Ok(items) => problems.push(format!("{path}: {} items, expected {count}", items.len())),
            Err(err) => problems.push(format!("{path}: not repaired: {err}")),
        }
    }
    for path in [
        "node-feedparser/test/feeds/compressed.xml",
        "node-feedparser/test/feeds/invalid-characters-gzipped.xml",
    ] {
        match items_of(path) {
            Err(err) if err.contains("gzip-compressed") => {}
            Err(err) => problems.push(format!("{path}: an unclear error: {err}")),
            Ok(_) => problems.push(format!("{path}: a gzip body gave items")),
        }
    }
    // No item anywhere carries the replacement character: every corpus file
    // is in an encoding that is declared or can be told from its bytes.
    for (path, outcome) in outcomes {
        if let Outcome::Items(items, _) = outcome
            && let Some(item) = items.iter().find(|i| i.title.contains('\u{FFFD}'))
        {
            problems.push(format!(
                "{}: a title with U+FFFD: {:?}",
                path.display(),
                item.title
            ));
        }
    }
}

/// Each captured home page gives the HTML error, not a panic or a feed.
fn check_captured_html(outcomes: &BTreeMap<PathBuf, Outcome>, problems: &mut Vec<String>) {
    let pages: Vec<_> = outcomes
        .iter()
        .filter(|(p, _)| p.starts_with("rogue-scholar-api/captured-html"))
        .collect();
    if pages.is_empty() {
        problems.push("no captured-html pages in the corpus".into());
    }
    for (path, outcome) in pages {
        if !matches!(outcome, Outcome::Error(ParseError::Html { .. })) {
            problems.push(format!(
                "{}: an HTML page that did not give the HTML error",
                path.display()
            ));
        }
    }
}

/// feed-rs's own fixtures: most RSS and Atom ones give items, and each gives
/// as many items as feed-rs's recorded parse has entries.
fn check_feed_rs_fixtures(
    root: &Path,
    outcomes: &BTreeMap<PathBuf, Outcome>,
    problems: &mut Vec<String>,
) {
    let fixture_dir = Path::new("feed-rs/feed-rs/fixture");
    let rss_and_atom: Vec<_> = outcomes
        .iter()
        .filter(|(p, _)| {
            ["atom", "rss0", "rss1", "rss2"]
                .iter()
                .any(|d| p.starts_with(fixture_dir.join(d)))
        })
        .collect();
    let with_items = rss_and_atom
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Items(items, _) if !items.is_empty()))
        .count();
    println!(
        "feed-rs RSS/Atom fixtures: {with_items} of {} give items",
        rss_and_atom.len()
    );
    if rss_and_atom.is_empty() || with_items * 10 < rss_and_atom.len() * 9 {
        problems.push(format!(
            "only {with_items} of {} feed-rs RSS/Atom fixtures give items",
            rss_and_atom.len()
        ));
    }

    for (path, outcome) in outcomes.iter().filter(|(p, _)| p.starts_with(fixture_dir)) {
        let expected_file = root.join(path).with_extension("serde.json");
        let Ok(expected) = std::fs::read(&expected_file) else {
            continue;
        };
        let expected: serde_json::Value = serde_json::from_slice(&expected)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", expected_file.display()));
        let expected_entries = expected["entries"].as_array().map_or(0, Vec::len);
        let got = match outcome {
            Outcome::Items(items, _) => items.len(),
            _ => 0,
        };
        let excused = EXPECTED_COUNT_DIFFERENCES
            .iter()
            .any(|(name, _)| path.ends_with(name));
        if got != expected_entries && !excused {
            problems.push(format!(
                "{}: {got} items, but feed-rs recorded {expected_entries} entries",
                path.display()
            ));
        }
        if got == expected_entries && excused {
            problems.push(format!(
                "{}: listed as differing from its .serde.json, but no longer does",
                path.display()
            ));
        }
    }
}
