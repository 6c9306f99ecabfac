//! Tests of the page stage: golden files on real captured pages served over
//! HTTP, dates, links, encodings, article pages, the stale-selector rule,
//! discovery, and `follow` through a real store.

use super::*;
use crate::config::{FieldSelector, PageSettings, PollSettings, SourceKind, SourceSettings};
use crate::fetch::FetchState;
use crate::fetch::Fetcher;
use crate::item::{Item, ItemId, SourceRef};
use crate::normalize::{SUMMARY_MAX_CHARS, apply_article};
use crate::refresh::{poll, refresh};
use crate::store::Store;
use axum::Router;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use url::Url;

fn testdata(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/page/testdata")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn source_ref() -> SourceRef {
    SourceRef {
        id: "pages".into(),
        name: "Pages".into(),
        url: "https://news.example.org/".into(),
    }
}

fn page_source(url: &str, page: PageSettings, timezone: Option<&str>) -> SourceSettings {
    SourceSettings {
        id: "pages".into(),
        name: Some("Pages".into()),
        url: url.into(),
        password_env: None,
        interval: None,
        kind: SourceKind::Page,
        page: Some(page),
        encoding: None,
        timezone: timezone.map(str::to_owned),
        dedup: true,
        full_text: false,
        full_text_per_poll: None,
        rules: Vec::new(),
    }
}

/// Bodies and content types by path.
type Bodies = HashMap<String, (Vec<u8>, String)>;

/// A loopback HTTP server of fixed pages that counts requests per path,
/// and answers some paths late.
#[derive(Clone, Default)]
struct Pages {
    bodies: Arc<Mutex<Bodies>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    delays: Arc<Mutex<HashMap<String, std::time::Duration>>>,
}

impl Pages {
    async fn start(&self) -> Url {
        async fn serve(State(pages): State<Pages>, uri: Uri) -> Response {
            let path = uri.path().to_owned();
            *pages.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
            let delay = pages.delays.lock().unwrap().get(&path).copied();
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            match pages.bodies.lock().unwrap().get(&path).cloned() {
                Some((body, content_type)) => {
                    ([(header::CONTENT_TYPE, content_type)], body).into_response()
                }
                None => axum::http::StatusCode::NOT_FOUND.into_response(),
            }
        }
        let router = Router::new().fallback(serve).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Url::parse(&format!("http://{addr}/")).unwrap()
    }

    fn set(&self, path: &str, body: impl Into<Vec<u8>>, content_type: &str) {
        self.bodies
            .lock()
            .unwrap()
            .insert(path.to_owned(), (body.into(), content_type.to_owned()));
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Answers `path` only after `delay`.
    fn delay(&self, path: &str, delay: std::time::Duration) {
        self.delays.lock().unwrap().insert(path.to_owned(), delay);
    }
}

/// One line per item: `date<TAB>title<TAB>link`, `-` for no date.
fn golden_lines(items: &[Item]) -> String {
    let mut out = String::new();
    for item in items {
        let date = if item.published_from_source {
            item.published.to_rfc3339_opts(SecondsFormat::Secs, true)
        } else {
            "-".to_owned()
        };
        out.push_str(&format!(
            "{date}\t{}\t{}\n",
            item.title,
            item.url.as_deref().unwrap_or("-")
        ));
    }
    out
}

/// Serves a captured page over HTTP, polls it as a page source, and compares
/// the items with its golden file. `UPDATE_GOLDEN=1` rewrites the file, which
/// must then be checked by hand against the HTML.
async fn check_golden(file: &str, page: PageSettings, timezone: Option<&str>) -> Vec<Item> {
    let pages = Pages::default();
    pages.set(
        "/blog/",
        testdata(&format!("rogue-scholar-api/{file}")),
        "text/html; charset=UTF-8",
    );
    let base = pages.start().await;
    let source = page_source(base.join("blog/").unwrap().as_str(), page, timezone);
    let fetcher = Fetcher::new(&PollSettings::default()).unwrap();
    let polled = poll(&fetcher, &source, &FetchState::default(), now())
        .await
        .unwrap();
    let actual = golden_lines(&polled.items);
    let golden_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/page/testdata/golden")
        .join(format!("{file}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", golden_path.display()));
    assert_eq!(actual, expected, "items of {file}");
    polled.items
}

#[tokio::test]
async fn golden_jekyll_home_page_without_dates() {
    let items = check_golden(
        "eve.gd_17715c510b.html",
        PageSettings {
            item: "#index article".into(),
            title: "h2".into(),
            link: "h2 a@href".into(),
            summary: Some("p".into()),
            ..PageSettings::default()
        },
        None,
    )
    .await;
    assert_eq!(items.len(), 7);
    for item in &items {
        assert_eq!(item.published, now(), "undated items are dated when seen");
        assert!(!item.published_from_source);
        assert_eq!(
            item.id,
            ItemId::derive("pages", &format!("link:{}", item.url.as_deref().unwrap())),
            "ids come from the link, as normalize keys feed entries"
        );
        assert!(!item.summary.is_empty());
    }
    assert!(
        items[0]
            .summary
            .starts_with("This week, I have started work")
    );
}

#[tokio::test]
async fn golden_wordpress_page_with_local_datetimes_in_its_timezone() {
    let items = check_golden(
        "ulirockenbauch.blog_4337791e3d.html",
        PageSettings {
            item: "article".into(),
            title: ".entry-title".into(),
            link: ".entry-title a@href".into(),
            date: "time.entry-date@datetime".into(),
            summary: Some(".entry-wrapper > p".into()),
            ..PageSettings::default()
        },
        Some("Europe/Berlin"),
    )
    .await;
    assert_eq!(items.len(), 2);
    // `datetime="2023-04-13T19:48:41"` has no offset: Berlin summer time.
    assert_eq!(
        items[0].published,
        Utc.with_ymd_and_hms(2023, 4, 13, 17, 48, 41).unwrap()
    );
    assert_eq!(items[0].language.as_deref(), Some("de-de"));
}

#[tokio::test]
async fn golden_old_wordpress_theme_with_ordinal_dates_in_text() {
    let items = check_golden(
        "ch.imperial.ac.uk_70e7723641.html",
        PageSettings {
            item: "div.post".into(),
            title: "h2".into(),
            link: "h2 a@href".into(),
            date: "small".into(),
            date_format: Some("%B %d, %Y".into()),
            summary: Some(".entry".into()),
            ..PageSettings::default()
        },
        Some("Europe/London"),
    )
    .await;
    assert_eq!(items.len(), 10);
    assert!(items.iter().all(|i| i.published_from_source));
    let body = items[0].content_html.as_deref().unwrap();
    assert!(body.contains("Molecule of the Year"), "{body}");
    assert!(
        body.contains("rel=\"noopener noreferrer\""),
        "sanitized: {body}"
    );
}

#[test]
fn relative_links_resolve_against_the_page_or_its_base_and_repeats_count_once() {
    let html = r#"<html><body><ul class="news">
        <li><a href="2024/ifla.html?utm_source=x">IFLA</a> <span>2024-05-01</span></li>
        <li><a href="../other/x.html">Other</a></li>
        <li><a href="2024/ifla.html">IFLA again</a></li>
        <li><a href="javascript:void(0)">Script link</a></li>
        <li><span>no link, no title</span></li>
        </ul></body></html>"#;
    let page = PageSettings {
        item: "ul.news li".into(),
        title: "a".into(),
        date: "span".into(),
        ..PageSettings::default()
    };
    let selectors = PageSelectors::compile(&page, None).unwrap();
    let base = Url::parse("https://lib.example.org/en/news/").unwrap();
    let items = extract(&source_ref(), &selectors, html, &base, now()).items;
    let links: Vec<_> = items.iter().map(|i| i.url.as_deref()).collect();
    assert_eq!(
        links,
        vec![
            Some("https://lib.example.org/en/news/2024/ifla.html"),
            Some("https://lib.example.org/en/other/x.html"),
            None,
        ],
        "tracking dropped, the repeat skipped, the script link kept as a title-only item"
    );
    assert_eq!(items[0].title, "IFLA");
    assert_eq!(
        items[0].published,
        Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()
    );
    assert_eq!(items[2].title, "Script link");

    let with_base = html.replace("<body>", r#"<head><base href="/archive/"></head><body>"#);
    let items = extract(&source_ref(), &selectors, &with_base, &base, now()).items;
    assert_eq!(
        items[0].url.as_deref(),
        Some("https://lib.example.org/archive/2024/ifla.html")
    );
}

#[test]
fn dates_rfc3339_first_then_the_format_anywhere_in_the_text_in_the_timezone() {
    let shanghai = Some(chrono_tz::Asia::Shanghai);
    assert_eq!(
        parse_date("2021-08-20T09:30:00+02:00", Some("%d/%m/%Y"), shanghai),
        Some(Utc.with_ymd_and_hms(2021, 8, 20, 7, 30, 0).unwrap())
    );
    assert_eq!(
        parse_date("Date: 2021-08-20   Source: NLC", Some("%Y-%m-%d"), shanghai),
        Some(Utc.with_ymd_and_hms(2021, 8, 19, 16, 0, 0).unwrap()),
        "midnight in Shanghai"
    );
    assert_eq!(
        parse_date(
            "Posted 20/08/2021 14:05 by staff",
            Some("%d/%m/%Y %H:%M"),
            None
        ),
        Some(Utc.with_ymd_and_hms(2021, 8, 20, 14, 5, 0).unwrap())
    );
    assert_eq!(
        parse_date("August 1st, 2021", Some("%B %d, %Y"), None),
        Some(Utc.with_ymd_and_hms(2021, 8, 1, 0, 0, 0).unwrap())
    );
    assert_eq!(parse_date("yesterday", Some("%Y-%m-%d"), None), None);
    assert_eq!(
        parse_date("August 19, 2021", None, shanghai),
        Some(Utc.with_ymd_and_hms(2021, 8, 18, 16, 0, 0).unwrap()),
        "without a format, the feed date reader"
    );
    assert_eq!(parse_date("soon", None, None), None);

    let html = r#"<div class="n"><a href="/a">A</a><em>13.04.2023</em></div>
                  <div class="n"><a href="/b">B</a><em>soon</em></div>
                  <div class="n"><a href="/c">C</a><em>01.01.2999</em></div>"#;
    let page = PageSettings {
        item: "div.n".into(),
        date: "em".into(),
        date_format: Some("%d.%m.%Y".into()),
        ..PageSettings::default()
    };
    let selectors = PageSelectors::compile(&page, None).unwrap();
    let base = Url::parse("https://lib.example.org/").unwrap();
    let extracted = extract(&source_ref(), &selectors, html, &base, now());
    assert_eq!(extracted.unreadable_dates, vec!["soon".to_owned()]);
    let items = extracted.items;
    assert_eq!(
        items[0].published,
        Utc.with_ymd_and_hms(2023, 4, 13, 0, 0, 0).unwrap()
    );
    assert!(items[0].published_from_source);
    assert_eq!(
        items[1].published,
        Utc.with_ymd_and_hms(2023, 4, 13, 0, 0, 0).unwrap(),
        "an undated item is placed by its dated neighbour, not at the top with its first-seen time"
    );
    assert!(
        !items[1].published_from_source,
        "an unreadable date is no date"
    );
    assert_eq!(items[2].published, now(), "a future date is clamped");
}

fn nlc_selectors() -> PageSelectors {
    let page = PageSettings {
        item: "ul.news li".into(),
        title: "a".into(),
        link: "a@href".into(),
        date: ".info".into(),
        date_format: Some("%Y-%m-%d".into()),
        follow: true,
        content: Some(".article .content".into()),
        ..PageSettings::default()
    };
    PageSelectors::compile(&page, Some(chrono_tz::Asia::Shanghai)).unwrap()
}

#[test]
fn an_nlc_article_gives_its_body_and_date_and_not_its_footer() {
    let html = String::from_utf8(testdata("nlc/article-ifla-wlic-2021.html")).unwrap();
    let url = Url::parse("https://www.nlc.cn/enweb/c100050/202108/t20210820_1.html").unwrap();
    let article = extract_article(&nlc_selectors(), &html, &url);
    let body = article.content_html.as_deref().unwrap();
    assert!(body.starts_with("<p>From 17 August to 19 August"), "{body}");
    assert!(body.contains("international library affairs."), "{body}");
    for leaked in [
        "Copyright",
        "About Us",
        "Site Map",
        "88545426",
        "All rights reserved",
        "Home",
    ] {
        assert!(
            !body.contains(leaked),
            "the footer leaked `{leaked}` into {body}"
        );
        assert!(!article.text.contains(leaked), "{leaked} in the text");
    }
    assert_eq!(
        article.published,
        Some(Utc.with_ymd_and_hms(2021, 8, 19, 16, 0, 0).unwrap()),
        "2021-08-20 in Beijing"
    );

    let mut item = Item {
        id: ItemId::derive("nlc", &format!("link:{url}")),
        source: source_ref(),
        guid: String::new(),
        url: Some(url.to_string()),
        title: "The NLC participates in the 2021 World Library and information Congress".into(),
        summary: String::new(),
        content_html: None,
        authors: vec![],
        categories: vec![],
        language: None,
        published: now(),
        published_from_source: false,
        updated: None,
        revision: 1,
        content_hash: String::new(),
    };
    apply_article(&mut item, article, now());
    assert!(item.published_from_source);
    assert_eq!(item.published.date_naive().to_string(), "2021-08-19");
    assert!(item.summary.starts_with("From 17 August"));
    assert!(item.summary.chars().count() <= SUMMARY_MAX_CHARS);
    assert_eq!(item.content_hash, item.compute_content_hash());
}

#[test]
fn selector_syntax_errors_name_the_selector() {
    assert!(FieldSelector::parse("a@href").is_ok());
    assert!(FieldSelector::parse("time.entry-date@datetime").is_ok());
    assert!(FieldSelector::parse("@href").is_ok());
    assert!(
        FieldSelector::parse(r#"a[href*="@"]"#).is_ok(),
        "an @ inside CSS"
    );
    let err = FieldSelector::parse("h2 >> a").unwrap_err();
    assert!(err.contains("`h2 >> a` is not a CSS selector"), "{err}");
    let err = FieldSelector::parse("a@").unwrap_err();
    assert!(err.contains("not an attribute name"), "{err}");
    assert!(FieldSelector::parse("  ").unwrap_err().contains("empty"));
    let page = PageSettings {
        item: "li@href".into(),
        ..PageSettings::default()
    };
    let err = PageSelectors::compile(&page, None).unwrap_err();
    assert_eq!(err.field, "item");
}

#[test]
fn no_items_or_a_sudden_drop_is_flagged_and_the_flag_holds_until_recovery() {
    let first = judge_yield(None, 10);
    assert_eq!(
        first,
        YieldVerdict {
            baseline: Some(10),
            warning: None
        }
    );
    assert_eq!(
        judge_yield(Some(10), 4).warning,
        None,
        "4 of 10 is a normal day"
    );
    let drop = judge_yield(Some(10), 3);
    assert_eq!(
        drop.warning.as_deref(),
        Some("selectors may be stale: the page yielded 3 items, down from 10")
    );
    assert_eq!(
        drop.baseline,
        Some(10),
        "the baseline is kept while flagged"
    );
    let empty = judge_yield(Some(10), 0);
    assert!(empty.warning.unwrap().contains("no items"));
    assert!(
        judge_yield(None, 0).warning.is_some(),
        "even on the first poll"
    );
    assert_eq!(
        judge_yield(Some(10), 9),
        YieldVerdict {
            baseline: Some(9),
            warning: None
        }
    );
}

#[test]
fn discovery_suggests_selectors_that_pick_the_news_list() {
    let mut html = String::from(
        r#"<html><body><nav><ul><li><a href="/">Home</a></li><li><a href="/about">About</a></li><li><a href="/x">X</a></li></ul></nav><div class="list">"#,
    );
    for n in 1..=5 {
        html.push_str(&format!(
            r#"<div class="news-item"><h3><a href="/news/{n}.html">News {n}</a></h3><time datetime="2024-0{n}-01">1.{n}.2024</time><p>Text {n}</p></div>"#
        ));
    }
    html.push_str("</div><footer><ul><li><a href=\"/c\">Copyright</a></li><li><a href=\"/s\">Site map</a></li></ul></footer></body></html>");
    let page = discover::suggest_page(&html).unwrap();
    assert_eq!(page.item, "div.news-item");
    assert_eq!(page.title, "h3");
    assert_eq!(page.link, "h3 a@href");
    assert_eq!(page.date, "time@datetime");
    assert_eq!(page.summary.as_deref(), Some("p"));
    let selectors = PageSelectors::compile(&page, None).unwrap();
    let base = Url::parse("https://lib.example.org/").unwrap();
    let items = extract(&source_ref(), &selectors, &html, &base, now()).items;
    assert_eq!(items.len(), 5);
    assert!(items.iter().all(|i| i.published_from_source));
    // The suggestion is a config check-config accepts, as printed.
    let toml = discover::suggestion_toml("lib-example-org", &base, &page);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &toml).unwrap();
    let settings =
        crate::config::Settings::load_with_env(file.path(), Some(Default::default())).unwrap();
    assert_eq!(settings.sources[0].kind, SourceKind::Page);
    assert_eq!(
        settings.sources[0].page.as_ref().unwrap().item,
        "div.news-item"
    );
}

#[tokio::test]
async fn a_gbk_page_with_relative_links_is_decoded_by_its_meta_charset() {
    let (title, _, _) = encoding_rs::GBK.encode("国家图书馆举办古籍保护讲座");
    let mut page = b"<html><head><meta charset=\"gb2312\"></head><body><ul class=\"news\"><li><a href=\"../news/2024/1.html\">".to_vec();
    page.extend_from_slice(&title);
    page.extend_from_slice(b"</a><span>2024-05-01</span></li></ul></body></html>");
    let pages = Pages::default();
    // No charset in the header: the page's own <meta> says GBK.
    pages.set("/cn/index.html", page.clone(), "text/html");
    let base = pages.start().await;
    let source = page_source(
        base.join("cn/index.html").unwrap().as_str(),
        PageSettings {
            item: "ul.news li".into(),
            date: "span".into(),
            ..PageSettings::default()
        },
        Some("Asia/Shanghai"),
    );
    let fetcher = Fetcher::new(&PollSettings::default()).unwrap();
    let polled = poll(&fetcher, &source, &FetchState::default(), now())
        .await
        .unwrap();
    assert_eq!(polled.items.len(), 1);
    assert_eq!(polled.items[0].title, "国家图书馆举办古籍保护讲座");
    assert_eq!(
        polled.items[0].url.as_deref(),
        Some(base.join("news/2024/1.html").unwrap().as_str())
    );
    assert_eq!(
        polled.items[0].published,
        Utc.with_ymd_and_hms(2024, 4, 30, 16, 0, 0).unwrap()
    );

    // The same bytes declared as UTF-8 by the server: the override fixes it.
    pages.set(
        "/cn/index.html",
        page.replace_meta(),
        "text/html; charset=utf-8",
    );
    let wrong = poll(&fetcher, &source, &FetchState::default(), now())
        .await
        .unwrap();
    assert_ne!(wrong.items[0].title, "国家图书馆举办古籍保护讲座");
    let fixed = SourceSettings {
        encoding: Some("gbk".into()),
        ..source
    };
    let polled = poll(&fetcher, &fixed, &FetchState::default(), now())
        .await
        .unwrap();
    assert_eq!(polled.items[0].title, "国家图书馆举办古籍保护讲座");
}

trait ReplaceMeta {
    fn replace_meta(&self) -> Vec<u8>;
}

impl ReplaceMeta for Vec<u8> {
    /// The page without its `<meta charset>`, so only the header speaks.
    fn replace_meta(&self) -> Vec<u8> {
        let needle = b"<meta charset=\"gb2312\">";
        let at = self
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        [&self[..at], &self[at + needle.len()..]].concat()
    }
}

/// An NLC-shaped list page linking to `n` articles.
fn nlc_list(n: usize) -> String {
    let mut html = String::from(
        r#"<html lang="en"><body><div class="header"><a href="/enweb/">Home</a></div><ul class="news">"#,
    );
    for i in 1..=n {
        html.push_str(&format!(
            r#"<li><a href="/enweb/news/{i}.html">News number {i}</a></li>"#
        ));
    }
    html.push_str(r#"</ul><div class="footer">Copyright | About Us</div></body></html>"#);
    html
}

fn nlc_source(base: &Url) -> SourceSettings {
    page_source(
        base.join("enweb/news/").unwrap().as_str(),
        PageSettings {
            item: "ul.news li".into(),
            title: "a".into(),
            link: "a@href".into(),
            date: ".info".into(),
            date_format: Some("%Y-%m-%d".into()),
            follow: true,
            content: Some(".article .content".into()),
            ..PageSettings::default()
        },
        Some("Asia/Shanghai"),
    )
}

/// A replica paused past its lease must not send the requests of the poll
/// it was in (the store's fencing refuses its write, but a request needs no
/// store): the poll checks the lease's deadline on this process's clock
/// before its fetch and before each followed article, and once it has
/// passed drops the poll, sending and recording nothing.
#[tokio::test]
async fn a_poll_whose_lease_ran_out_sends_no_more_requests_and_records_nothing() {
    use crate::refresh::{NextDelay, SourcePoller};
    use crate::store::{Lease, LeaseDeadline};
    use std::time::Duration;
    let pages = Pages::default();
    pages.set("/enweb/news/", nlc_list(2), "text/html; charset=utf-8");
    let article = testdata("nlc/article-ifla-wlic-2021.html");
    for i in 1..=2 {
        pages.set(
            &format!("/enweb/news/{i}.html"),
            article.clone(),
            "text/html",
        );
    }
    // The list comes after the lease's deadline: as if the process had
    // been stopped while it waited.
    let lease = Duration::from_millis(200);
    pages.delay("/enweb/news/", 2 * lease);
    let base = pages.start().await;
    let source = nlc_source(&base);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    let fetcher = Fetcher::new(&PollSettings::default()).unwrap();
    let next: NextDelay = Arc::new(|_| Duration::from_secs(60));
    let held = Lease {
        holder: "a".into(),
        epoch: 0,
    };
    let mut poller = SourcePoller::new(source, PollSettings::default().flag_after);

    poller.hold(
        held.clone(),
        LeaseDeadline::claimed(tokio::time::Instant::now(), lease),
    );
    let report = poller.refresh(&fetcher, &store, now(), &next).await;
    assert!(report.lease_ran_out(), "{:?}", report.result);
    assert_eq!(
        pages.hits("/enweb/news/"),
        1,
        "the list was asked for in time"
    );
    for i in 1..=2 {
        assert_eq!(
            pages.hits(&format!("/enweb/news/{i}.html")),
            0,
            "article {i} was not asked for after the deadline"
        );
    }
    assert_eq!(
        store.source_status("pages").await.unwrap(),
        None,
        "nothing recorded"
    );
    assert_eq!(store.outbox_depth().await.unwrap().0, 0);

    // Claimed again, but the claim's answer came after its deadline: the
    // poll sends nothing at all.
    poller.hold(
        held,
        LeaseDeadline::claimed(tokio::time::Instant::now(), Duration::ZERO),
    );
    let report = poller.refresh(&fetcher, &store, now(), &next).await;
    assert!(report.lease_ran_out(), "{:?}", report.result);
    assert_eq!(pages.hits("/enweb/news/"), 1, "no second request");
    assert_eq!(store.source_status("pages").await.unwrap(), None);
}

#[tokio::test]
async fn follow_fetches_each_new_article_once_across_polls_and_keeps_footers_out() {
    let pages = Pages::default();
    let article = testdata("nlc/article-ifla-wlic-2021.html");
    pages.set("/enweb/news/", nlc_list(2), "text/html; charset=utf-8");
    for i in 1..=3 {
        pages.set(
            &format!("/enweb/news/{i}.html"),
            article.clone(),
            "text/html",
        );
    }
    let base = pages.start().await;
    let source = nlc_source(&base);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    let fetcher = Fetcher::new(&PollSettings::default()).unwrap();

    let first = refresh(&fetcher, &store, &source, now()).await.unwrap();
    assert_eq!(first.applied.new, 2);
    assert_eq!(
        (
            pages.hits("/enweb/news/1.html"),
            pages.hits("/enweb/news/2.html")
        ),
        (1, 1)
    );
    let id = ItemId::derive(
        "pages",
        &format!("link:{}", base.join("enweb/news/1.html").unwrap()),
    );
    let stored = store.item(id.as_str()).await.unwrap().unwrap();
    let body = stored.content_html.unwrap();
    assert!(body.contains("From 17 August to 19 August"), "{body}");
    assert!(
        !body.contains("Copyright") && !body.contains("88545426"),
        "{body}"
    );
    assert_eq!(stored.title, "News number 1", "the list's title");
    assert!(stored.published_from_source, "the article's date");
    assert_eq!(
        stored.published,
        Utc.with_ymd_and_hms(2021, 8, 19, 16, 0, 0).unwrap()
    );

    // The list grows by one: only the new article is fetched.
    pages.set("/enweb/news/", nlc_list(3), "text/html; charset=utf-8");
    let second = refresh(&fetcher, &store, &source, now()).await.unwrap();
    assert_eq!((second.applied.new, second.applied.unchanged), (1, 2));
    let hits: Vec<_> = (1..=3)
        .map(|i| pages.hits(&format!("/enweb/news/{i}.html")))
        .collect();
    assert_eq!(hits, vec![1, 1, 1], "each article is fetched once");
    let third = refresh(&fetcher, &store, &source, now()).await.unwrap();
    assert_eq!(
        third.applied.unchanged, 3,
        "a followed item is stable across polls"
    );
    assert_eq!(pages.hits("/enweb/news/3.html"), 1);
}

#[tokio::test]
async fn follow_is_capped_per_poll_and_the_rest_come_next_poll() {
    let pages = Pages::default();
    let count = MAX_ARTICLES_PER_POLL + 5;
    let article = testdata("nlc/article-ifla-wlic-2021.html");
    pages.set("/enweb/news/", nlc_list(count), "text/html");
    for i in 1..=count {
        pages.set(
            &format!("/enweb/news/{i}.html"),
            article.clone(),
            "text/html",
        );
    }
    let base = pages.start().await;
    let source = nlc_source(&base);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    let fetcher = Fetcher::new(&PollSettings::default()).unwrap();
    let first = refresh(&fetcher, &store, &source, now()).await.unwrap();
    assert_eq!(first.applied.new, MAX_ARTICLES_PER_POLL);
    assert_eq!(first.state.etag, None, "the page is read in full next time");
    let second = refresh(&fetcher, &store, &source, now()).await.unwrap();
    assert_eq!(second.applied.new, 5);
    for i in 1..=count {
        assert_eq!(
            pages.hits(&format!("/enweb/news/{i}.html")),
            1,
            "article {i}"
        );
    }
    for item in store.newest_items(100).await.unwrap() {
        assert!(item.content_html.is_some(), "{} has its body", item.title);
    }
}

#[tokio::test]
async fn a_page_whose_structure_changes_is_flagged_stale_until_it_recovers() {
    let pages = Pages::default();
    pages.set("/enweb/news/", nlc_list(9), "text/html");
    let base = pages.start().await;
    let mut source = nlc_source(&base);
    source.page.as_mut().unwrap().follow = false;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db")).unwrap();
    let fetcher = Fetcher::new(&PollSettings::default()).unwrap();
    refresh(&fetcher, &store, &source, now()).await.unwrap();
    assert_eq!(
        store.source_status("pages").await.unwrap().unwrap().warning,
        None
    );

    // A redesign: the list is now made of divs; the selectors find nothing.
    pages.set(
        "/enweb/news/",
        nlc_list(9)
            .replace("<ul class=\"news\">", "<div class=\"news\">")
            .replace("<li>", "<p>"),
        "text/html",
    );
    let outcome = refresh(&fetcher, &store, &source, now()).await.unwrap();
    assert_eq!(outcome.items_seen, 0);
    let status = store.source_status("pages").await.unwrap().unwrap();
    assert_eq!(
        status.warning.as_deref(),
        Some("selectors may be stale: the page yielded no items")
    );
    assert_eq!(status.item_count, 9, "the items already stored stay");

    // Half a redesign: 2 of 9 still match.
    pages.set("/enweb/news/", nlc_list(2), "text/html");
    refresh(&fetcher, &store, &source, now()).await.unwrap();
    let warning = store
        .source_status("pages")
        .await
        .unwrap()
        .unwrap()
        .warning
        .unwrap();
    assert!(warning.contains("2 items, down from 9"), "{warning}");

    pages.set("/enweb/news/", nlc_list(9), "text/html");
    refresh(&fetcher, &store, &source, now()).await.unwrap();
    assert_eq!(
        store.source_status("pages").await.unwrap().unwrap().warning,
        None
    );
}

/// Times reading every captured page of the shared corpus, with selectors
/// that match every `div`, `li` and `article` (far more items than any news
/// list), as a worst case. Prints figures; asserts none (timings are not
/// tests). Run with
/// `cargo test --release --lib page::tests::measure -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a test"]
fn measure_extraction_of_captured_pages() {
    let corpus = std::env::var("LIBRARYWIRE_CORPUS").unwrap_or_else(|_| "../shared/corpus".into());
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(corpus)
        .join("rogue-scholar-api/captured-html");
    let page = PageSettings {
        item: "div, li, article".into(),
        title: "a".into(),
        summary: Some("p".into()),
        ..PageSettings::default()
    };
    let selectors = PageSelectors::compile(&page, None).unwrap();
    let base = Url::parse("https://blog.example.org/").unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .collect();
    files.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    for path in files {
        let body = std::fs::read(&path).unwrap();
        let start = std::time::Instant::now();
        let (html, _) = decode_html(&body, None, None);
        let items = extract(&source_ref(), &selectors, &html, &base, now()).items;
        let elapsed = start.elapsed();
        let start = std::time::Instant::now();
        let suggested = discover::suggest_page(&html);
        let suggest_time = start.elapsed();
        println!(
            "{:>8} bytes {:>5} items {:>9.2?} extract {:>9.2?} suggest ({}) {}",
            body.len(),
            items.len(),
            elapsed,
            suggest_time,
            suggested.map_or("none".to_owned(), |p| p.item),
            path.file_name().unwrap().to_string_lossy()
        );
    }
}

#[test]
fn no_character_xml_forbids_reaches_a_page_item() {
    let html = "<article><h2><a href=\"/a\">Bad\u{1}title</a></h2><p>Body\u{0B} text\u{FFFE}</p></article>";
    let page = PageSettings {
        summary: Some("p".into()),
        ..PageSettings::default()
    };
    let selectors = PageSelectors::compile(&page, None).unwrap();
    let base = Url::parse("https://lib.example.org/").unwrap();
    let item = &extract(&source_ref(), &selectors, html, &base, now()).items[0];
    assert_eq!(item.title, "Badtitle");
    assert_eq!(item.summary, "Body text");
    let body = item.content_html.as_deref().unwrap();
    assert!(!body.contains(['\u{B}', '\u{FFFE}']), "{body:?}");
}

/// The golden case of full text: an NLC English article page laid out as
/// the site lays it out (language bar, search, logo, menu, breadcrumbs, a
/// side list of news, the body in the CMS's editor block, share links, the
/// footer with its links, phone numbers and address), read by readability
/// with no selector: the article's paragraphs, and none of the rest.
#[test]
fn full_text_of_an_nlc_article_page_is_its_paragraphs_without_the_site() {
    let html = String::from_utf8(testdata("nlc/article-ifla-wlic-2021-site.html")).unwrap();
    let url = Url::parse("https://www.nlc.cn/enweb/c101181/202108/t20210820_1.html").unwrap();
    let article = read_full_text(None, &html, &url);
    let body = article.content_html.as_deref().expect("an article body");
    let corpus = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/page/testdata/nlc/article-ifla-wlic-2021.txt"),
    )
    .unwrap();
    let paragraphs: Vec<&str> = corpus
        .split("\n\n")
        .skip(1)
        .take(5)
        .map(str::trim)
        .collect();
    assert_eq!(paragraphs.len(), 5);
    for paragraph in &paragraphs {
        let start: String = paragraph.chars().take(60).collect();
        assert!(
            article.text.contains(&start),
            "missing `{start}` in {}",
            article.text
        );
    }
    assert!(article.text.contains("international library affairs."));
    for leaked in [
        "Copyright",
        "About Us",
        "Support Us",
        "Site Map",
        "Contact Us",
        "88545426",
        "88545360",
        "All rights reserved",
        "Zhongguancun",
        "Reader Services",
        "Digital Library",
        "You are here",
        "Latest News",
        "National Reading Day",
        "Weibo",
        "Search",
        "中文",
    ] {
        assert!(!body.contains(leaked), "`{leaked}` leaked into {body}");
    }
    // Relative links and images mean what they mean at the page's URL.
    assert!(
        body.contains("https://www.nlc.cn/enweb/c101181/202108/W020210820_ifla.jpg"),
        "{body}"
    );
    assert!(
        body.contains("https://www.nlc.cn/enweb/c101181/202108/t20210801_1001.html"),
        "{body}"
    );
    // Sanitized as feed content: no style attribute, no script.
    assert!(!body.contains("style="), "{body}");
    assert!(!body.contains("<script"), "{body}");
}

/// A page source's `content` selector wins over readability when it picks
/// something; readability reads the page when it picks nothing.
#[test]
fn full_text_takes_the_content_selector_first_then_readability() {
    let html = String::from_utf8(testdata("nlc/article-ifla-wlic-2021-site.html")).unwrap();
    let url = Url::parse("https://www.nlc.cn/enweb/c101181/202108/t20210820_1.html").unwrap();
    let compile = |content: &str| {
        let page = PageSettings {
            item: "li".into(),
            title: "a".into(),
            link: "a@href".into(),
            content: Some(content.into()),
            ..PageSettings::default()
        };
        PageSelectors::compile(&page, None).unwrap()
    };
    let picked = read_full_text(Some(&compile(".xl_info")), &html, &url);
    assert!(picked.text.contains("Date: 2021-08-20"), "{}", picked.text);
    assert!(!picked.text.contains("From 17 August"), "{}", picked.text);
    let nothing = read_full_text(Some(&compile(".no-such-block")), &html, &url);
    assert!(
        nothing.text.contains("From 17 August to 19 August"),
        "{}",
        nothing.text
    );
    assert!(!nothing.text.contains("88545426"));
}

/// Every captured blog page gives an article or nothing, and never a
/// script, a style or a form.
#[test]
fn full_text_of_the_captured_blog_pages_is_sanitized_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/page/testdata/rogue-scholar-api");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "html") {
            continue;
        }
        let html = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        let url = Url::parse("https://blog.example.org/2024/01/post/").unwrap();
        let article = read_full_text(None, &html, &url);
        let body = article.content_html.unwrap_or_default();
        for tag in ["<script", "<style", "<form", "<iframe"] {
            assert!(!body.contains(tag), "{} has {tag}", path.display());
        }
    }
}
