//! Section 1 of BENCHMARKS.md: parse and normalize every feed of the shared
//! corpus, against the parsing limit on the same bytes in the same run: a bare
//! quick-xml event scan for XML feeds, a serde_json `IgnoredAny` pass for
//! JSON feeds.
//!
//! `cargo bench --bench parse`. The corpus is `$LIBRARYWIRE_CORPUS`, else
//! `../shared/corpus` beside the crate; without it the bench says so and
//! measures nothing. Under `cargo test` it runs each case once over the small
//! files only.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use librarywire::item::SourceRef;
use librarywire::normalize::normalize;
use librarywire::parse::{ParseOptions, parse};
use quick_xml::events::Event;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// One corpus feed, read into memory.
struct Feed {
    base: Url,
    body: Vec<u8>,
}

/// Every file under `root` that could be a feed, as the corpus test lists them.
fn corpus_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if !plainly_not_a_feed(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Other parsers' outputs, indexes, notes, licenses and subscription lists.
fn plainly_not_a_feed(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let in_output_dir = path.parent().is_some_and(|p| p.ends_with("test/output"));
    name.ends_with(".serde.json")
        || (in_output_dir && name.ends_with(".json"))
        || name == "INDEX.json"
        || name.ends_with(".md")
        || name.ends_with(".txt")
        || name.starts_with("LICENSE")
        || name.ends_with(".opml")
        || path.components().any(|c| c.as_os_str() == "opml")
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn source() -> SourceRef {
    SourceRef {
        id: "corpus".into(),
        name: "Corpus".into(),
        url: "https://corpus.example/".into(),
    }
}

/// The product path: parse, then normalize. Returns the item count.
fn parse_and_normalize(feed: &Feed, source: &SourceRef, now: DateTime<Utc>) -> usize {
    match parse(&feed.body, &ParseOptions::new(&feed.base)) {
        Ok(parsed) => normalize(source, &feed.base, &parsed, now).len(),
        Err(_) => 0,
    }
}

/// The XML parsing limit: every event of the document, nothing kept.
fn scan_xml(body: &[u8]) -> usize {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut events = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) | Err(_) => return events,
            Ok(event) => {
                black_box(&event);
                events += 1;
            }
        }
    }
}

/// The JSON parsing limit: a full syntax pass that keeps nothing.
fn scan_json(body: &[u8]) -> usize {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_or(0, |_| 1)
}

/// The first meaningful byte, past a UTF-8 byte order mark and white space.
fn first_byte(body: &[u8]) -> Option<u8> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// The corpus feeds the product parses, split into XML and JSON, with what
/// was left out and why.
struct Corpus {
    xml: Vec<Feed>,
    json: Vec<Feed>,
    xml_items: usize,
    json_items: usize,
}

fn load(smoke: bool) -> Option<Corpus> {
    let root = common::corpus_root();
    if !root.is_dir() {
        eprintln!(
            "parse bench: no corpus at {} (set LIBRARYWIRE_CORPUS); nothing measured",
            root.display()
        );
        return None;
    }
    let source = source();
    let mut corpus = Corpus {
        xml: Vec::new(),
        json: Vec::new(),
        xml_items: 0,
        json_items: 0,
    };
    let (mut refused, mut other) = (0usize, 0usize);
    for path in corpus_files(&root) {
        let Ok(body) = std::fs::read(&path) else {
            continue;
        };
        if smoke && body.len() > 64 * 1024 {
            continue;
        }
        let relative = path.strip_prefix(&root).unwrap_or(&path);
        let base = Url::parse("https://corpus.example/")
            .and_then(|u| u.join(&relative.to_string_lossy()))
            .expect("a valid URL");
        let feed = Feed { base, body };
        if parse(&feed.body, &ParseOptions::new(&feed.base)).is_err() {
            refused += 1;
            continue;
        }
        let items = parse_and_normalize(&feed, &source, now());
        match first_byte(&feed.body) {
            Some(b'<') => {
                corpus.xml_items += items;
                corpus.xml.push(feed);
            }
            Some(b'{') => {
                corpus.json_items += items;
                corpus.json.push(feed);
            }
            _ => other += 1,
        }
    }
    let bytes = |feeds: &[Feed]| feeds.iter().map(|f| f.body.len()).sum::<usize>();
    eprintln!(
        "parse bench: corpus {}: {} XML feeds ({} bytes, {} items), {} JSON feeds ({} bytes, {} items); \
         left out: {refused} files the parser refuses (HTML pages, broken files), \
         {other} in neither syntax (gzip bodies)",
        root.display(),
        corpus.xml.len(),
        bytes(&corpus.xml),
        corpus.xml_items,
        corpus.json.len(),
        bytes(&corpus.json),
        corpus.json_items,
    );
    Some(corpus)
}

fn benches(c: &mut Criterion) {
    let smoke = !common::measuring();
    let Some(corpus) = load(smoke) else {
        return;
    };
    let source = source();
    let now = now();
    for (name, feeds, items, limit) in [
        (
            "xml",
            &corpus.xml,
            corpus.xml_items,
            scan_xml as fn(&[u8]) -> usize,
        ),
        ("json", &corpus.json, corpus.json_items, scan_json),
    ] {
        let bytes: usize = feeds.iter().map(|f| f.body.len()).sum();
        let mut group = c.benchmark_group(format!("corpus-{name}"));
        group
            .throughput(Throughput::Bytes(bytes as u64))
            .sample_size(20)
            .measurement_time(Duration::from_secs(10));
        eprintln!(
            "corpus-{name}: {} feeds, {bytes} bytes, {items} items per iteration",
            feeds.len()
        );
        group.bench_function("librarywire parse+normalize", |b| {
            b.iter(|| {
                feeds
                    .iter()
                    .map(|f| parse_and_normalize(f, &source, now))
                    .sum::<usize>()
            })
        });
        let limit_name = if name == "xml" {
            "limit: quick-xml event scan"
        } else {
            "limit: serde_json IgnoredAny"
        };
        group.bench_function(limit_name, |b| {
            b.iter(|| feeds.iter().map(|f| limit(&f.body)).sum::<usize>())
        });
        group.finish();
    }
}

criterion_group!(parse_benches, benches);
criterion_main!(parse_benches);
