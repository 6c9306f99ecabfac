//! The admin's rules end to end: real feeds over HTTP, the real broker, the
//! daemon's store and feeds. A dropped item is never stored, published or
//! served; a kept or rewritten one is, as the rules left it; `check-config`
//! names a bad rule by its place; `poll-once` says what each rule did; a
//! reload's rules apply to the next poll only.

use crate::broker::{BROKER, TestQueue, amqp_toml, test_exchange};
use crate::cli::{librarywire, refused_config};
use crate::helpers::{FeedServer, PATIENCE, TestApp, TestConfig, eventually, wait_until};
use librarywire::app::Application;
use librarywire::item::ItemId;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const RSS: &str = "application/rss+xml";

/// An RSS feed of `(guid, title, category)` items, all dated 2021-08-19.
fn rss(items: &[(&str, &str, &str)]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Rules</title><link>http://example.org/</link><description>d</description>"#,
    );
    for (guid, title, category) in items {
        xml.push_str(&format!(
            "<item><guid>{guid}</guid><title>{title}</title><link>http://example.org/{guid}</link><category>{category}</category><description>Body of {guid}</description><pubDate>Thu, 19 Aug 2021 08:00:00 GMT</pubDate></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml
}

/// Strips "[News] " from every source's titles: the `[[rules]]` of these tests.
const STRIP_NEWS: &str = "[[rules]]\naction = \"rewrite\"\nfield = \"title\"\npattern = '^\\[News\\]\\s*'\nreplace = \"\"\n";

/// A source entry, with its own rules after it.
fn source(id: &str, url: &str, rules: &str) -> String {
    format!("\n[[sources]]\nid = \"{id}\"\nname = \"Source {id}\"\nurl = \"{url}\"\n{rules}")
}

/// A test config polling every second, with `global` before the sources and
/// `sources` (from [`source`]) appended.
fn config(extra: &str, sources: &[String]) -> TestConfig {
    let config = TestConfig::new(&[], "1s", extra);
    let mut text = std::fs::read_to_string(&config.path).unwrap();
    for source in sources {
        text.push_str(source);
    }
    std::fs::write(&config.path, text).unwrap();
    config
}

/// The titles of `/feed.json`, by source id.
async fn served(app: &TestApp) -> Vec<(String, String)> {
    let body = app
        .client()
        .get(app.url("/feed.json"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let feed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut titles: Vec<(String, String)> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let url = item["url"].as_str().unwrap_or_default();
            let title = item["title"].as_str().unwrap_or_default();
            (url.to_owned(), title.to_owned())
        })
        .collect();
    titles.sort();
    titles
}

#[tokio::test]
async fn dropped_items_are_never_stored_published_or_served_and_the_rest_as_the_rules_left_them() {
    let exchange = test_exchange("rules");
    let mut queue = TestQueue::bind(&exchange, "item.#").await;
    let server = FeedServer::start().await;
    // Jobs: the global rewrite strips "[News] ", then the source's drop
    // sees "Vacancy: …" (the order), and its rewrite tags what stays.
    server.set(
        "/jobs.xml",
        rss(&[
            ("j1", "[News] Vacancy: cataloguer", "Jobs"),
            ("j2", "[News] Reading room reopens", "Notices"),
            ("j3", "Closed for the holiday", "Notices"),
        ]),
        RSS,
    );
    // Events: only the category Events is kept.
    server.set(
        "/events.xml",
        rss(&[
            ("e1", "[News] Lecture on manuscripts", "Events"),
            ("e2", "Annual report", "Reports"),
        ]),
        RSS,
    );
    let jobs_rules = "[[sources.rules]]\naction = \"drop\"\ntitle = \"^Vacancy\"\n\
                      [[sources.rules]]\naction = \"drop\"\ntitle = \"(?i)closed for\"\n\
                      [[sources.rules]]\naction = \"rewrite\"\nfield = \"title\"\npattern = \"^(.*)$\"\nreplace = \"Notice: $1\"\n";
    let events_rules = "[[sources.rules]]\naction = \"keep\"\ncategory = \"^Events$\"\n";
    let config = config(
        &format!("{}{STRIP_NEWS}", amqp_toml(BROKER, &exchange)),
        &[
            source("rule-jobs", &server.url("/jobs.xml"), jobs_rules),
            source("rule-events", &server.url("/events.xml"), events_rules),
        ],
    );
    let app = TestApp::spawn(config.settings()).await;

    let mut published: Vec<(String, String)> = queue
        .take(2)
        .await
        .into_iter()
        .map(|m| {
            (
                m.routing_key.clone(),
                m.body["data"]["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    published.sort();
    assert_eq!(
        published,
        [
            (
                "item.new.rule-events".to_owned(),
                "Lecture on manuscripts".to_owned()
            ),
            (
                "item.new.rule-jobs".to_owned(),
                "Notice: Reading room reopens".to_owned()
            ),
        ]
    );
    let served = eventually("the two items in /feed.json", || async {
        let titles = served(&app).await;
        if titles.len() == 2 {
            Ok(titles)
        } else {
            Err(format!("{titles:?}"))
        }
    })
    .await;
    assert_eq!(
        served,
        [
            (
                "http://example.org/e1".to_owned(),
                "Lecture on manuscripts".to_owned()
            ),
            (
                "http://example.org/j2".to_owned(),
                "Notice: Reading room reopens".to_owned()
            ),
        ]
    );
    for (source, guid) in [
        ("rule-jobs", "j1"),
        ("rule-jobs", "j3"),
        ("rule-events", "e2"),
    ] {
        let id = ItemId::derive(source, &format!("guid:{guid}"));
        assert!(
            app.store.item(id.as_str()).await.unwrap().is_none(),
            "{source}/{guid} was dropped, so never stored"
        );
    }
    let stored = app
        .store
        .item(ItemId::derive("rule-jobs", "guid:j2").as_str())
        .await
        .unwrap()
        .expect("j2 is stored");
    assert_eq!(stored.title, "Notice: Reading room reopens");
    assert_eq!(stored.revision, 1);

    // The unchanged feeds, polled again (in full, behind a new ETag): the
    // rewrites give the same items, so nothing is updated or published.
    for (path, items) in [
        (
            "/jobs.xml",
            rss(&[
                ("j1", "[News] Vacancy: cataloguer", "Jobs"),
                ("j2", "[News] Reading room reopens", "Notices"),
                ("j3", "Closed for the holiday", "Notices"),
            ]),
        ),
        (
            "/events.xml",
            rss(&[
                ("e1", "[News] Lecture on manuscripts", "Events"),
                ("e2", "Annual report", "Reports"),
            ]),
        ),
    ] {
        server.set(path, format!("{items}\n"), RSS);
    }
    let full = |path: &str| server.hits(path).iter().filter(|h| h.status == 200).count();
    let (jobs_before, events_before) = (full("/jobs.xml"), full("/events.xml"));
    wait_until("a full poll of each feed", || {
        full("/jobs.xml") > jobs_before && full("/events.xml") > events_before
    })
    .await;
    // Polls of one source never overlap: once the next has begun, the full
    // one has been stored.
    let (jobs_after, events_after) = (
        server.hits("/jobs.xml").len(),
        server.hits("/events.xml").len(),
    );
    wait_until("one more poll of each", || {
        server.hits("/jobs.xml").len() > jobs_after
            && server.hits("/events.xml").len() > events_after
    })
    .await;
    assert!(
        queue.drain_for(Duration::from_millis(500)).await.is_empty(),
        "a rewritten item re-polled unchanged is no edit"
    );
    let stored = app
        .store
        .item(ItemId::derive("rule-jobs", "guid:j2").as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revision, 1);
    assert_eq!(app.store.outbox_depth().await.unwrap().0, 0);

    // Dropped items are counted by source.
    let metrics = app
        .client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dropped = |source: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("librarywire_items_dropped_total{")
                    && l.contains(&format!("source=\"{source}\""))
                    && l.contains("reason=\"rule\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Two of jobs and one of events on each of the (at least two) polls
    // that read the feed in full; a 304 reads none.
    assert!(dropped("rule-jobs") >= 4, "{metrics}");
    assert!(dropped("rule-events") >= 2, "{metrics}");
    assert_eq!(dropped("rule-jobs") % 2, 0, "{metrics}");
    app.stop().await;
    queue.delete_exchange().await;
}

#[test]
fn check_config_names_a_bad_rule_by_its_place_and_says_why_once() {
    let bad_title = config(
        "",
        &[source(
            "jobs",
            "https://example.org/feed.xml",
            "[[sources.rules]]\naction = \"drop\"\ntitle = \"^Vacancy\"\n\
             [[sources.rules]]\naction = \"drop\"\ntitle = \"(?i)^vacancy(\"\n",
        )],
    );
    let err = refused_config(&bad_title.path);
    assert!(err.contains(&bad_title.path.display().to_string()), "{err}");
    assert!(err.contains("key `sources[0].rules[1].title`"), "{err}");
    assert!(
        err.contains(
            "`(?i)^vacancy(` is not a regular expression: unclosed group, at character 13"
        ),
        "{err}"
    );
    assert_eq!(err.matches("rules[1]").count(), 1, "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let bad_pattern = config(
        "[[rules]]\naction = \"rewrite\"\nfield = \"title\"\npattern = \"[News\"\nreplace = \"\"\n",
        &[source("jobs", "https://example.org/feed.xml", "")],
    );
    let err = refused_config(&bad_pattern.path);
    assert!(err.contains("key `rules[0].pattern`"), "{err}");
    assert!(err.contains("unclosed character class"), "{err}");

    let bad_field = config(
        "",
        &[
            source("other", "https://example.org/other.xml", ""),
            source(
                "jobs",
                "https://example.org/feed.xml",
                "[[sources.rules]]\naction = \"rewrite\"\nfield = \"content\"\npattern = \"x\"\nreplace = \"\"\n",
            ),
        ],
    );
    let err = refused_config(&bad_field.path);
    assert!(err.contains("key `sources[1].rules[0].field`"), "{err}");
    assert!(err.contains("\"title\" or \"summary\""), "{err}");

    let good = config(
        STRIP_NEWS,
        &[source(
            "jobs",
            "https://example.org/feed.xml",
            "[[sources.rules]]\naction = \"drop\"\ntitle = \"^Vacancy\"\n",
        )],
    );
    let stdout = crate::cli::accepted_config(&good.path);
    assert!(stdout.contains("1 rule for every source"), "{stdout}");
    assert!(stdout.contains("1 rule of its own"), "{stdout}");
}

#[test]
fn poll_once_says_which_rule_kept_dropped_or_rewrote_each_item() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("jobs.xml");
    std::fs::write(
        &feed,
        rss(&[
            ("j1", "[News] Vacancy: cataloguer", "Jobs"),
            ("j2", "[News] Reading room reopens", "Notices"),
            ("j3", "Exhibition", "Events"),
            ("j4", "Plain notice", "Notices"),
        ]),
    )
    .unwrap();
    let url = url::Url::from_file_path(&feed).unwrap().to_string();
    let config = config(
        STRIP_NEWS,
        &[source(
            "jobs",
            &url,
            "[[sources.rules]]\naction = \"drop\"\ntitle = \"^Vacancy\"\n\
             [[sources.rules]]\naction = \"keep\"\ncategory = \"^Notices$\"\n",
        )],
    );
    let out = librarywire()
        .args(["poll-once", "--config"])
        .arg(&config.path)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "jobs: title rewritten by rules[0], dropped by sources[0].rules[0]: \"[News] Vacancy: cataloguer\" http://example.org/j1",
            "jobs: title rewritten by rules[0], kept by sources[0].rules[1]: \"[News] Reading room reopens\" http://example.org/j2",
            "jobs: dropped: no keep rule applies: \"Exhibition\" http://example.org/j3",
            "jobs: kept by sources[0].rules[1]: \"Plain notice\" http://example.org/j4",
            "jobs: 2 items (2 dropped by rules)",
        ],
        "{stderr}"
    );
    let titles: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let item: serde_json::Value = serde_json::from_str(l).unwrap();
            item["title"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(titles, ["Reading room reopens", "Plain notice"]);
}

#[tokio::test]
async fn a_reload_applies_new_rules_to_the_next_poll_only() {
    let exchange = test_exchange("rules-reload");
    let mut queue = TestQueue::bind(&exchange, "item.#").await;
    let server = FeedServer::start().await;
    server.set(
        "/news.xml",
        rss(&[
            ("a", "Vacancy: archivist", "Jobs"),
            ("b", "Lecture", "Events"),
        ]),
        RSS,
    );
    let amqp = amqp_toml(BROKER, &exchange);
    let config = config(&amqp, &[source("news", &server.url("/news.xml"), "")]);
    let app = Application::build(config.settings())
        .await
        .unwrap()
        .with_config_file(&config.path)
        .without_file_watching();
    let reloader = app.reloader().expect("a reloader with a config file");
    let store = app.store();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    assert_eq!(queue.take(2).await.len(), 2);

    // A drop rule that the stored "Vacancy: archivist" matches, and a
    // source rule that keeps only two categories.
    let text = std::fs::read_to_string(&config.path).unwrap().replace(
        "[[sources]]",
        "[[rules]]\naction = \"drop\"\ntitle = \"^Vacancy\"\n\n[[sources]]",
    ) + "[[sources.rules]]\naction = \"keep\"\ncategory = \"^(Jobs|Events)$\"\n";
    std::fs::write(&config.path, text).unwrap();
    let reloaded = reloader.reload("test").await.unwrap();
    assert!(reloaded.changes.rules_changed, "{reloaded:?}");
    assert_eq!(reloaded.changes.changed, ["news"]);
    // Two polls after the reload: one source's polls never overlap, so the
    // second began after the reload was in force (and the source's task,
    // restarted for its own new rule, is the new one).
    let polls = server.hits("/news.xml").len();
    wait_until("two polls after the reload", || {
        server.hits("/news.xml").len() >= polls + 2
    })
    .await;
    server.set(
        "/news.xml",
        rss(&[
            ("a", "Vacancy: archivist", "Jobs"),
            ("b", "Lecture", "Events"),
            ("c", "Vacancy: conservator", "Jobs"),
            ("d", "Exhibition opens", "Events"),
            ("e", "Annual report", "Reports"),
        ]),
        RSS,
    );
    let next = queue.take(1).await.remove(0);
    assert_eq!(next.routing_key, "item.new.news");
    assert_eq!(next.body["data"]["title"], "Exhibition opens");
    let polls = server.hits("/news.xml").len();
    wait_until("two more polls under the new rules", || {
        server.hits("/news.xml").len() >= polls + 2
    })
    .await;
    assert!(
        queue.drain_for(Duration::from_millis(500)).await.is_empty(),
        "no other item is published, and the stored one is not touched"
    );
    let item = |guid: &str| {
        let store = store.clone();
        let id = ItemId::derive("news", &format!("guid:{guid}"));
        async move { store.item(id.as_str()).await.unwrap() }
    };
    let kept = item("a").await.expect("the stored item stays");
    assert_eq!(
        (kept.title.as_str(), kept.revision),
        ("Vacancy: archivist", 1)
    );
    assert!(item("b").await.is_some() && item("d").await.is_some());
    assert!(item("c").await.is_none(), "a new item the rule drops");
    assert!(
        item("e").await.is_none(),
        "a new item no keep rule applies to"
    );

    shutdown.cancel();
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("the daemon stops in time")
        .unwrap()
        .unwrap();
    queue.delete_exchange().await;
}

#[tokio::test]
async fn a_page_source_follows_only_the_articles_of_items_its_rules_keep() {
    let server = FeedServer::start().await;
    server.set(
        "/enweb/news/",
        crate::pages::news_list(&[1, 2, 3]),
        "text/html; charset=utf-8",
    );
    for n in 1..=3 {
        server.set(
            &format!("/enweb/news/{n}.html"),
            crate::pages::article(),
            "text/html; charset=utf-8",
        );
    }
    let page = crate::pages::page_source(&server.url("/enweb/news/"));
    // A second source on the same page whose rules drop every item.
    let none_kept = page.replace("id = \"nlc-en-news\"", "id = \"nlc-none-kept\"");
    let source = format!(
        "{page}\n[[sources.rules]]\naction = \"drop\"\ntitle = \"number 2$\"\n\
         {none_kept}\n[[sources.rules]]\naction = \"drop\"\ntitle = \"^Library news\"\n"
    );
    let config = TestConfig::new(&[], "1s", &source);
    let app = TestApp::spawn(config.settings()).await;
    let feed = app
        .wait_for_feed("the two kept items", |f| f.entries.len() == 2)
        .await;
    let mut titles: Vec<_> = feed
        .entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect();
    titles.sort();
    assert_eq!(titles, ["Library news number 1", "Library news number 3"]);
    let polls = server.hits("/enweb/news/").len();
    wait_until("two more polls of the list", || {
        server.hits("/enweb/news/").len() >= polls + 2
    })
    .await;
    assert!(
        server.hits("/enweb/news/2.html").is_empty(),
        "the dropped item's page is never fetched"
    );
    assert_eq!(server.hits("/enweb/news/1.html").len(), 1);
    // The selectors found three items on each: what the rules dropped, even
    // all of them, does not make them look stale.
    let status = crate::pages::status(&app).await;
    for source in status["sources"].as_array().unwrap() {
        assert_eq!(source["state"], "ok", "{status}");
        assert_eq!(source["warning"], serde_json::Value::Null, "{status}");
    }
    assert_eq!(status["sources"][1]["id"], "nlc-none-kept");
    assert_eq!(status["sources"][1]["item_count"], 0, "{status}");
    app.stop().await;
}
