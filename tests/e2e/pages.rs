//! Page sources end to end: a news page without a feed, read with selectors,
//! goes through the same store, outbox and merged feed as a feed.

use crate::cli::{accepted_config, librarywire, refused_config};
use crate::helpers::{FeedServer, TestApp, TestConfig, eventually, wait_until};
use std::path::Path;

const HTML: &str = "text/html; charset=utf-8";

/// An NLC-shaped list page linking to the articles `numbers`.
pub(crate) fn news_list(numbers: &[u32]) -> String {
    let mut html = String::from(
        r#"<html lang="en"><body><div class="header"><a href="/enweb/">Home</a></div><ul class="news-list">"#,
    );
    for n in numbers {
        html.push_str(&format!(
            r#"<li><a href="{n}.html?utm_source=home">Library news number {n}</a><span class="date">2021-08-2{n}</span></li>"#
        ));
    }
    html.push_str(
        r#"</ul><div class="footer">Copyright | About Us | Contact Us</div></body></html>"#,
    );
    html
}

pub(crate) fn article() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/page/testdata/nlc/article-ifla-wlic-2021.html");
    std::fs::read(path).unwrap()
}

pub(crate) fn page_source(url: &str) -> String {
    format!(
        r#"
[[sources]]
id = "nlc-en-news"
name = "NLC News"
url = "{url}"
kind = "page"
timezone = "Asia/Shanghai"

[sources.page]
item = ".news-list li"
title = "a"
link = "a@href"
date = ".date"
date_format = "%Y-%m-%d"
follow = true
content = ".article .content"
"#
    )
}

/// The daemon's `/status`, as JSON.
pub async fn status(app: &TestApp) -> serde_json::Value {
    let body = app
        .client()
        .get(app.url("/status"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&body).expect("/status is JSON")
}

#[tokio::test]
async fn page_items_reach_the_merged_feed_and_the_outbox_and_stale_selectors_show() {
    let server = FeedServer::start().await;
    server.set("/enweb/news/", news_list(&[1, 2, 3]), HTML);
    for n in 1..=3 {
        server.set(&format!("/enweb/news/{n}.html"), article(), HTML);
    }
    let config = TestConfig::new(&[], "1s", &page_source(&server.url("/enweb/news/")));
    let app = TestApp::spawn(config.settings()).await;

    let feed = app
        .wait_for_feed("the page's three items", |f| f.entries.len() == 3)
        .await;
    let mut titles: Vec<_> = feed
        .entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        vec![
            "Library news number 1",
            "Library news number 2",
            "Library news number 3"
        ]
    );
    for entry in &feed.entries {
        let link = &entry.links[0].href;
        assert!(
            link.starts_with(&server.url("/enweb/news/")) && !link.contains("utm_"),
            "an absolute, clean link: {link}"
        );
        let body = entry
            .content
            .as_ref()
            .and_then(|c| c.body.clone())
            .or_else(|| entry.summary.as_ref().map(|s| s.content.clone()));
        let body = body.expect("the article's body or summary is in the feed");
        assert!(body.contains("From 17 August"), "{body}");
        assert!(
            !body.contains("88545426"),
            "the article's footer stayed out: {body}"
        );
    }
    let (depth, _) = app.store.outbox_depth().await.unwrap();
    assert_eq!(
        depth, 3,
        "every page item waits in the outbox like a feed item"
    );

    // Polls go on (304s); no article is fetched twice.
    wait_until("three more polls of the list", || {
        server.hits("/enweb/news/").len() >= 4
    })
    .await;
    for n in 1..=3 {
        assert_eq!(
            server.hits(&format!("/enweb/news/{n}.html")).len(),
            1,
            "article {n}"
        );
    }
    assert_eq!(status(&app).await["sources"][0]["state"], "ok");

    // The site is redesigned: the selectors find nothing any more.
    server.set(
        "/enweb/news/",
        news_list(&[1, 2, 3]).replace("news-list", "news-grid"),
        HTML,
    );
    let source = eventually("the source to be stale", || async {
        let source = status(&app).await["sources"][0].clone();
        if source["state"] == "stale" {
            Ok(source)
        } else {
            Err(source.to_string())
        }
    })
    .await;
    assert_eq!(
        source["warning"],
        "selectors may be stale: the page yielded no items"
    );
    assert_eq!(
        source["last_error"],
        serde_json::Value::Null,
        "the poll itself worked"
    );
    assert_eq!(source["item_count"], 3);
    assert_eq!(
        app.feed().await.entries.len(),
        3,
        "stored items stay served"
    );
    app.stop().await;
}

/// A list page and two article pages as files, and a config that reads them.
fn file_site(dir: &Path) -> (String, std::path::PathBuf) {
    let list = dir.join("news/index.html");
    std::fs::create_dir_all(list.parent().unwrap()).unwrap();
    std::fs::write(&list, news_list(&[1, 2])).unwrap();
    let url = url::Url::from_file_path(&list).unwrap().to_string();
    let config = dir.join("pages.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n{}",
            dir.join("store.db").display(),
            page_source(&url).replace("follow = true\n", "")
        ),
    )
    .unwrap();
    (url, config)
}

#[test]
fn poll_once_prints_what_the_selectors_pick() {
    let dir = tempfile::tempdir().unwrap();
    let (_, config) = file_site(dir.path());
    let out = librarywire()
        .args(["poll-once", "--source", "nlc-en-news", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("nlc-en-news: 2 items"), "{stderr}");
    let items: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["title"], "Library news number 1");
    // 2021-08-21 in Shanghai.
    assert_eq!(items[0]["published"], "2021-08-20T16:00:00Z");
    assert!(
        !dir.path().join("store.db").exists(),
        "poll-once stores nothing"
    );
}

#[test]
fn check_config_names_a_bad_selector() {
    let dir = tempfile::tempdir().unwrap();
    let (_, config) = file_site(dir.path());
    let stdout = accepted_config(&config);
    assert!(
        stdout.contains("nlc-en-news") && stdout.contains("item \".news-list li\""),
        "the page's selectors are shown: {stdout}"
    );

    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("item = \".news-list li\"", "item = \".news-list >> li\""),
    )
    .unwrap();
    let stderr = refused_config(&config);
    assert!(stderr.contains("sources[0].page.item"), "{stderr}");
    assert!(stderr.contains(".news-list >> li"), "{stderr}");
    assert!(stderr.contains(&config.display().to_string()), "{stderr}");
}

#[test]
fn discover_lists_advertised_feeds_or_suggests_selectors_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let with_feed = dir.path().join("with-feed.html");
    std::fs::write(
        &with_feed,
        r#"<html><head><link rel="alternate" type="application/rss+xml" href="https://lib.example.org/feed/"></head></html>"#,
    )
    .unwrap();
    let out = librarywire()
        .arg("discover")
        .arg(url::Url::from_file_path(&with_feed).unwrap().as_str())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("https://lib.example.org/feed/\tapplication/rss+xml"),
        "{stdout}"
    );

    let (url, _) = file_site(dir.path());
    let out = librarywire().args(["discover", &url]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("item = \"li\"") || stdout.contains("item = \".news-list"),
        "{stdout}"
    );
    assert!(stdout.contains("It picks 2 items"), "{stdout}");
    // What it prints is a config check-config accepts.
    let suggested = dir.path().join("suggested.toml");
    std::fs::write(&suggested, &stdout).unwrap();
    let out = librarywire()
        .arg("check-config")
        .arg("--config")
        .arg(&suggested)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
