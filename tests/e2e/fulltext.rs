//! Full text end to end: a summary-only feed whose links point at article
//! pages on a real loopback server, through the daemon (merged feed,
//! `/status`, `/metrics`) and through single polls on a real store (the
//! per-poll bound, one fetch per article, retries, the size limit, GBK,
//! the outbound policy, and no revision from the articles).

use crate::cli::{accepted_config, librarywire, refused_config};
use crate::helpers::{FeedServer, TestApp, TestConfig};
use crate::pages::status;
use chrono::{DateTime, TimeZone, Utc};
use librarywire::config::Settings;
use librarywire::fetch::Fetcher;
use librarywire::refresh::{FULL_TEXT_TRIES, Refreshed, refresh};
use librarywire::store::Store;
use std::path::Path;

const HTML: &str = "text/html; charset=utf-8";
const RSS: &str = "application/rss+xml";

fn page_testdata(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/page/testdata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A captured blog page of the shared corpus, as the page stage's test
/// data keeps it.
fn captured(name: &str) -> Vec<u8> {
    page_testdata(&format!("rogue-scholar-api/{name}"))
}

/// A summary-only RSS feed: one item per `(guid, link)`, each with a
/// one-line description and no content. `build` changes the channel's
/// bytes (and so its ETag) without changing any item.
fn summary_feed(items: &[(&str, String)], build: u32) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Library news</title>\
         <link>http://example.org/</link><description>News</description>\
         <lastBuildDate>Thu, 19 Aug 2021 0{build}:00:00 GMT</lastBuildDate>"
    );
    for (guid, link) in items {
        xml.push_str(&format!(
            "<item><guid isPermaLink=\"false\">{guid}</guid><title>News {guid}</title>\
             <link>{link}</link><description>One line about {guid}.</description>\
             <pubDate>Thu, 19 Aug 2021 08:00:00 GMT</pubDate></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml
}

/// A `full_text = true` source of `url` with `extra` keys. The source id
/// is `id`: the metrics are the process's, so each test counts its own.
fn full_text_source(id: &str, url: &str, extra: &str) -> String {
    format!(
        "[[sources]]\nid = \"{id}\"\nname = \"Library news\"\nurl = \"{url}\"\n\
         full_text = true\n{extra}\n"
    )
}

/// The content the feed gave an item, or its summary.
fn body(entry: &feed_rs::model::Entry) -> String {
    entry
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .or_else(|| entry.summary.as_ref().map(|s| s.content.clone()))
        .unwrap_or_default()
}

#[tokio::test]
async fn a_summary_only_feed_comes_out_with_whole_articles_and_no_site_around_them() {
    let server = FeedServer::start().await;
    let pages: [(&str, Vec<u8>, &str, &[&str]); 4] = [
        (
            "nlc",
            page_testdata("nlc/article-ifla-wlic-2021-site.html"),
            "international library affairs.",
            &[
                "Support Us",
                "88545426",
                "All rights reserved",
                "Reader Services",
                "You are here",
            ],
        ),
        (
            "eve",
            captured("eve.gd_17715c510b.html"),
            "I have started work at Michigan State University",
            &[
                "Powered by Jekyll",
                "Favicon by Joseph Wilson",
                "Staff Profile",
            ],
        ),
        (
            "heiss",
            captured("www.andrewheiss.com_2404fe7546.html"),
            "Andrew Young School of Policy Studies",
            &["PGP public key", "Made with", "View the source at GitHub"],
        ),
        (
            "lieber",
            captured("sven-lieber.org_509fe57da9.html"),
            "Royal Library of Belgium (KBR)",
            &[
                "Published with Wowchemy",
                "Avatar by Ilke Goddemaer",
                "Light Dark Automatic",
            ],
        ),
    ];
    let mut items = Vec::new();
    for (name, html, _, _) in &pages {
        let path = format!("/articles/{name}.html");
        server.set(&path, html.clone(), HTML);
        items.push((*name, server.url(&path)));
    }
    server.set("/feed.xml", summary_feed(&items, 1), RSS);
    let config = TestConfig::new(
        &[],
        "1h",
        &full_text_source("whole-articles", &server.url("/feed.xml"), ""),
    );
    let app = TestApp::spawn(config.settings()).await;

    let feed = app
        .wait_for_feed("the feed's four items", |f| f.entries.len() == 4)
        .await;
    for (name, _, phrase, leaks) in &pages {
        let entry = feed
            .entries
            .iter()
            .find(|e| {
                e.title
                    .as_ref()
                    .is_some_and(|t| t.content == format!("News {name}"))
            })
            .unwrap_or_else(|| panic!("no item {name}"));
        let body = body(entry);
        assert!(
            body.len() > 500,
            "{name}: the article's body, not the feed's one line: {body}"
        );
        assert!(body.contains(phrase), "{name}: `{phrase}` in {body}");
        for leak in *leaks {
            assert!(!body.contains(leak), "{name}: `{leak}` leaked into {body}");
        }
    }
    for item in app.store.newest_items(10).await.unwrap() {
        let name = item.title.trim_start_matches("News ");
        assert_eq!(
            item.summary,
            format!("One line about {name}."),
            "the summary stays the feed's"
        );
    }
    let source = status(&app).await["sources"][0].clone();
    assert_eq!(
        source["full_text"],
        serde_json::json!({"fetched": 4, "failed": 0, "retrying": 0}),
        "{source}"
    );
    let metrics = app
        .client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"librarywire_full_text_total{source="whole-articles",outcome="fetched"} 4"#
        ),
        "{metrics}"
    );
    app.stop().await;
}

/// One poll of the config's only source at `now`, as the daemon's source
/// task runs it, on `store`.
async fn poll(settings: &Settings, store: &Store, now: DateTime<Utc>) -> Refreshed {
    let fetcher = Fetcher::new(&settings.poll).unwrap();
    refresh(&fetcher, store, &settings.sources[0], now)
        .await
        .expect("the poll works")
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

/// An article page with `words` in its body, long enough to be the text.
fn article(words: &str) -> String {
    let paragraph = format!(
        "<p>{words} {}</p>",
        "The reading room stays open late. ".repeat(12)
    );
    format!(
        "<html><head><title>{words}</title></head><body><nav><a href=\"/\">Home</a> <a href=\"/about\">About the library</a></nav>\
         <article><h1>{words}</h1>{paragraph}{paragraph}{paragraph}</article>\
         <footer>Copyright | About Us | Support Us. Tel: 555-0100</footer></body></html>"
    )
}

#[tokio::test]
async fn the_per_poll_bound_waits_items_and_each_article_is_fetched_once() {
    let server = FeedServer::start().await;
    let items: Vec<_> = (1..=5)
        .map(|n| {
            let path = format!("/a/{n}.html");
            server.set(&path, article(&format!("Article number {n}")), HTML);
            (
                ["one", "two", "three", "four", "five"][n - 1],
                server.url(&path),
            )
        })
        .collect();
    server.set("/feed.xml", summary_feed(&items, 1), RSS);
    let config = TestConfig::new(
        &[],
        "1h",
        &full_text_source("bound", &server.url("/feed.xml"), "full_text_per_poll = 2"),
    );
    let settings = config.settings();
    let store = Store::open(&config.dir.path().join("polls.db")).unwrap();

    let mut stored = Vec::new();
    for minute in 0..4 {
        poll(&settings, &store, at(minute)).await;
        stored.push(store.newest_items(100).await.unwrap().len());
    }
    assert_eq!(
        stored,
        vec![2, 4, 5, 5],
        "two a poll, the rest on the next polls"
    );
    for n in 1..=5 {
        assert_eq!(
            server.hits(&format!("/a/{n}.html")).len(),
            1,
            "article {n} fetched once"
        );
    }
    for item in store.newest_items(100).await.unwrap() {
        let content = item.content_html.unwrap_or_default();
        assert!(
            content.contains("The reading room stays open late."),
            "{content}"
        );
        assert!(
            !content.contains("Support Us") && !content.contains("About the library"),
            "{content}"
        );
    }
    let (events, _) = store.outbox_depth().await.unwrap();
    assert_eq!(events, 5, "one item.new each");

    // The feed's bytes change (a new build date) but none of its items, and
    // an article page is edited: no event, no revision, no fetch.
    server.set("/feed.xml", summary_feed(&items, 2), RSS);
    server.set("/a/1.html", article("Article number 1, edited later"), HTML);
    let again = poll(&settings, &store, at(10)).await;
    assert!(!again.not_modified, "the feed was read in full");
    assert_eq!((again.applied.new, again.applied.updated), (0, 0));
    assert_eq!(store.outbox_depth().await.unwrap().0, 5, "no new event");
    for item in store.newest_items(100).await.unwrap() {
        assert_eq!(item.revision, 1);
        assert_eq!(store.revisions(item.id.as_str()).await.unwrap().len(), 1);
    }
    assert_eq!(server.hits("/a/1.html").len(), 1);

    // The feed's own edit is a revision, and keeps the article's text.
    let edited = summary_feed(&items, 3).replace("News one", "News one, corrected");
    server.set("/feed.xml", edited, RSS);
    let edit = poll(&settings, &store, at(20)).await;
    assert_eq!(edit.applied.updated, 1);
    let one = store
        .newest_items(100)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.title == "News one, corrected")
        .unwrap();
    assert!(
        one.content_html
            .unwrap_or_default()
            .contains("Article number 1 The reading room"),
        "the stored article text stays, not the later edit of the page"
    );
}

#[tokio::test]
async fn a_failing_article_is_tried_three_times_then_the_item_keeps_the_feeds_text() {
    let server = FeedServer::start().await;
    server.set("/good.html", article("A good article"), HTML);
    server.fail("/broken.html", 500);
    let items = [
        ("good", server.url("/good.html")),
        ("broken", server.url("/broken.html")),
    ];
    server.set("/feed.xml", summary_feed(&items, 1), RSS);
    let config = TestConfig::new(
        &[],
        "1h",
        &full_text_source("retries", &server.url("/feed.xml"), ""),
    );
    let settings = config.settings();
    let store = Store::open(&config.dir.path().join("polls.db")).unwrap();

    assert_eq!(FULL_TEXT_TRIES, 3);
    let mut new = Vec::new();
    for minute in 0..5 {
        new.push(poll(&settings, &store, at(minute)).await.applied.new);
    }
    assert_eq!(
        new,
        vec![1, 0, 1, 0, 0],
        "the broken one waits two polls, then comes as the feed gave it"
    );
    assert_eq!(server.hits("/broken.html").len(), 3, "three tries, no more");
    assert_eq!(server.hits("/good.html").len(), 1);
    let broken = store
        .newest_items(10)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.title == "News broken")
        .unwrap();
    assert_eq!(broken.summary, "One line about broken.");
    assert!(
        broken
            .content_html
            .as_deref()
            .is_none_or(|c| c.contains("One line about broken.")),
        "{:?}",
        broken.content_html
    );
    let counts = store.full_text_counts().await.unwrap();
    assert_eq!(
        (counts[0].fetched, counts[0].failed, counts[0].retrying),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn a_huge_article_is_refused_without_harm_and_a_gbk_article_decodes() {
    let server = FeedServer::start().await;
    let huge = article("Huge").replace(
        "</article>",
        &format!("{}</article>", "<p>padding</p>".repeat(10_000)),
    );
    assert!(huge.len() > 100_000);
    server.set("/huge.html", huge, HTML);
    let chinese = "国家图书馆参加2021年国际图联大会。会议主题为“携手共创未来”。";
    let gbk_page = format!(
        "<html><head><meta charset=\"gbk\"><title>新闻</title></head><body><div class=\"nav\">首页 | 关于我们</div>\
         <article><h1>国家图书馆</h1><p>{}</p><p>{}</p></article><div class=\"footer\">版权所有 电话 88545426</div></body></html>",
        chinese.repeat(12),
        chinese.repeat(12)
    );
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&gbk_page);
    assert!(!unmappable);
    server.set("/gbk.html", gbk.into_owned(), "text/html");
    let items = [
        ("huge", server.url("/huge.html")),
        ("gbk", server.url("/gbk.html")),
    ];
    server.set("/feed.xml", summary_feed(&items, 1), RSS);
    let config = TestConfig::new(
        &[],
        "1h",
        &format!(
            "max_body = \"64KB\"\n{}",
            full_text_source("limits", &server.url("/feed.xml"), "")
        ),
    );
    let settings = config.settings();
    let store = Store::open(&config.dir.path().join("polls.db")).unwrap();

    let first = poll(&settings, &store, at(0)).await;
    assert_eq!(
        first.applied.new, 2,
        "a page over the size limit is not tried again"
    );
    poll(&settings, &store, at(1)).await;
    assert_eq!(server.hits("/huge.html").len(), 1);
    let items = store.newest_items(10).await.unwrap();
    let huge = items.iter().find(|i| i.title == "News huge").unwrap();
    assert!(
        huge.content_html
            .as_deref()
            .is_none_or(|c| !c.contains("padding")),
        "the feed's text stays: {:?}",
        huge.content_html
    );
    let gbk = items.iter().find(|i| i.title == "News gbk").unwrap();
    let content = gbk.content_html.as_deref().unwrap_or_default();
    assert!(
        content.contains("国家图书馆参加2021年国际图联大会"),
        "{content}"
    );
    assert!(
        !content.contains("版权所有") && !content.contains("88545426"),
        "{content}"
    );
    let counts = store.full_text_counts().await.unwrap();
    assert_eq!((counts[0].fetched, counts[0].failed), (1, 1));
}

#[tokio::test]
async fn an_article_on_another_local_port_is_not_fetched_unless_allowed() {
    let feeds = FeedServer::start().await;
    let internal = FeedServer::start().await;
    internal.set("/secret.html", article("Internal only"), HTML);
    let items = [("secret", internal.url("/secret.html"))];
    feeds.set("/feed.xml", summary_feed(&items, 1), RSS);
    for allow in [false, true] {
        let config = TestConfig::new(
            &[],
            "1h",
            &format!(
                "allow_private_follow = {allow}\n{}",
                full_text_source("outbound", &feeds.url("/feed.xml"), "")
            ),
        );
        let settings = config.settings();
        let store = Store::open(&config.dir.path().join("polls.db")).unwrap();
        let polled = poll(&settings, &store, at(0)).await;
        assert_eq!(polled.applied.new, 1, "the item is stored either way");
        let item = store.newest_items(1).await.unwrap().remove(0);
        let content = item.content_html.unwrap_or_default();
        if allow {
            assert_eq!(internal.hits("/secret.html").len(), 1);
            assert!(content.contains("Internal only"), "{content}");
        } else {
            assert!(
                internal.all_hits().is_empty(),
                "no request reached the internal server"
            );
            assert!(!content.contains("Internal only"), "{content}");
            let counts = store.full_text_counts().await.unwrap();
            assert_eq!(counts[0].failed, 1, "refused: given up at once");
        }
    }
}

/// `check-config` shows a full-text source's bound, and refuses a bound
/// of zero or one without `full_text = true`, naming the key and the file.
#[test]
fn check_config_shows_the_bound_and_refuses_a_bad_one_by_name() {
    let shown = TestConfig::new(
        &[],
        "1h",
        &full_text_source(
            "shown",
            "http://127.0.0.1:9/feed.xml",
            "full_text_per_poll = 5",
        ),
    );
    let out = accepted_config(&shown.path);
    assert!(
        out.contains("full text, at most 5 article pages a poll"),
        "{out}"
    );
    for (extra, says) in [
        ("full_text_per_poll = 0", "at least 1"),
        (
            "full_text_per_poll = 3",
            "has no effect without full_text = true",
        ),
    ] {
        let source = full_text_source("bad", "http://127.0.0.1:9/feed.xml", extra);
        let source = if says.contains("no effect") {
            source.replace("full_text = true\n", "")
        } else {
            source
        };
        let config = TestConfig::new(&[], "1h", &source);
        let error = refused_config(&config.path);
        assert!(error.contains("sources[0].full_text_per_poll"), "{error}");
        assert!(error.contains(says), "{error}");
        assert!(
            error.contains(&config.path.display().to_string()),
            "{error}"
        );
    }
}

/// A page source with `full_text = true`: its `content` selector, when it
/// picks something, wins over readability (which would leave out the date
/// line and the share links the selector takes); without one, readability
/// reads the same page.
#[tokio::test]
async fn a_page_sources_content_selector_wins_over_readability() {
    let server = FeedServer::start().await;
    let list = r#"<html><body><div class="nav"><a href="/">Home</a></div><ul class="news">
        <li><a href="/enweb/1.html">The NLC at the 2021 congress</a></li></ul>
        <div class="foot">Copyright | About Us | Support Us</div></body></html>"#;
    server.set("/enweb/news/", list, HTML);
    server.set(
        "/enweb/1.html",
        page_testdata("nlc/article-ifla-wlic-2021-site.html"),
        HTML,
    );
    for (id, content) in [("selected", "content = \".right_box\"\n"), ("readable", "")] {
        let source = format!(
            "[[sources]]\nid = \"{id}\"\nurl = \"{}\"\nkind = \"page\"\nfull_text = true\n\
             [sources.page]\nitem = \".news li\"\ntitle = \"a\"\nlink = \"a@href\"\n{content}",
            server.url("/enweb/news/")
        );
        let config = TestConfig::new(&[], "1h", &source);
        let settings = config.settings();
        let store = Store::open(&config.dir.path().join("polls.db")).unwrap();
        assert_eq!(poll(&settings, &store, at(0)).await.applied.new, 1);
        let item = store.newest_items(1).await.unwrap().remove(0);
        let content = item.content_html.unwrap_or_default();
        assert!(
            content.contains("From 17 August to 19 August"),
            "{id}: {content}"
        );
        assert!(!content.contains("88545426"), "{id}: {content}");
        if id == "selected" {
            assert!(
                content.contains("Views: 1024") && content.contains("Weibo"),
                "the selector's block, whole: {content}"
            );
        } else {
            assert!(
                !content.contains("Weibo"),
                "readability leaves the share links out: {content}"
            );
        }
    }
    assert_eq!(server.hits("/enweb/1.html").len(), 2, "once per source");
}

/// `poll-once` shows a full-text source's items with their articles' text,
/// and stores nothing.
#[tokio::test(flavor = "multi_thread")]
async fn poll_once_shows_the_articles_text() {
    let server = FeedServer::start().await;
    server.set("/a/1.html", article("Shown by poll-once"), HTML);
    server.set(
        "/feed.xml",
        summary_feed(&[("one", server.url("/a/1.html"))], 1),
        RSS,
    );
    let config = TestConfig::new(
        &[],
        "1h",
        &full_text_source("preview", &server.url("/feed.xml"), ""),
    );
    let path = config.path.clone();
    let out = tokio::task::spawn_blocking(move || {
        librarywire()
            .args(["poll-once", "--config"])
            .arg(&path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let item: serde_json::Value = serde_json::from_str(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let content = item["content_html"].as_str().unwrap_or_default();
    assert!(content.contains("Shown by poll-once"), "{item}");
    assert!(!content.contains("Support Us"), "{item}");
    assert_eq!(item["summary"], "One line about one.");
    assert!(!config.dir.path().join("store").exists(), "nothing stored");
}
