//! One story, once: real feeds served as several sources, through the
//! daemon, its store, its feeds and the real broker.
//!
//! - the same blog by RSS and by Atom (`leidenmadtrics-*.xml`, captured at
//!   different times: 7 posts in both): those 7 are duplicates by link;
//! - a planet that repeats 4 posts of each of two blogs (`tarleb-rss.xml`,
//!   `dini-atom.xml`) under its own links: found by title and text;
//! - two newsletters whose items all carry one title over different text:
//!   none is a duplicate.
//!
//! The originals are polled by a first run; a second run adds the sources
//! that repeat them (so which item is first is known), and a third run
//! changes nothing.

use crate::broker::{BROKER, Received, TestQueue, amqp_toml, test_exchange};
use crate::helpers::{FeedServer, TestApp, TestConfig, eventually, feed_file};
use librarywire::item::Item;
use rss::validation::Validate;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const RSS: &str = "application/rss+xml";
const ATOM: &str = "application/atom+xml";

/// The first run's sources: each story's first carrier.
const ORIGINALS: [(&str, &str); 3] = [
    ("leiden-rss", "/leiden.rss"),
    ("tarleb", "/tarleb.xml"),
    ("dini", "/dini.atom"),
];

/// The second run's added sources.
const REPEATERS: [(&str, &str); 4] = [
    ("leiden-atom", "/leiden.atom"),
    ("planet", "/planet.xml"),
    ("weekly-a", "/weekly-a.xml"),
    ("weekly-b", "/weekly-b.xml"),
];

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An RSS feed of `(guid, link, title, html, published)` items.
fn rss_of(title: &str, items: &[(String, String, String, String, String)]) -> String {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>{title}</title><link>https://{title}.example/</link><description>d</description>"#
    );
    for (guid, link, title, html, published) in items {
        xml.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{guid}</guid><title>{}</title><link>{link}</link>\
             <content:encoded>{}</content:encoded><pubDate>{published}</pubDate></item>",
            xml_escape(title),
            xml_escape(html),
        ));
    }
    xml.push_str("</channel></rss>");
    xml
}

fn rfc2822(item: &Item) -> String {
    item.published
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

/// The text an item's content stands for, as the store stored it.
fn html_of(item: &Item) -> String {
    item.content_html
        .clone()
        .unwrap_or_else(|| format!("<p>{}</p>", xml_escape(&item.summary)))
}

/// A source's stored items, newest first.
async fn items_of(app: &TestApp, source: &str) -> Vec<Item> {
    let filter = librarywire::store::ItemFilter {
        sources: vec![source.to_owned()],
        ..Default::default()
    };
    app.store.filtered_items(&filter, 100).await.unwrap()
}

async fn get_json(app: &TestApp, path: &str) -> serde_json::Value {
    let response = app.client().get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// Waits until every source of `ids` has had a successful poll.
async fn polled(app: &TestApp, ids: &[&str]) {
    eventually("every source polled", || async {
        let status = get_json(app, "/status").await;
        let waiting: Vec<String> = status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| ids.contains(&s["id"].as_str().unwrap()) && s["last_success"].is_null())
            .map(|s| format!("{}: {}", s["id"], s["last_error"]))
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting.join(", "))
        }
    })
    .await;
}

fn config(
    server: &FeedServer,
    dir: Option<Arc<tempfile::TempDir>>,
    exchange: &str,
    all: bool,
) -> TestConfig {
    let mut sources: Vec<(&str, String)> = ORIGINALS
        .iter()
        .map(|(id, path)| (*id, server.url(path)))
        .collect();
    if all {
        sources.extend(REPEATERS.iter().map(|(id, path)| (*id, server.url(path))));
    }
    let sources: Vec<(&str, &str)> = sources
        .iter()
        .map(|(id, url)| (*id, url.as_str()))
        .collect();
    let extra = format!(
        "[dedup]\nthreshold = 0.8\nwindow = \"14d\"\n{}",
        amqp_toml(BROKER, exchange)
    );
    match dir {
        Some(dir) => TestConfig::in_dir(dir, &sources, "1s", &extra),
        None => TestConfig::new(&sources, "1s", &extra),
    }
}

#[tokio::test]
async fn each_story_once_with_its_duplicates_explained() {
    let server = FeedServer::start().await;
    server.set("/leiden.rss", feed_file("leidenmadtrics-rss.xml"), RSS);
    server.set("/leiden.atom", feed_file("leidenmadtrics-atom.xml"), ATOM);
    server.set("/tarleb.xml", feed_file("tarleb-rss.xml"), RSS);
    server.set("/dini.atom", feed_file("dini-atom.xml"), ATOM);
    let exchange = test_exchange("duplicates");
    let mut queue = TestQueue::bind(&exchange, "item.#").await;

    // Run 1: the originals.
    let first = config(&server, None, &exchange, false);
    let app = TestApp::spawn(first.settings()).await;
    let ids: Vec<&str> = ORIGINALS.iter().map(|(id, _)| *id).collect();
    polled(&app, &ids).await;
    let tarleb = items_of(&app, "tarleb").await;
    let dini = items_of(&app, "dini").await;
    let leiden_rss = items_of(&app, "leiden-rss").await;
    let first_run = tarleb.len() + dini.len() + leiden_rss.len();
    let originals = queue.take(first_run).await;
    assert!(originals.iter().all(|m| m.duplicate_of.is_none()));
    assert!(
        originals
            .iter()
            .all(|m| m.body["data"]["duplicate_of"].is_null())
    );

    // The planet: 4 posts of each blog, its own links and guids.
    let repeated: Vec<&Item> = tarleb.iter().take(4).chain(dini.iter().take(4)).collect();
    let planet: Vec<_> = repeated
        .iter()
        .enumerate()
        .map(|(n, it)| {
            (
                format!("planet-{n}"),
                format!("https://planet.example/p/{n}"),
                it.title.clone(),
                html_of(it),
                rfc2822(it),
            )
        })
        .collect();
    server.set("/planet.xml", rss_of("planet", &planet), RSS);
    // Two newsletters: one title, each item over another post's text.
    let weekly = |name: &str, texts: &[&Item]| {
        let items: Vec<_> = texts
            .iter()
            .enumerate()
            .map(|(n, it)| {
                let title = if n % 2 == 0 {
                    "Open science weekly: what we read this week"
                } else {
                    "Newsletter"
                };
                (
                    format!("{name}-{n}"),
                    format!("https://{name}.example/issues/{n}"),
                    title.to_owned(),
                    html_of(it),
                    "Mon, 05 Feb 2024 08:00:00 +0000".to_owned(),
                )
            })
            .collect();
        rss_of(name, &items)
    };
    let a_texts: Vec<&Item> = tarleb.iter().skip(4).take(6).collect();
    let b_texts: Vec<&Item> = dini.iter().skip(4).take(6).collect();
    server.set("/weekly-a.xml", weekly("weekly-a", &a_texts), RSS);
    server.set("/weekly-b.xml", weekly("weekly-b", &b_texts), RSS);
    app.stop().await;

    // Run 2: every source, on the same store.
    let second = config(&server, Some(first.dir.clone()), &exchange, true);
    let app = TestApp::spawn(second.settings()).await;
    let all_ids: Vec<&str> = ORIGINALS
        .iter()
        .chain(REPEATERS.iter())
        .map(|(id, _)| *id)
        .collect();
    polled(&app, &all_ids).await;
    let leiden_atom = items_of(&app, "leiden-atom").await;
    let planet_items = items_of(&app, "planet").await;
    let weekly_a = items_of(&app, "weekly-a").await;
    let weekly_b = items_of(&app, "weekly-b").await;
    let second_run = leiden_atom.len() + planet_items.len() + weekly_a.len() + weekly_b.len();
    let messages = queue.take(second_run).await;

    // What should be found: each Atom post also in the RSS capture, by
    // link; each planet post, by title and text. Nothing else.
    let link_key = |it: &Item| it.url.clone().unwrap().trim_end_matches('/').to_owned();
    let by_link: BTreeMap<String, &Item> = leiden_rss.iter().map(|it| (link_key(it), it)).collect();
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    for it in &leiden_atom {
        if let Some(original) = by_link.get(&link_key(it)) {
            expected.insert(it.id.to_string(), original.id.to_string());
        }
    }
    assert_eq!(expected.len(), 7, "the captures share 7 posts");
    for it in &planet_items {
        let original = repeated.iter().find(|o| o.title == it.title).unwrap();
        expected.insert(it.id.to_string(), original.id.to_string());
    }
    assert_eq!(expected.len(), 15);

    // What was found, item by item, through /items/<id>.
    let mut found: BTreeMap<String, (String, String)> = BTreeMap::new();
    let everything: Vec<&Item> = [
        &leiden_rss,
        &tarleb,
        &dini,
        &leiden_atom,
        &planet_items,
        &weekly_a,
        &weekly_b,
    ]
    .into_iter()
    .flatten()
    .collect();
    for it in &everything {
        let doc = get_json(&app, &format!("/items/{}", it.id)).await;
        assert_eq!(doc["item"]["id"], it.id.as_str());
        assert!(!doc["revisions"].as_array().unwrap().is_empty());
        if !doc["duplicate_of"].is_null() {
            found.insert(
                it.id.to_string(),
                (
                    doc["duplicate_of"]["of"].as_str().unwrap().to_owned(),
                    doc["duplicate_reason"].as_str().unwrap().to_owned(),
                ),
            );
        }
    }
    let true_positives = found
        .iter()
        .filter(|(id, (of, _))| expected.get(*id) == Some(of))
        .count();
    let precision = true_positives as f64 / found.len().max(1) as f64;
    let recall = true_positives as f64 / expected.len() as f64;
    eprintln!(
        "duplicates: {} expected, {} found, {true_positives} right: precision {precision:.2}, recall {recall:.2} \
         (link case 7 of {} Atom items, text case 8 planet items, newsletters {} items)",
        expected.len(),
        found.len(),
        leiden_atom.len(),
        weekly_a.len() + weekly_b.len(),
    );
    let missed: Vec<&str> = expected
        .keys()
        .filter(|id| !found.contains_key(*id))
        .map(|id| {
            everything
                .iter()
                .find(|it| it.id.as_str() == id)
                .unwrap()
                .title
                .as_str()
        })
        .collect();
    assert_eq!(
        (precision, recall),
        (1.0, 1.0),
        "missed: {missed:?}; found: {found:#?}"
    );
    for (id, (_, reason)) in &found {
        let planet = planet_items.iter().any(|it| it.id.as_str() == id);
        if planet {
            assert!(
                reason.starts_with("same title, ") && reason.ends_with("% same text"),
                "{reason}"
            );
        } else {
            assert_eq!(reason, "same link");
        }
    }
    // The original's document names what duplicates it.
    let original = repeated[0];
    let doc = get_json(&app, &format!("/items/{}", original.id)).await;
    assert!(doc["duplicate_of"].is_null());
    let duplicates = doc["duplicates"].as_array().unwrap();
    assert_eq!(duplicates.len(), 1);
    assert_eq!(duplicates[0]["source"]["id"], "planet");
    // An id is looked up as given, in either case, and anything else is a clean 404.
    let upper = format!("/items/{}", original.id.as_str().to_ascii_uppercase());
    assert_eq!(
        get_json(&app, &upper).await["item"]["id"],
        original.id.as_str()
    );
    for bad in [
        "/items/0123",
        "/items/..%2Fstatus",
        "/items/%C3%A9t%C3%A9",
        "/items/abc%20def",
    ] {
        let response = app.client().get(app.url(bad)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{bad}");
        assert!(response.text().await.unwrap().contains("no item"), "{bad}");
    }

    // Events: every item published; a duplicate says so in data and header.
    assert_eq!(messages.len(), second_run);
    let by_id: BTreeMap<&str, &Received> = messages
        .iter()
        .map(|m| (m.body["data"]["id"].as_str().unwrap(), m))
        .collect();
    for (id, of) in &expected {
        let m = by_id[id.as_str()];
        assert!(m.routing_key.starts_with("item.new."), "{}", m.routing_key);
        assert_eq!(m.body["data"]["duplicate_of"], of.as_str());
        assert_eq!(m.duplicate_of.as_deref(), Some(of.as_str()));
        assert!(m.body["data"]["duplicate_reason"].is_string());
    }
    for it in weekly_a.iter().chain(&weekly_b) {
        let m = by_id[it.id.as_str()];
        assert!(m.body["data"]["duplicate_of"].is_null());
        assert!(m.duplicate_of.is_none());
    }

    // /status: per source, how many and of which source.
    let status = get_json(&app, "/status").await;
    let dup_of = |id: &str| {
        status["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()["duplicates"]
            .clone()
    };
    assert_eq!(
        dup_of("leiden-atom"),
        serde_json::json!({"count": 7, "of": {"leiden-rss": 7}})
    );
    assert_eq!(
        dup_of("planet"),
        serde_json::json!({"count": 8, "of": {"dini": 4, "tarleb": 4}})
    );
    for id in ["leiden-rss", "tarleb", "dini", "weekly-a", "weekly-b"] {
        assert_eq!(dup_of(id)["count"], 0, "{id}");
    }

    // The merged feeds show each story once, naming the other sources.
    // (The merged rendering follows the store's last change within moments.
    // A rendering made before the planet's poll was stored has the same
    // count, each planet item then being missing rather than hidden, so the
    // wait is for the original to name the planet too.)
    let once = everything.len() - expected.len();
    let original_entry = format!("urn:librarywire:{}", original.id);
    let merged = eventually("the merged feed of every story once", || async {
        let merged = get_json(&app, "/feed.json").await;
        let items = merged["items"].as_array().unwrap();
        let n = items.len();
        let named = items
            .iter()
            .find(|e| e["id"] == original_entry.as_str())
            .is_some_and(|e| e["_librarywire"]["also_in"].is_array());
        if n == once && named {
            Ok(merged)
        } else {
            Err(format!(
                "{n} items, the original naming its duplicate: {named}"
            ))
        }
    })
    .await;
    let entries = merged["items"].as_array().unwrap();
    let shown: BTreeSet<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    for id in expected.keys() {
        assert!(!shown.contains(format!("urn:librarywire:{id}").as_str()));
    }
    let entry = entries
        .iter()
        .find(|e| e["id"] == original_entry.as_str())
        .unwrap();
    let also_in = entry["_librarywire"]["also_in"].as_array().unwrap();
    assert_eq!(also_in[0]["source"]["id"], "planet");
    let all = get_json(&app, "/feed.json?duplicates=all").await;
    assert_eq!(all["items"].as_array().unwrap().len(), everything.len());
    let planet_own = get_json(&app, "/sources/planet/feed.json").await;
    assert_eq!(planet_own["items"].as_array().unwrap().len(), 8);
    let rss = app.client().get(app.url("/feed.xml")).send().await.unwrap();
    let etag = rss.headers()["etag"].to_str().unwrap().to_owned();
    let rss = rss.text().await.unwrap();
    let channel = rss::Channel::read_from(rss.as_bytes()).unwrap();
    channel.validate().expect("the merged RSS validates");
    let item = channel
        .items()
        .iter()
        .find(|i| i.guid().unwrap().value() == format!("urn:librarywire:{}", original.id))
        .unwrap();
    assert!(
        item.categories()
            .iter()
            .any(|c| c.name() == "planet" && c.domain() == Some("http://news.example.org/source")),
        "{:?}",
        item.categories()
    );
    assert_eq!(item.source().unwrap().title(), Some("Source tarleb"));
    let atom = app
        .client()
        .get(app.url("/feed.atom"))
        .send()
        .await
        .unwrap();
    let atom = atom.text().await.unwrap();
    assert!(
        atom.contains(r#"term="planet" scheme="http://news.example.org/source""#),
        "{atom}"
    );
    // 304 still works, and ?duplicates=all is a rendering of its own.
    let again = app
        .client()
        .get(app.url("/feed.xml"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let all_rss = app
        .client()
        .get(app.url("/feed.xml?duplicates=all"))
        .send()
        .await
        .unwrap();
    assert_ne!(all_rss.headers()["etag"].to_str().unwrap(), etag);
    app.stop().await;

    // Run 3: a restart, and every source polled again, judges nothing
    // again and publishes nothing.
    let paths: Vec<&str> = ORIGINALS
        .iter()
        .chain(REPEATERS.iter())
        .map(|(_, p)| *p)
        .collect();
    let hits_before: Vec<usize> = paths.iter().map(|p| server.hits(p).len()).collect();
    let app = TestApp::spawn(second.settings()).await;
    for (path, before) in paths.iter().zip(&hits_before) {
        eventually("every source polled again", || async {
            server.hits(path).len() > *before + 1
        })
        .await;
    }
    let after = app.client().get(app.url("/feed.xml")).send().await.unwrap();
    assert_eq!(after.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(after.text().await.unwrap(), rss);
    assert!(queue.drain_for(Duration::from_secs(1)).await.is_empty());
    app.stop().await;
    queue.delete_exchange().await;
}
