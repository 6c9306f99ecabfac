//! Reads under load: a flood of uncached `?q=` filters against a store of
//! many items must not starve `/readyz`, `/status` and `/metrics`.

use crate::helpers::{TestApp, TestConfig};
use chrono::{TimeZone, Utc};
use librarywire::item::{Item, ItemId, SourceRef};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Words the stored titles and summaries are made of.
const WORDS: &[&str] = &[
    "library",
    "reading",
    "archive",
    "catalogue",
    "digital",
    "collection",
    "exhibition",
    "lecture",
    "manuscript",
    "opening",
    "hours",
    "research",
    "students",
    "workshop",
    "conference",
    "open",
    "access",
    "journal",
    "repository",
    "heritage",
    "bibliothèque",
    "Öffnungszeiten",
    "été",
];

/// A small deterministic generator, so every run stores the same items.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }

    fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| WORDS[self.next() % WORDS.len()])
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Stores `sources` × `per_source` items with titles and summaries of words.
pub async fn fill(app: &TestApp, sources: usize, per_source: usize) {
    let store = &app.store;
    {
        let mut lcg = Lcg(7);
        let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
        for s in 0..sources {
            let source = SourceRef {
                id: format!("flood-{s}"),
                name: format!("Flood {s}"),
                url: format!("http://flood-{s}.example.org/feed"),
            };
            let items: Vec<Item> = (0..per_source)
                .map(|n| {
                    let key = format!("i{n}");
                    let mut item = Item {
                        id: ItemId::derive(&source.id, &key),
                        source: source.clone(),
                        guid: key.clone(),
                        url: Some(format!("http://flood-{s}.example.org/{key}")),
                        title: lcg.words(6),
                        summary: lcg.words(60),
                        content_html: None,
                        authors: vec![],
                        categories: vec![],
                        language: None,
                        published: start + chrono::Duration::minutes((n * sources + s) as i64),
                        updated: None,
                        revision: 1,
                        published_from_source: true,
                        content_hash: String::new(),
                    };
                    item.content_hash = item.compute_content_hash();
                    item
                })
                .collect();
            store
                .apply_items(&source, &items, Utc::now())
                .await
                .unwrap();
        }
    }
}

/// A flood of uncached filters (random words, so every request misses the
/// render cache and reads the store) while `/readyz`, `/status` and
/// `/metrics` are asked in turn: each must answer, within a deadline that
/// is generous for a loaded machine, the whole time. A flooded request may
/// be refused with a 503 that says why; nothing else.
#[tokio::test]
async fn a_flood_of_uncached_filters_leaves_readyz_status_and_metrics_answering() {
    let config = TestConfig::new(&[], "1h", "");
    let app = Arc::new(TestApp::spawn(config.settings()).await);
    fill(&app, 50, 120).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (answered, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut flood = Vec::new();
    for worker in 0..48u64 {
        let (app, stop) = (app.clone(), stop.clone());
        let (answered, refused) = (answered.clone(), refused.clone());
        flood.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut lcg = Lcg(worker + 1);
            while !stop.load(Ordering::Relaxed) {
                // A random word of letters: hardly ever in the store, so
                // each walks far, and never twice the same request.
                let word: String = (0..7)
                    .map(|_| (b'a' + (lcg.next() % 26) as u8) as char)
                    .collect();
                let url = app.url(&format!("/feed.json?q={word}"));
                let response = client.get(url).send().await.expect("the server answers");
                match response.status().as_u16() {
                    200 => answered.fetch_add(1, Ordering::Relaxed),
                    503 => {
                        let reason = response.text().await.unwrap();
                        assert!(reason.contains("try again"), "a 503 says why: {reason}");
                        refused.fetch_add(1, Ordering::Relaxed)
                    }
                    other => panic!("a flooded filter got HTTP {other}"),
                };
            }
        }));
    }
    // Let the flood build up, then ask the light routes, one after the
    // other, for a while.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let client = reqwest::Client::new();
    for round in 0..5 {
        for path in ["/readyz", "/status", "/metrics"] {
            let asked =
                tokio::time::timeout(Duration::from_secs(5), client.get(app.url(path)).send())
                    .await
                    .unwrap_or_else(|_| {
                        panic!("round {round}: {path} did not answer within 5 s under the flood")
                    })
                    .unwrap();
            assert_eq!(asked.status(), 200, "round {round}: {path}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for worker in flood {
        worker.await.unwrap();
    }
    assert!(
        answered.load(Ordering::Relaxed) > 0,
        "the flood was served too ({} refused)",
        refused.load(Ordering::Relaxed)
    );
    Arc::try_unwrap(app)
        .ok()
        .expect("the flood is over")
        .stop()
        .await;
}
