//! Item ids and content hashes of real feeds and pages, pinned.
//!
//! The store knows an item by its id and sees an edit in its content hash.
//! If either moved for an item the source did not change, every stored item
//! would come back as new (published as `item.new` a second time) or as
//! updated. So both are pinned here for real feeds of every format and real
//! pages read with selectors (the page stage's test data, read with the
//! selectors of its golden tests), including an item completed by its
//! followed article page.
//!
//! The values in `testdata/golden/ids-and-hashes.tsv` were computed by the
//! code at commit 7b5875c, before the feed and page item rules became one
//! path. A change to them is a change to what every running daemon has
//! stored: only make one on purpose, with `UPDATE_GOLDEN=1`, and say why.

use crate::config::PageSettings;
use crate::item::{Item, SourceRef};
use crate::normalize::{apply_article, keep_followed, normalize};
use crate::page::{PageSelectors, extract, extract_article};
use crate::parse::{ParseOptions, parse};
use chrono::{DateTime, TimeZone, Utc};
use std::fmt::Write;
use std::path::{Path, PathBuf};
use url::Url;

/// Folders of feeds copied from the corpus, relative to the crate root.
const FEED_FOLDERS: [&str; 3] = [
    "src/normalize/testdata",
    "src/parse/testdata",
    "tests/data/feeds",
];

/// Files in those folders that are not feeds, or not ones parsing reads.
fn is_feed(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let skipped_folder = path
        .components()
        .any(|c| ["golden", "fuzz"].contains(&c.as_os_str().to_string_lossy().as_ref()));
    !(skipped_folder
        || name.starts_with("LICENSE")
        || name.ends_with(".md")
        || name.ends_with(".html"))
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn source() -> SourceRef {
    SourceRef {
        id: "golden".into(),
        name: "Golden".into(),
        url: "https://golden.example/".into(),
    }
}

fn crate_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every feed file, relative to the crate root, sorted.
fn feed_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs: Vec<PathBuf> = FEED_FOLDERS.iter().map(|f| crate_root().join(f)).collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if is_feed(&path) {
                files.push(path.strip_prefix(crate_root()).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

fn line(out: &mut String, file: &str, item: &Item) {
    writeln!(out, "{file}\t{}\t{}", item.id, item.content_hash).unwrap();
}

/// The page stage's captured pages with the selectors of its golden tests.
fn pages() -> Vec<(&'static str, PageSettings, Option<chrono_tz::Tz>)> {
    vec![
        (
            "eve.gd_17715c510b.html",
            PageSettings {
                item: "#index article".into(),
                title: "h2".into(),
                link: "h2 a@href".into(),
                summary: Some("p".into()),
                ..PageSettings::default()
            },
            None,
        ),
        (
            "ulirockenbauch.blog_4337791e3d.html",
            PageSettings {
                item: "article".into(),
                title: ".entry-title".into(),
                link: ".entry-title a@href".into(),
                date: "time.entry-date@datetime".into(),
                summary: Some(".entry-wrapper > p".into()),
                ..PageSettings::default()
            },
            Some(chrono_tz::Europe::Berlin),
        ),
        (
            "ch.imperial.ac.uk_70e7723641.html",
            PageSettings {
                item: "div.post".into(),
                title: "h2".into(),
                link: "h2 a@href".into(),
                date: "small".into(),
                date_format: Some("%B %d, %Y".into()),
                summary: Some(".entry".into()),
                ..PageSettings::default()
            },
            Some(chrono_tz::Europe::London),
        ),
        // The defaults, which pick other elements of the same page.
        ("eve.gd_17715c510b.html", PageSettings::default(), None),
    ]
}

fn page_testdata(name: &str) -> String {
    let bytes = std::fs::read(crate_root().join("src/page/testdata").join(name)).unwrap();
    crate::page::decode_html(&bytes, None, None).0
}

fn golden_lines() -> String {
    let mut out = String::new();
    for file in feed_files() {
        let name = file.to_string_lossy().into_owned();
        let body = std::fs::read(crate_root().join(&file)).unwrap();
        let base = Url::parse("https://golden.example/")
            .unwrap()
            .join(&name)
            .unwrap();
        let Ok(feed) = parse(&body, &ParseOptions::new(&base)) else {
            writeln!(out, "{name}\tnot a feed").unwrap();
            continue;
        };
        for item in normalize(&source(), &base, &feed, now()) {
            line(&mut out, &name, &item);
        }
    }
    let base = Url::parse("https://golden.example/blog/").unwrap();
    let mut listed = Vec::new();
    for (file, page, timezone) in pages() {
        let selectors = PageSelectors::compile(&page, timezone).unwrap();
        let html = page_testdata(&format!("rogue-scholar-api/{file}"));
        let items = extract(&source(), &selectors, &html, &base, now()).items;
        for item in &items {
            line(&mut out, file, item);
        }
        listed.extend(items);
    }

    // An item completed by its own page, as `follow = true` does: an
    // NLC-shaped article page read with NLC-like selectors.
    let follow = PageSettings {
        item: "ul.news li".into(),
        title: "a".into(),
        link: "a@href".into(),
        date: ".info".into(),
        date_format: Some("%Y-%m-%d".into()),
        follow: true,
        content: Some(".article .content".into()),
        ..PageSettings::default()
    };
    let selectors = PageSelectors::compile(&follow, Some(chrono_tz::Asia::Shanghai)).unwrap();
    let html = page_testdata("nlc/article-ifla-wlic-2021.html");
    let url = Url::parse("https://www.nlc.cn/enweb/c100050/202108/t20210820_1.html").unwrap();
    // The Jekyll page's items are undated and have a summary; the default
    // selectors' items have neither.
    let bare = listed
        .iter()
        .find(|i| i.summary.is_empty() && !i.published_from_source)
        .expect("an item without summary or date")
        .clone();
    for listed in [&listed[0], &bare] {
        let mut item = listed.clone();
        apply_article(&mut item, extract_article(&selectors, &html, &url), now());
        line(&mut out, "followed", &item);
        // Listed again once stored: it keeps what its page gave.
        let mut again = listed.clone();
        keep_followed(&mut again, &item);
        line(&mut out, "kept", &again);
    }
    out
}

#[test]
fn ids_and_content_hashes_of_real_feeds_and_pages_stay_as_they_were() {
    let actual = golden_lines();
    let path = crate_root().join("src/normalize/testdata/golden/ids-and-hashes.tsv");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let differing: Vec<String> = expected
        .lines()
        .zip(actual.lines())
        .filter(|(e, a)| e != a)
        .map(|(e, a)| format!("  was {e}\n  now {a}"))
        .collect();
    assert!(
        differing.is_empty() && expected.lines().count() == actual.lines().count(),
        "{} of {} lines differ ({} lines expected, {} now):\n{}",
        differing.len(),
        expected.lines().count(),
        expected.lines().count(),
        actual.lines().count(),
        differing.join("\n")
    );
}
