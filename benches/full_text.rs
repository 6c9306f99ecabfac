//! Section 9 of BENCHMARKS.md: what reading an article page for full text
//! costs (`page::read_full_text`: readability with `dom_smoothie`, then the
//! feeds' sanitizer), per page, over the captured blog pages of the shared
//! corpus (`rogue-scholar-api/captured-html/`) and the NLC-shaped article
//! page, against the limit in the same run: a bare html5ever parse of the
//! same page (`scraper::Html::parse_document`), which any extraction has to
//! do at least once.
//!
//! `cargo bench --bench full_text`. The corpus is `$LIBRARYWIRE_CORPUS`,
//! else `../shared/corpus` beside the crate; without it the bench reads the
//! copies in `src/page/testdata/`. Under `cargo test` it reads each page
//! once.

mod common;

use librarywire::page::read_full_text;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use url::Url;

/// How long each page is measured for at least, per side, when measuring.
const PER_PAGE: Duration = Duration::from_millis(400);

fn pages() -> Vec<PathBuf> {
    let corpus = common::corpus_root().join("rogue-scholar-api/captured-html");
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/page/testdata");
    let dir = if corpus.is_dir() {
        corpus
    } else {
        testdata.join("rogue-scholar-api")
    };
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .collect();
    pages.sort();
    pages.push(testdata.join("nlc/article-ifla-wlic-2021-site.html"));
    pages
}

/// The mean time of `work` over at least `PER_PAGE` (at least 3 runs), or
/// of one run when not measuring.
fn time(measuring: bool, mut work: impl FnMut()) -> Duration {
    work();
    if !measuring {
        return Duration::ZERO;
    }
    let started = Instant::now();
    let mut runs = 0u32;
    while runs < 3 || started.elapsed() < PER_PAGE {
        work();
        runs += 1;
    }
    started.elapsed() / runs
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let measuring = common::measuring();
    let url = Url::parse("https://blog.example.org/2024/01/an-article/").expect("a URL");
    let pages = pages();
    println!(
        "full_text: {} pages; per page: readability + sanitizing, and the limit: a bare html5ever parse",
        pages.len()
    );
    println!(
        "{:<45} {:>9} {:>10} {:>10} {:>7} {:>8}",
        "page", "bytes", "extract ms", "parse ms", "ratio", "text"
    );
    let (mut bytes, mut extracting, mut parsing) = (0usize, Duration::ZERO, Duration::ZERO);
    for path in &pages {
        let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (html, _, _) = encoding_rs::UTF_8.decode(&raw);
        let html = html.into_owned();
        let mut text = 0;
        let extract = time(measuring, || {
            let article = read_full_text(None, black_box(&html), &url);
            text = article.text.chars().count();
            black_box(article);
        });
        let parse = time(measuring, || {
            black_box(scraper::Html::parse_document(black_box(&html)));
        });
        bytes += raw.len();
        extracting += extract;
        parsing += parse;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        println!(
            "{:<45} {:>9} {:>10.2} {:>10.2} {:>7.2} {:>8}",
            name,
            raw.len(),
            ms(extract),
            ms(parse),
            extract.as_secs_f64() / parse.as_secs_f64().max(f64::MIN_POSITIVE),
            text
        );
    }
    let n = pages.len() as u32;
    println!(
        "all: {} pages, {} bytes, {:.2} ms/page extracting, {:.2} ms/page parsing, ratio {:.2}, {:.1} MB/s extracting",
        pages.len(),
        bytes,
        ms(extracting / n),
        ms(parsing / n),
        extracting.as_secs_f64() / parsing.as_secs_f64().max(f64::MIN_POSITIVE),
        bytes as f64 / extracting.as_secs_f64().max(f64::MIN_POSITIVE) / 1e6
    );
}
