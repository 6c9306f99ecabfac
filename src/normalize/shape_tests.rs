//! Real feeds in the shapes that used to lose their news, through parse and
//! normalize, checked field by field. Each file under `testdata/shapes/` is
//! a corpus feed, as captured or with one flaw introduced
//! (`testdata/README.md` says which).

use crate::item::{Item, SourceRef};
use crate::normalize::normalize;
use crate::parse::{ParseOptions, Recovered, parse_feed};
use chrono::{DateTime, Utc};
use url::Url;

fn now() -> DateTime<Utc> {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn date(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn source() -> SourceRef {
    SourceRef {
        id: "shapes".into(),
        name: "Shapes".into(),
        url: "https://library.example/feed".into(),
    }
}

/// The items of `name`, read from `base`, and whether it was recovered.
fn read_at(name: &str, base: &Url) -> (Vec<Item>, Option<Recovered>) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/normalize/testdata/shapes")
        .join(name);
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let parsed = parse_feed(&body, &ParseOptions::new(base))
        .unwrap_or_else(|e| panic!("{name} is refused: {e}"));
    (
        normalize(&source(), &parsed.base, &parsed.feed, now()),
        parsed.recovered,
    )
}

fn read(name: &str) -> (Vec<Item>, Option<Recovered>) {
    read_at(name, &Url::parse("https://library.example/feed").unwrap())
}

#[test]
fn an_empty_cdata_media_title_loses_nothing() {
    let (items, recovered) = read("huffpost-empty-media-title.xml");
    assert_eq!(recovered, None, "a known shape, fixed and read by feed-rs");
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].title,
        "Winnipeg High School Orders Custom Hijabs For Muslim Athletes"
    );
    assert_eq!(
        items[0].url.as_deref(),
        Some(
            "http://www.huffingtonpost.ca/2017/10/17/winnipeg-high-school-orders-custom-hijabs-for-muslim-athletes_a_23246627/"
        )
    );
    assert_eq!(items[0].guid, "23246627");
    assert_eq!(items[0].published, date("2017-10-17T22:17:00Z"));
    assert!(items[0].published_from_source);
    assert_eq!(
        items[1].title,
        "The Once-In-A-Lifetime Thrill Of Opening For Tom Petty"
    );
    assert_eq!(items[1].published, date("2017-10-17T21:38:00Z"));
}

#[test]
fn a_media_title_with_a_mime_type_loses_nothing() {
    let (items, recovered) = read("huffpost-media-title-type.xml");
    assert_eq!(recovered, None);
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0].title,
        "Winnipeg High School Orders Custom Hijabs For Muslim Athletes"
    );
    assert_eq!(items[1].published, date("2017-10-17T21:38:00Z"));
}

#[test]
fn atom_0_3_with_mime_types_reads_issued_modified_summary_and_content() {
    for name in ["atom03.xml", "atom03-empty-type.xml"] {
        let (items, recovered) = read(name);
        assert_eq!(recovered, None, "{name}");
        let [item] = &items[..] else {
            panic!("{name}: {items:?}");
        };
        assert_eq!(item.title, "Atom 0.3 snapshot", "{name}");
        assert_eq!(
            item.url.as_deref(),
            Some("http://diveintomark.org/2003/12/13/atom03")
        );
        assert_eq!(item.guid, "tag:diveintomark.org,2003:3.2397");
        // <issued> is the publication date, <modified> the update.
        assert_eq!(item.published, date("2003-12-13T12:29:29Z"), "{name}");
        assert!(item.published_from_source);
        assert_eq!(item.updated, Some(date("2003-12-13T18:30:02Z")), "{name}");
        assert_eq!(item.summary, "It's a test");
        assert_eq!(item.content_html.as_deref(), Some("<p>HTML content</p>"));
        assert_eq!(item.authors, ["Mark Pilgrim"]);
    }
}

#[test]
fn atom_0_3_base64_content_is_decoded() {
    let (items, _) = read("atom03-base64.xml");
    let [item] = &items[..] else {
        panic!("{items:?}");
    };
    assert_eq!(item.content_html.as_deref(), Some("<p>Some text.</p>"));
    assert_eq!(item.summary, "Some text.");
    assert_eq!(item.published, date("2003-12-13T12:29:29Z"));
}

#[test]
fn rss_1_1_is_recovered() {
    let (items, recovered) = read("meerkat-rss11.xml");
    let recovered = recovered.expect("RSS 1.1 is read by the lenient reader");
    assert_eq!(recovered.entries, 1);
    let [item] = &items[..] else {
        panic!("{items:?}");
    };
    assert_eq!(item.title, "XML: A Disruptive Technology");
    assert_eq!(
        item.url.as_deref(),
        Some("http://c.moreover.com/click/here.pl?r123")
    );
    assert!(
        item.summary
            .starts_with("XML is placing increasingly heavy loads")
    );
    assert_eq!(item.authors, ["Simon St.Laurent <simonstl@simonstl.com>"]);
    assert_eq!(item.categories, ["XML"]);
}

#[test]
fn a_truncated_feed_keeps_the_entries_before_the_cut() {
    let (items, recovered) = read("rss2sample-truncated.xml");
    let recovered = recovered.expect("a truncated feed is recovered");
    assert_eq!(recovered.entries, 3);
    assert!(
        recovered
            .warning()
            .starts_with("recovered 3 entries from a malformed feed: "),
        "{}",
        recovered.warning()
    );
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].title, "Star City");
    assert_eq!(
        items[0].url.as_deref(),
        Some("http://liftoff.msfc.nasa.gov/news/2003/news-starcity.asp")
    );
    assert_eq!(
        items[0].guid,
        "http://liftoff.msfc.nasa.gov/2003/06/03.html#item573"
    );
    assert_eq!(items[0].published, date("2003-06-03T09:39:21Z"));
    assert!(items[0].summary.starts_with("How do Americans get ready"));
    // The second item has no title: its text stands for it.
    assert!(items[1].title.starts_with("Sky watchers in Europe"));
    assert_eq!(items[1].published, date("2003-05-30T11:06:42Z"));
    // The third is cut inside its date: what came before it is kept.
    assert_eq!(items[2].title, "The Engine That Does More");
    assert!(!items[2].published_from_source);
}

#[test]
fn an_rss_1_0_item_without_a_link_is_known_by_its_rdf_about() {
    let (items, recovered) = read("rdf-item-without-link.xml");
    assert_eq!(recovered, None);
    let [item] = &items[..] else {
        panic!("{items:?}");
    };
    assert_eq!(item.title, "Title");
    assert_eq!(
        item.url.as_deref(),
        Some("http://c.moreover.com/click/here.pl?r123")
    );
    assert_eq!(item.summary, "Test");
}

#[test]
fn a_json_feed_with_a_short_version_and_no_title() {
    let (items, recovered) = read("daringfireball-short-version.json");
    assert_eq!(recovered, None);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].title, "How Jeff Bezos’s iPhone X Was Hacked");
    assert_eq!(
        items[0].url.as_deref(),
        Some("https://daringfireball.net/linked/2020/01/24/bezos-iphone-x")
    );
    assert_eq!(items[0].published, date("2020-01-24T23:46:57Z"));
    assert_eq!(items[0].authors, ["John Gruber"]);
}

#[test]
fn an_atom_feed_inside_an_xhtml_page_is_recovered() {
    let (items, recovered) = read("atom-in-xhtml-page.xml");
    let recovered = recovered.expect("recovered");
    assert_eq!(recovered.entries, 10);
    assert!(recovered.warning().contains("wrapped in an HTML page"));
    assert_eq!(items.len(), 10);
    assert!(items.iter().all(|i| i.published_from_source));
    assert!(items.iter().all(|i| {
        i.url
            .as_deref()
            .is_some_and(|u| u.starts_with("http://www.tablix.org/~avian/blog/"))
    }));
}

#[test]
fn extension_fields_in_rss_items() {
    let (items, recovered) = read("a10-extension-fields.xml");
    assert_eq!(recovered, None);
    let titles: Vec<_> = items.iter().map(|i| i.title.as_str()).collect();
    // Markup inside <title> keeps its text; dc:title stands in for a
    // missing <title>.
    assert_eq!(
        titles,
        ["Title 5", "Title 4", "Title 3", "Title 2", "Title 1"]
    );
    let links: Vec<_> = items.iter().map(|i| i.url.as_deref().unwrap()).collect();
    assert_eq!(
        links,
        [
            "http://www.example.com/5",
            "http://www.example.com/4",
            "http://www.example.com/3",
            "http://www.example.com/2",
            "http://www.example.com/1"
        ]
    );
    // An atom:author with its e-mail.
    assert_eq!(items[0].authors, ["John Doe <john.doe@example.com>"]);
    assert_eq!(items[0].published, date("2020-05-14T10:00:18Z"));
    // dcterms:created and dcterms:modified.
    assert_eq!(items[1].published, date("2020-05-13T10:17:57Z"));
    assert_eq!(items[1].updated, Some(date("2020-05-13T12:00:00Z")));
    // atom:published.
    assert_eq!(items[2].published, date("2020-05-12T15:00:00Z"));
    assert!(items[2].published_from_source);
    // dcterms:issued and itunes:author.
    assert_eq!(items[3].published, date("2020-05-12T07:52:36Z"));
    assert_eq!(items[3].authors, ["Jane Roe"]);
    // No date at all: it sits below its dated neighbour, not at the top
    // with the first-seen time. An author known by e-mail only.
    assert!(!items[4].published_from_source);
    assert_eq!(items[4].published, date("2020-05-12T07:52:36Z"));
    assert_eq!(items[4].authors, ["press@example.com"]);
}

#[test]
fn relative_links_in_a_file_feed_resolve_against_the_channel_link() {
    let base = Url::parse("file:///var/lib/feeds/neverwinter.xml").unwrap();
    let (items, _) = read_at("neverwinter-relative-links.xml", &base);
    assert!(!items.is_empty());
    for item in &items {
        let url = item.url.as_deref().unwrap_or_else(|| panic!("{item:?}"));
        assert!(
            url.starts_with("https://www.arcgames.com/en/games/neverwinter/news/"),
            "{url}"
        );
    }
}

#[test]
fn undated_items_of_an_undated_feed_take_the_feed_date() {
    let rss = br#"<rss version="2.0"><channel><title>t</title>
        <lastBuildDate>Mon, 01 Jun 2020 10:00:00 GMT</lastBuildDate>
        <item><title>a</title><link>https://library.example/a</link></item>
        <item><title>b</title><link>https://library.example/b</link></item>
        </channel></rss>"#;
    let base = Url::parse("https://library.example/feed").unwrap();
    let parsed = parse_feed(rss, &ParseOptions::new(&base)).unwrap();
    let items = normalize(&source(), &parsed.base, &parsed.feed, now());
    for item in &items {
        assert_eq!(item.published, date("2020-06-01T10:00:00Z"));
        assert!(!item.published_from_source);
    }
}

#[test]
fn relative_links_in_file_feeds_of_every_format_resolve_against_the_channel_link() {
    // The same saved feed in RSS, Atom and JSON Feed: each names its web
    // home (`<link>`, Atom's alternate link, `home_page_url`) and writes its
    // item links relative to it.
    let base = Url::parse("file:///var/lib/feeds/saved.xml").unwrap();
    let rss = br#"<rss version="2.0"><channel><title>Library news</title>
        <link>https://library.example/news/</link>
        <item><title>a</title><link>2024/reading-room</link><guid>a</guid>
        <pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate></item>
        <item><title>b</title><link>/events/talk</link><guid>b</guid>
        <pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate></item>
        </channel></rss>"#;
    let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>Library news</title>
        <id>urn:x</id><updated>2024-01-02T10:00:00Z</updated>
        <link rel="self" href="https://elsewhere.example/feed.atom"/>
        <link rel="alternate" href="https://library.example/news/"/>
        <entry><title>a</title><id>a</id><link href="2024/reading-room"/>
        <updated>2024-01-01T10:00:00Z</updated></entry>
        <entry><title>b</title><id>b</id><link href="/events/talk"/>
        <updated>2024-01-02T10:00:00Z</updated></entry></feed>"#;
    let json = br#"{"version": "https://jsonfeed.org/version/1.1", "title": "Library news",
        "home_page_url": "https://library.example/news/",
        "feed_url": "https://elsewhere.example/feed.json",
        "items": [
          {"id": "a", "url": "2024/reading-room", "title": "a", "content_text": "x",
           "date_published": "2024-01-01T10:00:00Z"},
          {"id": "b", "url": "/events/talk", "title": "b", "content_text": "y",
           "date_published": "2024-01-02T10:00:00Z"}]}"#;
    for (format, body) in [
        ("RSS", &rss[..]),
        ("Atom", &atom[..]),
        ("JSON Feed", &json[..]),
    ] {
        let parsed =
            parse_feed(body, &ParseOptions::new(&base)).unwrap_or_else(|e| panic!("{format}: {e}"));
        let items = normalize(&source(), &parsed.base, &parsed.feed, now());
        let mut links: Vec<_> = items.iter().map(|i| i.url.clone()).collect();
        links.sort();
        assert_eq!(
            links,
            [
                Some("https://library.example/events/talk".to_owned()),
                Some("https://library.example/news/2024/reading-room".to_owned()),
            ],
            "{format}"
        );
    }
}
