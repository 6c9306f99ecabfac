//! Retention keeps its word: a real feed whose items are all older than
//! `store.max_age` keeps its newest `store.min_items_per_source` (20 by
//! default) in the merged feed across restarts, and the older ones are
//! never stored, published or served.

use crate::broker::{BROKER, TestQueue, amqp_toml, test_exchange};
use crate::helpers::{FeedServer, TestApp, TestConfig, feed_file, wait_until};
use std::collections::BTreeSet;
use std::time::Duration;

const ATOM: &str = "application/atom+xml";

/// The default retention: a year, and a floor of 20 per source.
const DEFAULT_RETENTION: &str = "";

/// A title as the merged feed carries it: white space collapsed.
fn plain(title: &str) -> String {
    title.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The titles of `feed`'s entries, newest first by their publication date
/// (the merged feed's order), `n` of them.
fn newest_titles(feed: &[u8], n: usize) -> Vec<String> {
    let mut entries = feed_rs::parser::parse(feed).unwrap().entries;
    // The capture lists one id twice; the first listing is the item.
    let mut ids = BTreeSet::new();
    entries.retain(|e| !e.id.starts_with("http") || ids.insert(e.id.clone()));
    entries.sort_by_key(|e| std::cmp::Reverse(e.published));
    entries
        .iter()
        .take(n)
        .map(|e| plain(&e.title.as_ref().unwrap().content))
        .collect()
}

fn titles(feed: &feed_rs::model::Feed) -> Vec<String> {
    feed.entries
        .iter()
        .map(|e| plain(&e.title.as_ref().unwrap().content))
        .collect()
}

/// A real capture (Front Matter's Atom feed, 25 entries, 24 items, the
/// newest of January 2024): every entry is older than a year.
fn old_feed() -> Vec<u8> {
    feed_file("front-matter-atom.xml")
}

/// The capture with one more entry written in its shape, after its head.
fn with_entry(feed: &[u8], id: &str, title: &str, published: &str) -> Vec<u8> {
    let text = String::from_utf8(feed.to_vec()).unwrap();
    let head_end = text.find("<entry>").unwrap();
    let entry = format!(
        "<entry>\n\t\t<title><![CDATA[ {title} ]]></title>\n\
         \t\t<link href=\"https://blog.front-matter.io/posts/{id}/\" />\n\
         \t\t<id>https://doi.org/10.53731/{id}</id>\n\
         \t\t<published>{published}</published>\n\
         \t\t<updated>{published}</updated>\n\
         \t\t<content type=\"html\"><![CDATA[ <p>{title}.</p> ]]></content>\n\
         \t</entry>\n    "
    );
    format!("{}{entry}{}", &text[..head_end], &text[head_end..]).into_bytes()
}

async fn feed_xml(app: &TestApp) -> Vec<u8> {
    app.client()
        .get(app.url("/feed.xml"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

/// Waits until the feed server saw a full fetch (a 200) beyond `full_before`,
/// then one more poll: polls of a source never overlap, so that fetch's
/// items are stored by then.
async fn a_full_fetch_stored(server: &FeedServer, path: &str, full_before: usize) {
    let full = |server: &FeedServer| server.hits(path).iter().filter(|h| h.status == 200).count();
    wait_until("a full fetch", || full(server) > full_before).await;
    let after = server.hits(path).len();
    wait_until("one more poll after it", || server.hits(path).len() > after).await;
}

#[tokio::test]
async fn an_old_feed_keeps_its_newest_20_and_the_same_merged_feed_across_a_restart() {
    let server = FeedServer::start().await;
    let body = old_feed();
    server.set("/front-matter.xml", body.clone(), ATOM);
    let url = server.url("/front-matter.xml");
    let config = TestConfig::with_store(&[("front-matter", &url)], "1s", DEFAULT_RETENTION, "");

    let app = TestApp::spawn(config.settings()).await;
    let first = app
        .wait_for_feed("the old feed's items", |f| !f.entries.is_empty())
        .await;
    assert_eq!(
        titles(&first),
        newest_titles(&body, 20),
        "the newest 20 of the source, however old"
    );
    let before = feed_xml(&app).await;
    app.stop().await;

    // Restart against the same store; the same entries behind a new ETag,
    // so the restarted daemon fetches and compares them all, after the
    // retention it runs at start.
    let mut touched = body.clone();
    touched.push(b'\n');
    server.set("/front-matter.xml", touched, ATOM);
    let full_before = server
        .hits("/front-matter.xml")
        .iter()
        .filter(|h| h.status == 200)
        .count();
    let app = TestApp::spawn(config.settings()).await;
    a_full_fetch_stored(&server, "/front-matter.xml", full_before).await;
    let after = feed_xml(&app).await;
    assert!(
        after == before,
        "the merged feed changed across a restart:\nbefore: {} items\nafter: {} items",
        titles(&feed_rs::parser::parse(&before[..]).unwrap()).len(),
        titles(&feed_rs::parser::parse(&after[..]).unwrap()).len(),
    );
    assert_eq!(app.store.newest_items(100).await.unwrap().len(), 20);
    app.stop().await;
}

#[tokio::test]
async fn an_old_item_first_seen_below_the_newest_20_is_never_published() {
    let exchange = test_exchange("retention");
    let mut queue = TestQueue::bind(&exchange, "item.#").await;
    let server = FeedServer::start().await;
    let body = old_feed();
    server.set("/front-matter.xml", body.clone(), ATOM);
    let url = server.url("/front-matter.xml");
    let config = TestConfig::with_store(
        &[("front-matter", &url)],
        "1s",
        DEFAULT_RETENTION,
        &amqp_toml(BROKER, &exchange),
    );
    let app = TestApp::spawn(config.settings()).await;

    let newest = newest_titles(&body, 20);
    let first = queue.take(20).await;
    assert!(
        first
            .iter()
            .all(|m| m.routing_key == "item.new.front-matter")
    );
    let published: BTreeSet<String> = first
        .iter()
        .map(|m| plain(m.body["data"]["title"].as_str().unwrap()))
        .collect();
    assert_eq!(
        published,
        newest.iter().cloned().collect(),
        "an item.new for each of the newest 20"
    );
    assert!(
        queue.drain_for(Duration::from_secs(1)).await.is_empty(),
        "and none for the older ones"
    );

    // The feed now lists one more old entry, older than its newest 20, and
    // one of today.
    let today = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let grown = with_entry(
        &with_entry(
            &body,
            "backdated",
            "A backdated report",
            "2015-03-02T10:00:00Z",
        ),
        "today",
        "News of today",
        &today,
    );
    server.set("/front-matter.xml", grown, ATOM);
    let news = queue.take(1).await.remove(0);
    assert_eq!(news.routing_key, "item.new.front-matter");
    assert_eq!(news.body["data"]["title"], "News of today");
    assert!(
        queue.drain_for(Duration::from_secs(2)).await.is_empty(),
        "no item.new for the backdated entry"
    );
    let served = app
        .wait_for_feed("today's news", |f| {
            titles(f).contains(&"News of today".to_owned())
        })
        .await;
    let served = titles(&served);
    assert!(
        !served.contains(&"A backdated report".to_owned()),
        "{served:?}"
    );
    assert_eq!(served.len(), 21, "today's and the old 20: {served:?}");
    assert_eq!(served[1..], newest[..]);
    app.stop().await;
    queue.delete_exchange().await;
}
