//! The shipped event schema, `schema/item-event.schema.json`, against events
//! built by `event::item_event`: the ones the tests make, broken ones, and
//! one for every item of the shared feed corpus. No broker needed.

use super::support::{assert_valid, item, schema, schema_errors, source};
use crate::event::{self, EventKind};
use crate::item::SourceRef;
use crate::normalize::normalize;
use crate::parse::{ParseOptions, parse};
use std::path::{Path, PathBuf};
use url::Url;

/// Not a test of the publisher: the shipped schema accepts the events
/// `event::item_event` builds and rejects broken ones, so the broker tests'
/// validation can fail.
#[test]
fn the_schema_accepts_real_events_and_rejects_broken_ones() {
    let schema = schema();
    let src = source("ifla-news");
    let now = chrono::Utc::now();
    for n in 0..10 {
        let mut it = item(&src, n);
        assert_valid(
            &schema,
            &event::item_event(&it, EventKind::New, now, None).body,
        );
        it.revision = 3;
        assert_valid(
            &schema,
            &event::item_event(&it, EventKind::Updated, now, None).body,
        );
        // A duplicate names the first item of its story and why.
        let verdict = crate::dedup::Verdict {
            of: crate::item::ItemId::derive("blog-rss", "a"),
            of_source: "blog-rss".into(),
            reason: "same title, 94% same text".into(),
        };
        assert_valid(
            &schema,
            &event::item_event(&it, EventKind::Updated, now, Some(&verdict)).body,
        );
    }
    let good: serde_json::Value =
        serde_json::from_slice(&event::item_event(&item(&src, 2), EventKind::New, now, None).body)
            .unwrap();
    type Breakage = Box<dyn Fn(&mut serde_json::Value)>;
    let broken: Vec<(&str, Breakage)> = vec![
        (
            "missing data field",
            Box::new(|v| {
                v["data"].as_object_mut().unwrap().remove("summary");
            }),
        ),
        (
            "extra data field",
            Box::new(|v| v["data"]["content_hash"] = "x".into()),
        ),
        (
            "duplicate_of not an item id",
            Box::new(|v| v["data"]["duplicate_of"] = "the first one".into()),
        ),
        (
            "empty duplicate_reason",
            Box::new(|v| v["data"]["duplicate_reason"] = "".into()),
        ),
        (
            "extra top-level field",
            Box::new(|v| v["extension"] = "x".into()),
        ),
        (
            "wrong specversion",
            Box::new(|v| v["specversion"] = "0.3".into()),
        ),
        (
            "unknown type",
            Box::new(|v| v["type"] = "org.librarywire.item.deleted".into()),
        ),
        ("bad source", Box::new(|v| v["source"] = "ifla-news".into())),
        (
            "time not a date",
            Box::new(|v| v["time"] = "yesterday".into()),
        ),
        (
            "time not UTC",
            Box::new(|v| v["time"] = "2021-08-19T10:00:00+02:00".into()),
        ),
        (
            "null title",
            Box::new(|v| v["data"]["title"] = serde_json::Value::Null),
        ),
        (
            "revision zero",
            Box::new(|v| v["data"]["revision"] = 0.into()),
        ),
        (
            "new with revision 2",
            Box::new(|v| v["data"]["revision"] = 2.into()),
        ),
        (
            "authors not strings",
            Box::new(|v| v["data"]["authors"] = serde_json::json!([1])),
        ),
        (
            "source without url",
            Box::new(|v| {
                v["data"]["source"].as_object_mut().unwrap().remove("url");
            }),
        ),
        (
            "url not a URI",
            Box::new(|v| v["data"]["url"] = "not a link".into()),
        ),
        (
            "updated event id without revision",
            Box::new(|v| {
                v["type"] = "org.librarywire.item.updated".into();
                v["data"]["revision"] = 2.into();
            }),
        ),
    ];
    for (what, breakage) in broken {
        let mut v = good.clone();
        breakage(&mut v);
        let errors = schema_errors(&schema, &serde_json::to_vec(&v).unwrap());
        assert!(
            !errors.is_empty(),
            "the schema accepted an event with {what}"
        );
    }
}

/// Every item of the shared corpus (`$LIBRARYWIRE_CORPUS`, else
/// `../shared/corpus`), normalized and wrapped as both event types, validates
/// with format checks on: the schema is not stricter than real feeds.
#[test]
fn every_corpus_item_makes_a_valid_event() {
    let root = std::env::var_os("LIBRARYWIRE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if !root.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the feed corpus is missing at {}; set LIBRARYWIRE_CORPUS to its path",
            root.display()
        );
        println!("SKIPPED: no feed corpus at {}", root.display());
        return;
    }
    let schema = schema();
    let now = chrono::Utc::now();
    let (mut checked, mut problems) = (0usize, Vec::new());
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("listing the corpus") {
            let path = entry.expect("a corpus entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let Ok(body) = std::fs::read(&path) else {
                continue;
            };
            let relative = path.strip_prefix(&root).expect("under the root");
            let base = Url::parse("https://corpus.example/")
                .and_then(|u| u.join(&relative.to_string_lossy()))
                .expect("a valid URL");
            // Files that are not feeds fail to parse; that is parse's business.
            let Ok(feed) = parse(&body, &ParseOptions::new(&base)) else {
                continue;
            };
            let src = SourceRef {
                id: "corpus".into(),
                name: "Corpus".into(),
                url: base.to_string(),
            };
            for mut it in normalize(&src, &base, &feed, now) {
                checked += 1;
                let new = event::item_event(&it, EventKind::New, now, None);
                it.revision = 2;
                let updated = event::item_event(&it, EventKind::Updated, now, None);
                for body in [new.body, updated.body] {
                    let errors = schema_errors(&schema, &body);
                    if !errors.is_empty() {
                        problems.push(format!("{}: {}", relative.display(), errors.join("; ")));
                    }
                }
            }
        }
    }
    assert!(
        checked > 0,
        "the corpus at {} gave no items",
        root.display()
    );
    println!("{checked} corpus items checked, each as item.new and item.updated");
    assert!(
        problems.is_empty(),
        "{} of {checked} corpus items make events the schema refuses:\n{}",
        problems.len(),
        problems
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
