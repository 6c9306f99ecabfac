//! The feed outputs: Atom and JSON Feed beside RSS, per-source feeds,
//! filters, 304s and gzip on every feed endpoint, and WebSub pings.

use crate::helpers::{FeedServer, TestApp, TestConfig, eventually, wait_until};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{TimeZone, Utc};
use librarywire::item::{Item, ItemId, SourceRef};
use std::io::Read;
use std::sync::{Arc, Mutex};

const RSS: &str = "application/rss+xml";

/// One input item: guid, title, description, categories, day of August 2021.
type Input = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    u32,
);

const ALPHA: &[Input] = &[
    ("a1", "Reading room opens", "A new room", &["Events"], 1),
    (
        "a2",
        "Budget report for 2021",
        "Numbers",
        &["Reports", "News"],
        3,
    ),
    (
        "a3",
        "Été à la bibliothèque",
        "Summer programme",
        &["News"],
        5,
    ),
];

const BETA: &[Input] = &[
    (
        "b1",
        "Open access week",
        "Reading lists for open access",
        &["events"],
        2,
    ),
    ("b2", "New reading lists", "Lists", &["News"], 4),
    ("b3", "Staff news", "People", &[], 6),
];

/// An RSS 2.0 feed of `items`.
fn rss_of(items: &[Input]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title><link>http://example.org/</link><description>d</description>"#,
    );
    for (guid, title, description, categories, day) in items {
        xml.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>http://example.org/{guid}</link>\
             <description>{description}</description><pubDate>{day:02} Aug 2021 08:00:00 GMT</pubDate>"
        ));
        for c in *categories {
            xml.push_str(&format!("<category>{c}</category>"));
        }
        xml.push_str("</item>");
    }
    xml.push_str("</channel></rss>");
    xml
}

/// A daemon polling `alpha` and `beta`, with all six items in its feed.
async fn two_sources() -> (FeedServer, TestConfig, TestApp) {
    let server = FeedServer::start().await;
    server.set("/alpha.xml", rss_of(ALPHA), RSS);
    server.set("/beta.xml", rss_of(BETA), RSS);
    let config = TestConfig::new(
        &[
            ("alpha", &server.url("/alpha.xml")),
            ("beta", &server.url("/beta.xml")),
        ],
        "1h",
        "",
    );
    let app = TestApp::spawn(config.settings()).await;
    app.wait_for_feed("both sources' items", |f| f.entries.len() == 6)
        .await;
    (server, config, app)
}

/// A client that neither asks for nor undoes compression.
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder().no_gzip().build().unwrap()
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    plain_client().get(app.url(path)).send().await.unwrap()
}

/// `path`, parsed with feed-rs.
async fn parsed(app: &TestApp, path: &str) -> feed_rs::model::Feed {
    let response = get(app, path).await;
    assert_eq!(response.status(), 200, "{path}");
    let body = response.bytes().await.unwrap();
    feed_rs::parser::parse(&body[..]).unwrap_or_else(|e| panic!("{path} parses: {e}"))
}

/// The titles of `path`'s entries, in order.
async fn titles(app: &TestApp, path: &str) -> Vec<String> {
    parsed(app, path)
        .await
        .entries
        .into_iter()
        .map(|e| e.title.map(|t| t.content).unwrap_or_default())
        .collect()
}

fn titles_of(inputs: &[&Input]) -> Vec<String> {
    inputs.iter().map(|i| i.1.to_owned()).collect()
}

/// (id, title, link) of every entry.
fn entries(feed: &feed_rs::model::Feed) -> Vec<(String, String, String)> {
    feed.entries
        .iter()
        .map(|e| {
            (
                e.id.clone(),
                e.title
                    .as_ref()
                    .map(|t| t.content.clone())
                    .unwrap_or_default(),
                e.links.first().map(|l| l.href.clone()).unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn atom_and_json_feed_carry_exactly_the_rss_items_with_their_sources() {
    let (_server, _config, app) = two_sources().await;
    let rss = parsed(&app, "/feed.xml").await;
    let atom = parsed(&app, "/feed.atom").await;
    let json = parsed(&app, "/feed.json").await;
    let expected = entries(&rss);
    assert_eq!(expected.len(), 6);
    assert!(
        expected
            .iter()
            .all(|(id, _, _)| id.starts_with("urn:librarywire:"))
    );
    assert_eq!(entries(&atom), expected);
    assert_eq!(entries(&json), expected);

    let atom_response = get(&app, "/feed.atom").await;
    assert_eq!(
        atom_response.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let atom_text = atom_response.text().await.unwrap();
    let doc = roxmltree::Document::parse(&atom_text).unwrap();
    let root = doc.root_element();
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2005/Atom")
    );
    let self_link = root
        .children()
        .find(|n| n.has_tag_name("link") && n.attribute("rel") == Some("self"))
        .expect("a self link");
    assert_eq!(
        self_link.attribute("href"),
        Some("http://news.example.org/feed.atom")
    );
    for entry in root.children().filter(|n| n.has_tag_name("entry")) {
        assert!(entry.children().any(|n| n.has_tag_name("updated")));
        let source = entry
            .children()
            .find(|n| n.has_tag_name("source"))
            .expect("every entry names its source");
        let title = source.children().find(|n| n.has_tag_name("title")).unwrap();
        assert!(
            ["Source alpha", "Source beta"].contains(&title.text().unwrap_or("")),
            "{title:?}"
        );
    }

    let json_response = get(&app, "/feed.json").await;
    assert_eq!(
        json_response.headers()["content-type"],
        "application/feed+json; charset=utf-8"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&json_response.bytes().await.unwrap()).unwrap();
    assert_eq!(json["version"], "https://jsonfeed.org/version/1.1");
    assert_eq!(json["feed_url"], "http://news.example.org/feed.json");
    assert!(json.get("hubs").is_none(), "no hub is configured");
    let items = json["items"].as_array().unwrap();
    let first = &items[0];
    assert_eq!(first["title"], "Staff news");
    assert_eq!(first["_librarywire"]["source"]["id"], "beta");
    assert_eq!(first["_librarywire"]["source"]["name"], "Source beta");
    let a2 = items
        .iter()
        .find(|i| i["title"] == "Budget report for 2021")
        .unwrap();
    assert_eq!(a2["tags"], serde_json::json!(["Reports", "News"]));
    assert_eq!(a2["_librarywire"]["source"]["id"], "alpha");
    app.stop().await;
}

#[tokio::test]
async fn a_source_feed_holds_only_that_source_and_unknown_ids_are_404() {
    let (_server, _config, app) = two_sources().await;
    for file in ["feed.xml", "feed.atom", "feed.json"] {
        let path = format!("/sources/alpha/{file}");
        assert_eq!(
            titles(&app, &path).await,
            titles_of(&[&ALPHA[2], &ALPHA[1], &ALPHA[0]]),
            "{path}"
        );
        let feed = parsed(&app, &format!("/sources/beta/{file}?limit=1")).await;
        assert_eq!(feed.entries.len(), 1);
        assert_eq!(
            feed.entries[0].title.as_ref().unwrap().content,
            "Staff news"
        );
    }

    let missing = get(&app, "/sources/nobody/feed.xml").await;
    assert_eq!(missing.status(), 404);
    let message = missing.text().await.unwrap();
    assert!(message.contains("\"nobody\""), "{message}");
    assert_eq!(get(&app, "/sources/alpha/feed.txt").await.status(), 404);
    let both = get(&app, "/sources/alpha/feed.xml?source=beta").await;
    assert_eq!(both.status(), 400);

    // A source that is no longer configured still has a feed while the
    // store keeps its items.
    let gamma = SourceRef {
        id: "gamma".into(),
        name: "Gamma".into(),
        url: "http://gamma.example.org/feed".into(),
    };
    let item = stored_item(&gamma, "g1", "Gamma's last word", 7);
    app.store
        .apply_items(&gamma, &[item], Utc::now())
        .await
        .unwrap();
    assert_eq!(
        titles(&app, "/sources/gamma/feed.json").await,
        ["Gamma's last word"]
    );
    app.stop().await;
}

#[tokio::test]
async fn each_filter_returns_exactly_the_matching_items() {
    let (_server, _config, app) = two_sources().await;
    let [a1, a2, a3] = [&ALPHA[0], &ALPHA[1], &ALPHA[2]];
    let [b1, b2, b3] = [&BETA[0], &BETA[1], &BETA[2]];
    let cases: &[(&str, Vec<&Input>)] = &[
        ("source=beta", vec![b3, b2, b1]),
        ("source=beta,alpha", vec![b3, a3, b2, a2, b1, a1]),
        ("category=NEWS", vec![a3, b2, a2]),
        ("category=events", vec![b1, a1]),
        ("category=event", vec![]),
        // In the title (a1, b2) or the summary (b1).
        ("q=reading", vec![b2, b1, a1]),
        ("q=Reading+LISTS", vec![b2, b1]),
        ("q=%C3%89T%C3%89", vec![a3]),
        ("q=reading+budget", vec![]),
        ("category=news&source=beta", vec![b2]),
        ("category=news&q=report", vec![a2]),
        ("limit=2", vec![b3, a3]),
        ("source=alpha&limit=1", vec![a3]),
    ];
    for (query, expected) in cases {
        for file in ["feed.xml", "feed.atom", "feed.json"] {
            let path = format!("/{file}?{query}");
            assert_eq!(titles(&app, &path).await, titles_of(expected), "{path}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_limit_defaults_to_feed_size_and_is_capped() {
    let config = TestConfig::new(&[], "1h", "");
    let app = TestApp::spawn(config.settings()).await;
    // Two sources of 600 each: under retention's 1000 per source, over the
    // cap together.
    for id in ["bulk-one", "bulk-two"] {
        let bulk = SourceRef {
            id: id.into(),
            name: id.into(),
            url: format!("http://{id}.example.org/feed"),
        };
        let items: Vec<Item> = (0..600)
            .map(|n| stored_item(&bulk, &format!("n{n}"), &format!("Item {n}"), 1))
            .collect();
        app.store
            .apply_items(&bulk, &items, Utc::now())
            .await
            .unwrap();
    }
    let count = |path: &'static str| {
        let app = &app;
        async move { parsed(app, path).await.entries.len() }
    };
    // TestConfig's feed_size is 500.
    eventually("the merged feed to fill", || async {
        let n = count("/feed.json").await;
        if n == 500 {
            Ok(())
        } else {
            Err(format!("{n} items"))
        }
    })
    .await;
    assert_eq!(count("/feed.xml?limit=5000").await, 1000);
    assert_eq!(count("/feed.atom?limit=1000").await, 1000);
    assert_eq!(count("/feed.json?limit=1001").await, 1000);
    assert_eq!(count("/feed.json?limit=7").await, 7);
    assert_eq!(
        count("/sources/bulk-one/feed.json?limit=999999999999").await,
        600
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_parameters_are_refused_with_400_naming_them() {
    let (_server, _config, app) = two_sources().await;
    for (query, named) in [
        ("limit=abc", "`limit`"),
        ("limit=0", "`limit`"),
        ("limit=", "`limit`"),
        ("limit=3&limit=4", "`limit`"),
        ("category=", "`category`"),
        ("q=", "`q`"),
        ("source=Alpha", "`source`"),
        ("source=nobody", "`source`"),
        ("source=alpha,nobody", "`source`"),
        ("sort=date", "`sort`"),
    ] {
        for file in ["feed.xml", "feed.atom", "feed.json"] {
            let path = format!("/{file}?{query}");
            let response = get(&app, &path).await;
            assert_eq!(response.status(), 400, "{path}");
            let message = response.text().await.unwrap();
            assert!(message.contains(named), "{path}: {message}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn every_feed_endpoint_answers_304_and_serves_its_own_gzip() {
    let (_server, _config, app) = two_sources().await;
    let client = plain_client();
    for path in [
        "/feed.xml",
        "/feed.atom",
        "/feed.json",
        "/sources/alpha/feed.xml",
        "/sources/beta/feed.atom",
        "/sources/beta/feed.json",
        "/feed.xml?category=news",
        "/feed.atom?q=reading&limit=2",
        "/feed.json?source=alpha,beta",
    ] {
        let plain = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(plain.status(), 200, "{path}");
        assert!(plain.headers().get("content-encoding").is_none(), "{path}");
        assert_eq!(plain.headers()["vary"], "accept-encoding", "{path}");
        let etag = plain.headers()["etag"].clone();
        let last_modified = plain.headers()["last-modified"].clone();
        let identity = plain.bytes().await.unwrap();

        let again = client
            .get(app.url(path))
            .header("if-none-match", etag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"], etag, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
        let weak = format!("W/{}", etag.to_str().unwrap());
        let by_weak = client
            .get(app.url(path))
            .header("if-none-match", weak)
            .send()
            .await
            .unwrap();
        assert_eq!(by_weak.status(), 304, "{path}");
        let by_date = client
            .get(app.url(path))
            .header("if-modified-since", last_modified)
            .send()
            .await
            .unwrap();
        assert_eq!(by_date.status(), 304, "{path}");

        let gzipped = client
            .get(app.url(path))
            .header("accept-encoding", "br;q=1, gzip;q=0.5")
            .send()
            .await
            .unwrap();
        assert_eq!(gzipped.status(), 200, "{path}");
        assert_eq!(gzipped.headers()["content-encoding"], "gzip", "{path}");
        assert_eq!(gzipped.headers()["vary"], "accept-encoding", "{path}");
        let gzip_etag = gzipped.headers()["etag"].clone();
        assert_ne!(gzip_etag, etag, "{path}: the gzip body has its own ETag");
        let compressed = gzipped.bytes().await.unwrap();
        let mut decompressed = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut decompressed)
            .unwrap();
        assert_eq!(decompressed, identity, "{path}");

        let gzip_again = client
            .get(app.url(path))
            .header("accept-encoding", "gzip")
            .header("if-none-match", gzip_etag.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(gzip_again.status(), 304, "{path}");
        // The gzip validator does not validate the identity body.
        let crossed = client
            .get(app.url(path))
            .header("if-none-match", gzip_etag)
            .send()
            .await
            .unwrap();
        assert_eq!(crossed.status(), 200, "{path}");
        let refused = client
            .get(app.url(path))
            .header("accept-encoding", "gzip;q=0, br")
            .send()
            .await
            .unwrap();
        assert!(
            refused.headers().get("content-encoding").is_none(),
            "{path}"
        );
        assert_eq!(refused.bytes().await.unwrap(), identity, "{path}");
    }
    app.stop().await;
}

/// What the test hub saw: the Content-Type and form of each request.
#[derive(Default)]
struct HubLog {
    pings: Vec<(String, Vec<(String, String)>)>,
    /// How many requests to refuse with 503 before accepting.
    refuse: usize,
}

async fn hub(
    State(log): State<Arc<Mutex<HubLog>>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let mut log = log.lock().unwrap();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let form = url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    log.pings.push((content_type, form));
    if log.refuse > 0 {
        log.refuse -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    StatusCode::NO_CONTENT
}

/// How many publish pings the hub has seen for `topic`.
fn pings_for(log: &Mutex<HubLog>, topic: &str) -> usize {
    log.lock()
        .unwrap()
        .pings
        .iter()
        .filter(|(_, form)| form.iter().any(|(k, v)| k == "hub.url" && v == topic))
        .count()
}

const TOPICS: [&str; 3] = [
    "http://news.example.org/feed.xml",
    "http://news.example.org/feed.atom",
    "http://news.example.org/feed.json",
];

#[tokio::test]
async fn the_websub_hub_is_advertised_and_pinged_when_the_merged_feed_changes() {
    let log = Arc::new(Mutex::new(HubLog {
        refuse: 1,
        ..HubLog::default()
    }));
    let hub_app = axum::Router::new()
        .route("/hub", axum::routing::post(hub))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub_url = format!("http://{}/hub", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, hub_app).await });

    let server = FeedServer::start().await;
    server.set("/alpha.xml", rss_of(&ALPHA[..1]), RSS);
    let config = TestConfig::new(&[("alpha", &server.url("/alpha.xml"))], "1s", "");
    let mut settings = config.settings();
    settings.server.websub_hub = Some(hub_url.parse().unwrap());
    let app = TestApp::spawn(settings).await;
    app.wait_for_feed("the first item", |f| f.entries.len() == 1)
        .await;

    // The first item changed the merged feed: one accepted ping per topic,
    // even though the hub refused the very first request (it is retried).
    wait_until("a ping for each merged feed", || {
        TOPICS.iter().all(|t| pings_for(&log, t) >= 1) && log.lock().unwrap().pings.len() >= 4
    })
    .await;
    {
        let log = log.lock().unwrap();
        for (content_type, form) in &log.pings {
            assert_eq!(content_type, "application/x-www-form-urlencoded");
            assert!(
                form.contains(&("hub.mode".into(), "publish".into())),
                "{form:?}"
            );
        }
    }
    let before: Vec<usize> = TOPICS.iter().map(|t| pings_for(&log, t)).collect();

    // A new item: a new merged feed, new pings.
    server.set("/alpha.xml", rss_of(&ALPHA[..2]), RSS);
    app.wait_for_feed("the second item", |f| f.entries.len() == 2)
        .await;
    wait_until("pings for the new item", || {
        TOPICS
            .iter()
            .zip(&before)
            .all(|(t, n)| pings_for(&log, t) > *n)
    })
    .await;

    // The hub is advertised by every merged feed, in its format's way.
    let rss = get(&app, "/feed.xml").await.text().await.unwrap();
    let channel = rss::Channel::read_from(rss.as_bytes()).unwrap();
    let links = channel.atom_ext().unwrap().links();
    assert!(
        links
            .iter()
            .any(|l| l.rel() == "hub" && l.href() == hub_url),
        "{links:?}"
    );
    let atom = parsed(&app, "/feed.atom").await;
    assert!(
        atom.links
            .iter()
            .any(|l| l.rel.as_deref() == Some("hub") && l.href == hub_url),
        "{:?}",
        atom.links
    );
    let json: serde_json::Value =
        serde_json::from_slice(&get(&app, "/feed.json").await.bytes().await.unwrap()).unwrap();
    assert_eq!(
        json["hubs"],
        serde_json::json!([{"type": "WebSub", "url": hub_url}])
    );
    // A filtered feed is never pinged, so it does not send readers to the hub.
    let filtered = get(&app, "/feed.json?limit=1").await.text().await.unwrap();
    assert!(!filtered.contains("hubs"), "{filtered}");
    app.stop().await;
}

/// An item of `source` as the store would hold it, dated `day` August 2021.
fn stored_item(source: &SourceRef, key: &str, title: &str, day: u32) -> Item {
    let published = Utc.with_ymd_and_hms(2021, 8, day, 8, 0, 0).unwrap();
    let mut item = Item {
        id: ItemId::derive(&source.id, key),
        source: source.clone(),
        guid: key.into(),
        url: Some(format!("http://example.org/{}/{key}", source.id)),
        title: title.into(),
        summary: String::new(),
        content_html: None,
        authors: vec![],
        categories: vec![],
        language: None,
        published,
        updated: None,
        revision: 1,
        published_from_source: true,
        content_hash: String::new(),
    };
    item.content_hash = item.compute_content_hash();
    item
}
