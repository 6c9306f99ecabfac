//! The daemon polls, stores and serves: the core issue's promises.

use crate::helpers::{
    FeedServer, TestApp, TestConfig, eventually, feed_file, small_rss, wait_until,
};
use librarywire::item::ItemId;
use rss::validation::Validate;
use std::collections::HashMap;
use std::io::Read;

const RSS: &str = "application/rss+xml";
const ATOM: &str = "application/atom+xml";
const JSON: &str = "application/feed+json";

/// Parses `/feed.xml` with the `rss` crate, after checking with a strict
/// parser that it is well-formed XML (the `rss` crate is lenient).
async fn rss_channel(app: &TestApp) -> rss::Channel {
    let body = app
        .client()
        .get(app.url("/feed.xml"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let text = std::str::from_utf8(&body).expect("/feed.xml is UTF-8");
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"),
        "one XML declaration, first: {}",
        &text[..100]
    );
    let doc = roxmltree::Document::parse(text).expect("/feed.xml is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "rss");
    assert_eq!(doc.root_element().attribute("version"), Some("2.0"));
    rss::Channel::read_from(&body[..]).expect("/feed.xml is RSS 2.0")
}

/// How many distinct entries feed-rs finds in a file: the count the daemon must show.
fn entry_count(bytes: &[u8]) -> usize {
    let feed = feed_rs::parser::parse(bytes).unwrap();
    let mut ids: Vec<_> = feed.entries.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids.len()
}

#[tokio::test]
async fn merged_feed_holds_every_item_of_every_source_and_validates() {
    let server = FeedServer::start().await;
    let inputs = [
        ("tarleb", "/tarleb.xml", "tarleb-rss.xml", RSS),
        ("dini", "/dini.atom", "dini-atom.xml", ATOM),
        ("jsonfeed", "/feed.json", "jsonfeed.json", JSON),
    ];
    let mut expected = HashMap::new();
    for (id, path, file, content_type) in inputs {
        let body = feed_file(file);
        expected.insert(server.url(path), (id, entry_count(&body)));
        server.set(path, body, content_type);
    }
    let urls: Vec<_> = inputs
        .iter()
        .map(|(id, path, ..)| (*id, server.url(path)))
        .collect();
    let sources: Vec<_> = urls.iter().map(|(id, url)| (*id, url.as_str())).collect();
    let config = TestConfig::new(&sources, "1h", "");
    let app = TestApp::spawn(config.settings()).await;

    let total: usize = expected.values().map(|(_, n)| n).sum();
    assert!(total > 40, "the inputs hold {total} items");
    app.wait_for_feed("every item", |feed| feed.entries.len() == total)
        .await;

    let channel = rss_channel(&app).await;
    channel.validate().expect("/feed.xml validates as RSS 2.0");
    assert_eq!(channel.items().len(), total);
    let self_link = &channel.atom_ext().expect("atom:link").links()[0];
    assert_eq!(self_link.rel(), "self");
    assert_eq!(self_link.href(), "http://news.example.org/feed.xml");
    let mut per_source: HashMap<String, usize> = HashMap::new();
    for item in channel.items() {
        let source = item.source().expect("every item has <source>");
        *per_source.entry(source.url().to_owned()).or_default() += 1;
        assert!(item.guid().is_some(), "every item has a guid");
        assert!(item.pub_date().is_some(), "every item has a pubDate");
        assert!(item.title().is_some_and(|t| !t.is_empty()));
        if let Some(link) = item.link() {
            assert!(link.starts_with("http"), "absolute link: {link}");
            assert!(
                !link.contains("utm_"),
                "tracking parameters dropped: {link}"
            );
        }
    }
    for (url, (id, count)) in &expected {
        assert_eq!(per_source.get(url), Some(count), "items of source {id}");
    }
    // Newest first.
    let dates: Vec<_> = channel
        .items()
        .iter()
        .map(|i| chrono::DateTime::parse_from_rfc2822(i.pub_date().unwrap()).unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");
    app.stop().await;
}

#[tokio::test]
async fn second_poll_is_a_conditional_get_answered_304() {
    let server = FeedServer::start().await;
    server.set("/tarleb.xml", feed_file("tarleb-rss.xml"), RSS);
    let url = server.url("/tarleb.xml");
    let config = TestConfig::new(&[("tarleb", &url)], "1s", "");
    let app = TestApp::spawn(config.settings()).await;

    wait_until("a conditional request answered 304", || {
        server
            .hits("/tarleb.xml")
            .iter()
            .any(|h| h.conditional && h.status == 304)
    })
    .await;
    let hits = server.hits("/tarleb.xml");
    assert!(
        !hits[0].conditional,
        "the first poll has nothing to be conditional on"
    );
    assert!(
        hits[0].user_agent.starts_with("librarywire/"),
        "User-Agent names the project: {}",
        hits[0].user_agent
    );
    let status = app.store.source_status("tarleb").await.unwrap().unwrap();
    assert_eq!(status.consecutive_failures, 0);
    assert!(status.last_success.is_some());
    assert_eq!(
        status.item_count as usize,
        entry_count(&feed_file("tarleb-rss.xml"))
    );
    app.stop().await;
}

#[tokio::test]
async fn added_items_appear_and_edited_items_keep_their_id_with_a_new_revision() {
    let server = FeedServer::start().await;
    server.set(
        "/small.xml",
        small_rss(&[("a", "First"), ("b", "Second")]),
        RSS,
    );
    let url = server.url("/small.xml");
    let config = TestConfig::new(&[("small", &url)], "1s", "");
    let app = TestApp::spawn(config.settings()).await;
    app.wait_for_feed("two items", |f| f.entries.len() == 2)
        .await;

    server.set(
        "/small.xml",
        small_rss(&[("a", "First"), ("b", "Second"), ("c", "Third")]),
        RSS,
    );
    app.wait_for_feed("the added item", |f| f.entries.len() == 3)
        .await;

    server.set(
        "/small.xml",
        small_rss(&[("a", "First, corrected"), ("b", "Second"), ("c", "Third")]),
        RSS,
    );
    let feed = app
        .wait_for_feed("the edited title", |f| {
            f.entries.iter().any(|e| {
                e.title
                    .as_ref()
                    .is_some_and(|t| t.content == "First, corrected")
            })
        })
        .await;
    assert_eq!(feed.entries.len(), 3, "an edit is not a new item");

    let id = ItemId::derive("small", "guid:a");
    let stored = app
        .store
        .item(id.as_str())
        .await
        .unwrap()
        .expect("item a keeps its id");
    assert_eq!(stored.title, "First, corrected");
    assert_eq!(stored.revision, 2);
    assert_eq!(stored.url.as_deref(), Some("http://example.org/a"));
    let revisions = app.store.revisions(id.as_str()).await.unwrap();
    assert_eq!(
        revisions.iter().map(|r| r.revision).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let untouched = app
        .store
        .item(ItemId::derive("small", "guid:b").as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched.revision, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_restart_shows_the_same_items_and_creates_no_duplicates() {
    let server = FeedServer::start().await;
    let body = feed_file("dini-atom.xml");
    let count = entry_count(&body);
    server.set("/dini.atom", body.clone(), ATOM);
    let url = server.url("/dini.atom");
    let config = TestConfig::new(&[("dini", &url)], "1s", "");

    let app = TestApp::spawn(config.settings()).await;
    let before = app
        .wait_for_feed("every item", |f| f.entries.len() == count)
        .await;
    let (outbox_before, _) = app.store.outbox_depth().await.unwrap();
    assert_eq!(
        outbox_before as usize, count,
        "one pending message per item (no broker in this test)"
    );
    app.stop().await;

    // The same entries behind a new ETag: the restarted daemon must fetch
    // them in full and still find nothing new.
    let mut touched = body.clone();
    touched.extend_from_slice(b"\n");
    server.set("/dini.atom", touched, ATOM);
    let full_fetches_before = server
        .hits("/dini.atom")
        .iter()
        .filter(|h| h.status == 200)
        .count();

    let restarted = chrono::Utc::now();
    let app = TestApp::spawn(config.settings()).await;
    let after = app.feed().await;
    assert_eq!(
        after.entries.len(),
        count,
        "the restarted daemon serves the stored items at once"
    );
    wait_until("a full re-fetch after the restart", || {
        server
            .hits("/dini.atom")
            .iter()
            .filter(|h| h.status == 200)
            .count()
            > full_fetches_before
    })
    .await;
    // The first poll after the restart is that full fetch; a source's polls
    // are one after the other, each stored whole with its success, so once a
    // success after the restart is stored, that poll's items are too.
    eventually("the re-fetched poll to be stored", || async {
        let status = app.store.source_status("dini").await.unwrap().unwrap();
        status
            .last_success
            .filter(|&success| success > restarted)
            .ok_or_else(|| format!("last success {:?}", status.last_success))
    })
    .await;
    let after = app.feed().await;
    assert_eq!(after.entries.len(), count, "no duplicates");
    let ids = |f: &feed_rs::model::Feed| {
        let mut ids: Vec<_> = f.entries.iter().map(|e| e.id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        ids(&before),
        ids(&after),
        "the same items, with the same ids"
    );
    let (outbox_after, _) = app.store.outbox_depth().await.unwrap();
    assert_eq!(
        outbox_after, outbox_before,
        "an unchanged re-poll queues nothing to publish"
    );
    for item in app.store.newest_items(1000).await.unwrap() {
        assert_eq!(item.revision, 1, "no item gained a revision by a restart");
    }
    app.stop().await;
}

#[tokio::test]
async fn feed_xml_answers_conditional_requests_and_gzip() {
    let server = FeedServer::start().await;
    server.set("/small.xml", small_rss(&[("a", "First")]), RSS);
    let url = server.url("/small.xml");
    let config = TestConfig::new(&[("small", &url)], "1h", "");
    let app = TestApp::spawn(config.settings()).await;
    app.wait_for_feed("the item", |f| f.entries.len() == 1)
        .await;

    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let first = client.get(app.url("/feed.xml")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.headers()["content-type"],
        "application/rss+xml; charset=utf-8"
    );
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let last_modified = first.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_owned();

    let by_etag = client
        .get(app.url("/feed.xml"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(by_etag.status(), 304);
    assert!(by_etag.bytes().await.unwrap().is_empty());
    let by_date = client
        .get(app.url("/feed.xml"))
        .header("if-modified-since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(by_date.status(), 304);
    let stale = client
        .get(app.url("/feed.xml"))
        .header("if-none-match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);

    let gzipped = client
        .get(app.url("/feed.xml"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let compressed = gzipped.bytes().await.unwrap();
    let mut xml = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut xml)
        .unwrap();
    assert!(xml.contains("<title>First</title>"), "{xml}");

    let health = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn file_sources_are_read_and_their_edits_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("local.xml");
    std::fs::write(&path, small_rss(&[("x", "Local one")])).unwrap();
    let url = url::Url::from_file_path(&path).unwrap().to_string();
    let config = TestConfig::new(&[("local", &url)], "1s", "");
    let app = TestApp::spawn(config.settings()).await;
    app.wait_for_feed("the file's item", |f| f.entries.len() == 1)
        .await;
    std::fs::write(&path, small_rss(&[("x", "Local one"), ("y", "Local two")])).unwrap();
    app.wait_for_feed("the file's new item", |f| f.entries.len() == 2)
        .await;
    app.stop().await;
}

#[tokio::test]
async fn a_broken_source_does_not_stop_the_others() {
    let server = FeedServer::start().await;
    server.set("/good.xml", small_rss(&[("a", "Good news")]), RSS);
    server.set("/broken.xml", "{ this is not a feed", JSON);
    let good = server.url("/good.xml");
    let broken = server.url("/broken.xml");
    let missing = server.url("/missing.xml");
    let config = TestConfig::new(
        &[("good", &good), ("broken", &broken), ("missing", &missing)],
        "1s",
        "",
    );
    let app = TestApp::spawn(config.settings()).await;
    app.wait_for_feed("the good source's item", |f| f.entries.len() == 1)
        .await;
    eventually("both bad sources to be recorded", || async {
        for id in ["broken", "missing"] {
            let recorded = app
                .store
                .source_status(id)
                .await
                .unwrap()
                .is_some_and(|s| s.consecutive_failures > 0 && s.last_error.is_some());
            if !recorded {
                return false;
            }
        }
        true
    })
    .await;
    let missing_status = app.store.source_status("missing").await.unwrap().unwrap();
    assert!(missing_status.last_error.unwrap().contains("404"));
    app.stop().await;
}
