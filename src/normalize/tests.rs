//! Normalize tests: real feeds from `testdata/` (see its README for where
//! each came from) and small feeds written here for one rule each.

use super::*;
use crate::parse::{ParseOptions, parse};

const FEED_URL: &str = "https://news.example.org/feeds/main.xml";

fn source() -> SourceRef {
    SourceRef {
        id: "lib-news".into(),
        name: "Library news".into(),
        url: FEED_URL.into(),
    }
}

fn feed_url() -> Url {
    Url::parse(FEED_URL).unwrap()
}

fn now() -> DateTime<Utc> {
    date("2025-06-01T12:00:00Z")
}

fn date(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn parsed(body: &[u8]) -> Feed {
    parse(body, &ParseOptions::new(&feed_url())).unwrap_or_else(|e| panic!("{e}"))
}

fn items_of(body: &[u8]) -> Vec<Item> {
    normalize(&source(), &feed_url(), &parsed(body), now())
}

fn testdata(path: &str) -> Vec<u8> {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/normalize/testdata")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
}

/// An RSS 2.0 feed around `items`, with `channel_extra` in its channel.
fn rss(channel_extra: &str, items: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
        <rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
             xmlns:content="http://purl.org/rss/1.0/modules/content/">
        <channel><title>Library news</title><link>https://news.example.org/</link>{channel_extra}
        {items}
        </channel></rss>"#
    )
    .into_bytes()
}

/// An Atom feed around `entries`, with `feed_extra` in its head.
fn atom(feed_extra: &str, entries: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
        <feed xmlns="http://www.w3.org/2005/Atom"><title>Library news</title>
        <id>urn:feed</id><updated>2025-01-01T00:00:00Z</updated>{feed_extra}
        {entries}
        </feed>"#
    )
    .into_bytes()
}

fn only(items: Vec<Item>) -> Item {
    assert_eq!(items.len(), 1, "{items:#?}");
    items.into_iter().next().unwrap()
}

// ---- formats ----

#[test]
fn every_feed_format_gives_items() {
    for (file, expected) in [
        ("feed-rs/rss_0.91_spec_1.xml", 2),
        ("feed-rs/rss_0.92_spec_1.xml", 3),
        ("feed-rs/rss_1.0_example_1.xml", 2),
        ("feed-rs/rss_2.0_example_1.xml", 1),
        ("feed-rs/atom_example_1.xml", 1),
        ("feed-rs/jsonfeed_example_1.json", 2),
    ] {
        let items = items_of(&testdata(file));
        assert_eq!(items.len(), expected, "{file}");
        for item in &items {
            assert!(!item.title.is_empty(), "{file}: {item:#?}");
            assert_eq!(item.source, source());
            assert_eq!(item.revision, 1);
            assert_eq!(item.content_hash, item.compute_content_hash());
        }
    }
}

#[test]
fn the_same_bytes_give_the_same_items() {
    for file in [
        "feed-rs/atom_example_1.xml",
        "feed-rs/rss_0.92_spec_1.xml",
        "feed-rs/jsonfeed_example_1.json",
    ] {
        assert_eq!(
            items_of(&testdata(file)),
            items_of(&testdata(file)),
            "{file}"
        );
    }
}

// ---- ids ----

#[test]
fn ids_are_stable_across_parses_and_independent_of_item_order() {
    // Link keys, text keys and guid keys.
    for file in [
        "feed-rs/rss_0.91_spec_1.xml",
        "feed-rs/rss_0.92_spec_1.xml",
        "feed-rs/jsonfeed_example_1.json",
    ] {
        let body = testdata(file);
        let first: Vec<_> = items_of(&body)
            .into_iter()
            .map(|i| (i.title, i.id))
            .collect();
        let again: Vec<_> = items_of(&body)
            .into_iter()
            .map(|i| (i.title, i.id))
            .collect();
        assert_eq!(first, again, "{file}");

        let mut reversed = parsed(&body);
        reversed.entries.reverse();
        let mut backwards: Vec<_> = normalize(&source(), &feed_url(), &reversed, now())
            .into_iter()
            .map(|i| (i.title, i.id))
            .collect();
        backwards.reverse();
        assert_eq!(first, backwards, "{file}");
    }
}

#[test]
fn ids_do_not_depend_on_the_time_of_the_poll() {
    let body = testdata("miniflux/TestParseEntryWithoutLinkAndWithoutGUID.xml");
    let feed = parsed(&body);
    let today = normalize(&source(), &feed_url(), &feed, now());
    let tomorrow = normalize(&source(), &feed_url(), &feed, date("2025-06-02T12:00:00Z"));
    let ids = |items: &[Item]| items.iter().map(|i| i.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&today), ids(&tomorrow));
}

// The exact key derivation is pinned here on purpose: changing it changes
// every stored item's id, and every item would be published as new again.
#[test]
fn the_id_comes_from_the_guid_first() {
    let item = only(items_of(&testdata("feed-rs/rss_2.0_example_1.xml")));
    assert_eq!(item.guid, "7bd204c6-1655-4c27-aeee-53f933c5395f");
    assert_eq!(
        item.id,
        ItemId::derive("lib-news", "guid:7bd204c6-1655-4c27-aeee-53f933c5395f")
    );
}

#[test]
fn the_id_comes_from_the_canonical_link_when_there_is_no_guid() {
    let items = items_of(&testdata("feed-rs/rss_0.91_spec_1.xml"));
    assert_eq!(items[0].guid, "");
    assert_eq!(
        items[0].id,
        ItemId::derive("lib-news", "link:http://writetheweb.com/read.php?item=24")
    );

    // Tracking parameters are not part of the link, so they cannot make a
    // known item look new.
    let tracked = rss(
        "",
        "<item><title>A</title><link>https://lib.example/a?id=1&amp;utm_source=rss</link></item>",
    );
    let clean = rss(
        "",
        "<item><title>A</title><link>https://lib.example/a?id=1</link></item>",
    );
    assert_eq!(only(items_of(&tracked)).id, only(items_of(&clean)).id);
}

#[test]
fn the_id_comes_from_title_and_date_when_there_is_no_guid_or_link() {
    let items = items_of(&testdata(
        "miniflux/TestParseEntryWithoutLinkAndWithoutGUID.xml",
    ));
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].id, ItemId::derive("lib-news", "title:Item 1\n"));
    assert_eq!(
        items[1].id,
        ItemId::derive("lib-news", "title:Item 2\n2002-10-02T08:00:00Z")
    );
}

#[test]
fn the_id_comes_from_the_text_when_there_is_nothing_else() {
    // RSS 0.92 items with only a description.
    let items = items_of(&testdata("feed-rs/rss_0.92_spec_1.xml"));
    let ids: HashSet<_> = items.iter().map(|i| &i.id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(
        items[2].id,
        ItemId::derive(
            "lib-news",
            "text:This is a test of a change I just made. Still diggin.."
        )
    );
}

#[test]
fn key_kinds_never_collide() {
    // A guid that reads like a link is not the same key as that link.
    let by_guid = rss(
        "",
        "<item><title>A</title><guid>https://lib.example/a</guid><link>https://lib.example/b</link></item>",
    );
    let by_link = rss(
        "",
        "<item><title>A</title><link>https://lib.example/a</link></item>",
    );
    assert_ne!(only(items_of(&by_guid)).id, only(items_of(&by_link)).id);
}

#[test]
fn an_id_repeated_in_one_feed_keeps_the_first_entry() {
    let items = items_of(&testdata(
        "miniflux/TestParseEntriesWithDuplicateGUIDAndDistinctLinks.xml",
    ));
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].title, "Item A");
    assert_eq!(items[0].url.as_deref(), Some("https://example.org/a"));
}

#[test]
fn the_same_guid_in_two_sources_gives_two_ids() {
    let feed = parsed(&testdata("feed-rs/rss_2.0_example_1.xml"));
    let other = SourceRef {
        id: "other-library".into(),
        ..source()
    };
    let a = only(normalize(&source(), &feed_url(), &feed, now()));
    let b = only(normalize(&other, &feed_url(), &feed, now()));
    assert_ne!(a.id, b.id);
}

// ---- links ----

#[test]
fn a_guid_that_is_an_http_url_is_the_link_when_there_is_none() {
    let items = items_of(&testdata(
        "miniflux/TestParseEntryWithOnlyGuidPermalink.xml",
    ));
    let urls: Vec<_> = items.iter().map(|i| i.url.as_deref()).collect();
    assert_eq!(
        urls,
        [
            Some("https://example.org/some-article.html"),
            Some("https://example.org/another-article.html")
        ]
    );

    let opaque = rss(
        "",
        "<item><title>A</title><guid>urn:uuid:1234</guid></item>",
    );
    assert_eq!(only(items_of(&opaque)).url, None);
}

#[test]
fn the_link_is_the_page_not_the_comments_enclosure_or_self_link() {
    let item = only(items_of(&testdata(
        "miniflux/TestParseEntryWithCommentsURL.xml",
    )));
    assert_eq!(item.url.as_deref(), Some("https://example.org/item1"));

    let entry = r#"<entry><id>urn:1</id><title>t</title><updated>2024-01-01T00:00:00Z</updated>
        <link rel="self" href="https://lib.example/api/1"/>
        <link rel="enclosure" type="audio/mpeg" href="https://lib.example/1.mp3"/>
        <link rel="replies" href="https://lib.example/1/comments"/>
        <link rel="alternate" type="text/html" href="https://lib.example/posts/1"/></entry>"#;
    let item = only(items_of(&atom("", entry)));
    assert_eq!(item.url.as_deref(), Some("https://lib.example/posts/1"));

    // With no page link at all, the first usable link will do.
    let entry = r#"<entry><id>urn:2</id><title>t</title><updated>2024-01-01T00:00:00Z</updated>
        <link rel="edit" href="javascript:void(0)"/><link rel="self" href="https://lib.example/api/2"/></entry>"#;
    let item = only(items_of(&atom("", entry)));
    assert_eq!(item.url.as_deref(), Some("https://lib.example/api/2"));
}

#[test]
fn a_link_to_a_media_file_is_not_the_page() {
    // In Atom a link without rel is an alternate; its type still says it is
    // not a web page.
    let entry = r#"<entry><id>urn:1</id><title>t</title><updated>2024-01-01T00:00:00Z</updated>
        <link type="application/pdf" href="https://lib.example/report.pdf"/>
        <link href="https://lib.example/news/report"/></entry>"#;
    let item = only(items_of(&atom("", entry)));
    assert_eq!(item.url.as_deref(), Some("https://lib.example/news/report"));

    // A JSON Feed item with only an attachment: the attachment is all there is.
    let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[
        {"id":"1","title":"Episode","attachments":[{"url":"https://lib.example/1.mp3","mime_type":"audio/mpeg"}]}]}"#;
    let item = only(items_of(json.as_bytes()));
    assert_eq!(item.url.as_deref(), Some("https://lib.example/1.mp3"));
}

#[test]
fn relative_links_resolve_against_the_feed_url() {
    // JSON Feed: feed-rs leaves its URLs as written.
    let item = only(items_of(&testdata(
        "miniflux/TestParseItemWithRelativeURL.json",
    )));
    assert_eq!(
        item.url.as_deref(),
        Some("https://news.example.org/feeds/something.html")
    );

    let item = only(items_of(&rss(
        "",
        "<item><title>A</title><link>/news/a.html</link></item>",
    )));
    assert_eq!(
        item.url.as_deref(),
        Some("https://news.example.org/news/a.html")
    );
}

#[test]
fn xml_base_resolves_links_and_relative_urls_in_content() {
    // An Atom <content xml:base>.
    let item = only(items_of(&testdata("feed-rs/atom_xml_base.xml")));
    let html = item.content_html.unwrap();
    assert!(
        html.contains(r#"src="https://numi.st/post/2022/travel-uke/IMG_1232.jpeg""#),
        "{html}"
    );

    // RSS xml:base on one item: its link, and the HTML of each item relative
    // to that item's page.
    let items = items_of(&testdata(
        "node-feedparser/rss-with-item-scoped-html-base.xml",
    ));
    assert_eq!(
        items[0].url.as_deref(),
        Some("https://example.com/first/first")
    );
    assert_eq!(
        items[1].url.as_deref(),
        Some("https://news.example.org/feeds/second")
    );
    let first = items[0].content_html.as_deref().unwrap();
    let second = items[1].content_html.as_deref().unwrap();
    assert!(
        first.contains(r#"href="https://example.com/first/post""#),
        "{first}"
    );
    assert!(
        second.contains(r#"href="https://news.example.org/feeds/post""#),
        "{second}"
    );

    // xml:base on the root and the item.
    let item = only(items_of(&testdata(
        "node-feedparser/rss-with-relative-html-urls.xml",
    )));
    assert_eq!(
        item.url.as_deref(),
        Some("https://example.com/posts/posts/post-1")
    );
    let html = item.content_html.unwrap();
    assert!(
        html.contains(r#"src="https://example.com/images/post-1.png""#),
        "{html}"
    );
}

#[test]
fn tracking_parameters_are_dropped_from_the_link() {
    let item = only(items_of(&rss(
        "",
        "<item><title>A</title><link>https://lib.example/a?id=7&amp;utm_source=rss&amp;utm_medium=feed&amp;fbclid=x&amp;page=2</link></item>",
    )));
    assert_eq!(
        item.url.as_deref(),
        Some("https://lib.example/a?id=7&page=2")
    );
}

#[test]
fn links_that_are_not_http_are_dropped() {
    for link in [
        "javascript:alert(1)",
        "data:text/html,x",
        "mailto:news@lib.example",
        "ftp://lib.example/a",
    ] {
        let item = only(items_of(&rss(
            "",
            &format!("<item><title>A</title><link>{link}</link></item>"),
        )));
        assert_eq!(item.url, None, "{link}");
    }
}

// ---- title ----

#[test]
fn titles_are_plain_text() {
    let item = only(items_of(&testdata(
        "miniflux/TestParseItemTitleWithDoubleEncodedEntities.xml",
    )));
    assert_eq!(item.title, "'Text'");

    let item = only(items_of(&rss(
        "",
        "<item><title>  &lt;b&gt;IFLA&lt;/b&gt;\n\t World  Library &amp;amp; Information Congress </title><guid>1</guid></item>",
    )));
    assert_eq!(item.title, "IFLA World Library & Information Congress");

    // Atom says when a title is plain text: then `<` is just a character.
    let entry = r#"<entry><id>urn:1</id><updated>2024-01-01T00:00:00Z</updated>
        <title type="text">Why &lt;div&gt; is not a paragraph</title></entry>"#;
    assert_eq!(
        only(items_of(&atom("", entry))).title,
        "Why <div> is not a paragraph"
    );
    let entry = r#"<entry><id>urn:1</id><updated>2024-01-01T00:00:00Z</updated>
        <title type="html">&lt;em&gt;Rare&lt;/em&gt; books</title></entry>"#;
    assert_eq!(only(items_of(&atom("", entry))).title, "Rare books");
}

#[test]
fn json_feed_titles_are_read_as_rss_and_atom_html_titles_are() {
    let markup = "<script>alert(1)</script>Rare <b>books</b> &amp; maps";
    let json = serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "t",
        "items": [{"id": "1", "title": markup, "content_text": "x"}],
    });
    let from_json = only(items_of(json.to_string().as_bytes())).title;
    let escaped = markup.replace('&', "&amp;").replace('<', "&lt;");
    let from_rss = only(items_of(&rss(
        "",
        &format!("<item><guid>1</guid><title>{escaped}</title></item>"),
    )))
    .title;
    let entry = format!(
        r#"<entry><id>urn:1</id><updated>2024-01-01T00:00:00Z</updated><title type="html">{escaped}</title></entry>"#
    );
    let from_atom = only(items_of(&atom("", &entry))).title;
    assert_eq!(from_json, "Rare books & maps");
    assert_eq!(from_json, from_rss);
    assert_eq!(from_json, from_atom);
}

#[test]
fn an_untitled_item_is_named_by_its_summary_or_untitled() {
    let long = "The National Library of China welcomed delegates of the World Library and Information Congress to Beijing for a week of sessions";
    let item = only(items_of(&rss(
        "",
        &format!("<item><guid>1</guid><description>&lt;p&gt;{long}&lt;/p&gt;</description></item>"),
    )));
    assert!(item.title.ends_with('…'), "{}", item.title);
    assert!(item.title.chars().count() <= 80, "{}", item.title);
    assert!(
        long.starts_with(item.title.trim_end_matches('…')),
        "{}",
        item.title
    );

    let item = only(items_of(&rss(
        "",
        "<item><guid>2</guid><title> </title></item>",
    )));
    assert_eq!(item.title, "(untitled)");
}

// ---- content ----

#[test]
fn content_is_sanitized() {
    let description = r#"<p onclick="steal()">Read <a href="javascript:alert(1)">this</a>
        and <a href="/news/2.html">that</a>.</p><script>alert(2)</script>
        <iframe src="https://evil.example/"></iframe><img src="x.png" onerror="x()">"#;
    let item = only(items_of(&rss(
        "",
        &format!(
            "<item><guid>1</guid><title>t</title><link>https://lib.example/news/1.html</link><description><![CDATA[{description}]]></description></item>"
        ),
    )));
    let html = item.content_html.unwrap();
    for gone in [
        "onclick",
        "javascript:",
        "<script",
        "alert(2)",
        "<iframe",
        "onerror",
    ] {
        assert!(!html.contains(gone), "{gone} in {html}");
    }
    assert!(
        html.contains(
            r#"<a href="https://lib.example/news/2.html" rel="noopener noreferrer">that</a>"#
        ),
        "{html}"
    );
    assert!(
        html.contains(r#"<img src="https://lib.example/news/x.png">"#),
        "{html}"
    );
}

#[test]
fn content_encoded_is_preferred_over_the_description() {
    let item = only(items_of(&rss(
        "",
        "<item><guid>1</guid><title>t</title><description>Short.</description>\
         <content:encoded><![CDATA[<p>The <b>full</b> text.</p>]]></content:encoded></item>",
    )));
    assert_eq!(
        item.content_html.as_deref(),
        Some("<p>The <b>full</b> text.</p>")
    );
    assert_eq!(item.summary, "Short.");
}

#[test]
fn xhtml_content_is_kept_as_html() {
    let item = only(items_of(&testdata("feed-rs/atom_example_1.xml")));
    let html = item.content_html.unwrap();
    assert!(
        html.contains("<i>[Update: The Atom draft is finished.]</i>"),
        "{html}"
    );
    assert_eq!(item.summary, "[Update: The Atom draft is finished.]");
}

#[test]
fn plain_text_content_is_escaped_not_interpreted() {
    let entry = r#"<entry><id>urn:1</id><title>t</title><updated>2024-01-01T00:00:00Z</updated>
        <content type="text">Use &lt;b&gt; for bold &amp; &lt;script&gt; for trouble</content></entry>"#;
    let item = only(items_of(&atom("", entry)));
    assert_eq!(
        item.content_html.as_deref(),
        Some("Use &lt;b&gt; for bold &amp; &lt;script&gt; for trouble")
    );
    assert_eq!(item.summary, "Use <b> for bold & <script> for trouble");

    let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[
        {"id":"1","title":"a","content_text":"1 < 2 & <i>not italic</i>"}]}"#;
    let item = only(items_of(json.as_bytes()));
    assert_eq!(
        item.content_html.as_deref(),
        Some("1 &lt; 2 &amp; &lt;i&gt;not italic&lt;/i&gt;")
    );
}

#[test]
fn characters_xml_forbids_never_reach_an_item() {
    // JSON strings may carry control characters that XML cannot; the merged
    // feed is XML.
    let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"t","language":"en\u0001",
        "authors":[{"name":"A\u0002B"}],"items":[{"id":"g\u0000","title":"Title\u0007 one\u001b",
        "url":"https://a.example/1","content_html":"<p>x\u0008y</p>","summary":"s\u000bu\u000cm",
        "tags":["c\u0003at"]}]}"#;
    let item = only(items_of(json.as_bytes()));
    assert_eq!(item.title, "Title one");
    assert_eq!(item.guid, "g");
    assert_eq!(item.content_html.as_deref(), Some("<p>xy</p>"));
    assert_eq!(item.summary, "s u m");
    assert_eq!(item.authors, ["AB"]);
    assert_eq!(item.categories, ["cat"]);
    assert_eq!(item.language.as_deref(), Some("en"));

    let plain = r#"{"version":"https://jsonfeed.org/version/1.1","title":"t",
        "items":[{"id":"1","content_text":"a\u0001 < b"}]}"#;
    let item = only(items_of(plain.as_bytes()));
    assert_eq!(item.content_html.as_deref(), Some("a &lt; b"));
}

#[test]
fn content_that_sanitizes_to_nothing_is_none() {
    let item = only(items_of(&rss(
        "",
        "<item><guid>1</guid><title>t</title><description><![CDATA[<script>x()</script> ]]></description></item>",
    )));
    assert_eq!(item.content_html, None);
    assert_eq!(item.summary, "");
}

// ---- summary ----

#[test]
fn the_summary_is_bounded_plain_text() {
    let word = "catalogue ";
    let long = word.repeat(200);
    let item = only(items_of(&rss(
        "",
        &format!(
            "<item><guid>1</guid><title>t</title><description>&lt;p&gt;{long}&lt;/p&gt;</description></item>"
        ),
    )));
    assert!(
        item.summary.chars().count() <= SUMMARY_MAX_CHARS,
        "{}",
        item.summary.len()
    );
    assert!(item.summary.ends_with("catalogue…"), "{}", item.summary);
    // The full text is still in the content.
    assert!(item.content_html.unwrap().len() > 1900);

    let item = only(items_of(&rss(
        "",
        "<item><guid>2</guid><title>t</title><description>  Two\n\n lines   of &lt;i&gt;news&lt;/i&gt; </description></item>",
    )));
    assert_eq!(item.summary, "Two lines of news");
}

#[test]
fn the_summary_falls_back_to_the_content() {
    let items = items_of(&testdata("feed-rs/jsonfeed_example_1.json"));
    assert_eq!(items[1].summary, "Delightful work by Petrick Studio.");
}

// ---- dates ----

#[test]
fn published_comes_from_the_source_in_whole_seconds() {
    let entry = r#"<entry><id>urn:1</id><title>t</title>
        <published>2024-03-01T10:00:00.789+02:00</published><updated>2024-03-02T00:00:00.5Z</updated></entry>"#;
    let item = only(items_of(&atom("", entry)));
    assert_eq!(item.published, date("2024-03-01T08:00:00Z"));
    assert_eq!(item.updated, Some(date("2024-03-02T00:00:00Z")));
    assert!(item.published_from_source);
}

#[test]
fn published_falls_back_to_updated() {
    let item = only(items_of(&testdata("feed-rs/atom_xml_base.xml")));
    assert_eq!(item.published, date("2022-04-21T00:00:00Z"));
    assert!(item.published_from_source);
}

#[test]
fn future_dates_are_clamped_to_now() {
    let entry = r#"<entry><id>urn:1</id><title>t</title>
        <published>2031-01-01T00:00:00Z</published><updated>2032-01-01T00:00:00Z</updated></entry>"#;
    let item = only(items_of(&atom("", entry)));
    assert_eq!(item.published, now());
    assert_eq!(item.updated, Some(now()));
    assert!(item.published_from_source);
}

#[test]
fn a_missing_date_is_now_and_flagged() {
    let item = only(items_of(&rss(
        "",
        "<item><guid>1</guid><title>t</title></item>",
    )));
    assert_eq!(item.published, now());
    assert!(!item.published_from_source);
    assert_eq!(item.updated, None);
}

#[test]
fn a_date_before_1990_counts_as_missing() {
    for pub_date in [
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Sun, 31 Dec 1989 23:59:59 GMT",
    ] {
        let item = only(items_of(&rss(
            "",
            &format!("<item><guid>1</guid><title>t</title><pubDate>{pub_date}</pubDate></item>"),
        )));
        assert_eq!(item.published, now(), "{pub_date}");
        assert!(!item.published_from_source, "{pub_date}");
    }
    let item = only(items_of(&rss(
        "",
        "<item><guid>1</guid><title>t</title><pubDate>Mon, 01 Jan 1990 00:00:00 GMT</pubDate></item>",
    )));
    assert_eq!(item.published, date("1990-01-01T00:00:00Z"));
}

#[test]
fn an_unreadable_date_is_the_first_seen_time_never_the_epoch() {
    for pub_date in [
        "",
        "not a date",
        "05/06/2021",
        "0",
        "1970-01-01T00:00:00Z",
        "Thu, 19 Aug 2021 08:00:00 XYZ",
        "2021-02-30",
    ] {
        let item = only(items_of(&rss(
            "",
            &format!("<item><guid>1</guid><title>t</title><pubDate>{pub_date}</pubDate></item>"),
        )));
        assert_eq!(item.published, now(), "{pub_date:?}");
        assert!(!item.published_from_source, "{pub_date:?}");
    }
}

#[test]
fn broken_dates_that_are_still_readable_are_kept() {
    for (pub_date, expected) in [
        ("Thu, 19 Aug 21 08:00:00 GMT", "2021-08-19T08:00:00Z"),
        ("Mon, 19 Aug 2021 08:00:00 EST", "2021-08-19T13:00:00Z"),
        ("2021-08-19", "2021-08-19T00:00:00Z"),
        ("19 August 2021 08:00 CET", "2021-08-19T07:00:00Z"),
    ] {
        let item = only(items_of(&rss(
            "",
            &format!("<item><guid>1</guid><title>t</title><pubDate>{pub_date}</pubDate></item>"),
        )));
        assert_eq!(item.published, date(expected), "{pub_date:?}");
        assert!(item.published_from_source, "{pub_date:?}");
    }
}

#[test]
fn an_rss_item_has_no_updated_date_unless_it_gives_one() {
    let item = only(items_of(&testdata("feed-rs/rss_2.0_example_1.xml")));
    assert_eq!(item.published, date("2009-09-06T16:20:00Z"));
    assert_eq!(item.updated, None);
}

// ---- authors, categories, language ----

#[test]
fn authors_come_from_the_entry_else_the_feed() {
    let item = only(items_of(&testdata("feed-rs/atom_example_1.xml")));
    // The feed gives his e-mail address too.
    assert_eq!(item.authors, ["Mark Pilgrim <f8dy@example.com>"]);

    let entries = r#"<entry><id>urn:1</id><title>a</title><updated>2024-01-01T00:00:00Z</updated>
          <author><name> Ana  Ruiz </name></author><author><name>Ana Ruiz</name></author><author><name> </name></author></entry>
        <entry><id>urn:2</id><title>b</title><updated>2024-01-01T00:00:00Z</updated></entry>"#;
    let items = items_of(&atom(
        "<author><name>Library Press Office</name></author>",
        entries,
    ));
    assert_eq!(items[0].authors, ["Ana Ruiz"]);
    assert_eq!(items[1].authors, ["Library Press Office"]);

    let item = only(items_of(&rss(
        "",
        "<item><guid>1</guid><title>t</title><author>press@lib.example (Press Office)</author><dc:creator>J. Smith</dc:creator></item>",
    )));
    // The e-mail address is kept beside the name.
    assert_eq!(
        item.authors,
        ["Press Office <press@lib.example>", "J. Smith"]
    );
}

#[test]
fn categories_are_labels_or_terms_trimmed_and_unique() {
    let item = only(items_of(&testdata(
        "miniflux/TestParseEntryWithCategories.xml",
    )));
    assert_eq!(item.categories, ["Category 1", "Category 2", "Category 0"]);

    let entry = r#"<entry><id>urn:1</id><title>t</title><updated>2024-01-01T00:00:00Z</updated>
        <category term="rare-books" label="Rare books"/><category term="events"/>
        <category term="rare-books" label="Rare books"/><category term="x" label=" "/></entry>"#;
    assert_eq!(
        only(items_of(&atom("", entry))).categories,
        ["Rare books", "events", "x"]
    );
}

#[test]
fn language_comes_from_the_entry_else_the_feed() {
    let item = only(items_of(&rss(
        "<language> en_US </language>",
        "<item><guid>1</guid><title>t</title></item>",
    )));
    assert_eq!(item.language.as_deref(), Some("en-us"));

    let item = only(items_of(&testdata("feed-rs/atom_example_1.xml")));
    assert_eq!(item.language.as_deref(), Some("en"));

    let item = only(items_of(&rss(
        "<language> </language>",
        "<item><guid>1</guid><title>t</title></item>",
    )));
    assert_eq!(item.language, None);
}

// ---- content hash ----

#[test]
fn the_content_hash_follows_title_link_and_content_only() {
    let item = |title: &str, link: &str, body: &str, category: &str, author: &str| {
        only(items_of(&rss(
            "",
            &format!(
                "<item><guid>1</guid><title>{title}</title><link>{link}</link><description>{body}</description>\
                 <category>{category}</category><author>{author}</author><pubDate>Mon, 03 Jun 2024 10:00:00 GMT</pubDate></item>"
            ),
        )))
    };
    let base = item(
        "Title",
        "https://lib.example/1",
        "Body",
        "news",
        "a@lib.example (A)",
    );
    let hash = |i: &Item| i.content_hash.clone();
    assert_eq!(
        hash(&base),
        hash(&item(
            "Title",
            "https://lib.example/1",
            "Body",
            "news",
            "a@lib.example (A)"
        ))
    );
    assert_eq!(
        hash(&base),
        hash(&item(
            "Title",
            "https://lib.example/1",
            "Body",
            "events",
            "b@lib.example (B)"
        ))
    );
    assert_ne!(
        hash(&base),
        hash(&item(
            "New title",
            "https://lib.example/1",
            "Body",
            "news",
            "a@lib.example (A)"
        ))
    );
    assert_ne!(
        hash(&base),
        hash(&item(
            "Title",
            "https://lib.example/2",
            "Body",
            "news",
            "a@lib.example (A)"
        ))
    );
    assert_ne!(
        hash(&base),
        hash(&item(
            "Title",
            "https://lib.example/1",
            "New body",
            "news",
            "a@lib.example (A)"
        ))
    );
    // An edit keeps the id: it is a new revision of the same item.
    assert_eq!(
        base.id,
        item(
            "New title",
            "https://lib.example/1",
            "New body",
            "news",
            "x"
        )
        .id
    );
}

// ---- full text ----

/// An article's text replaces the feed's content only when longer; the
/// summary stays the feed's, and the content hash stays that of what the
/// feed gave, so the next poll of the same entry is not an edit.
#[test]
fn full_text_takes_a_longer_article_and_keeps_the_feeds_hash_and_summary() {
    let feed = rss(
        "",
        r#"<item><guid>a</guid><title>Reading room</title><link>https://news.example.org/a</link>
        <description>One line.</description></item>"#,
    );
    let given = only(items_of(&feed));
    let article = |html: &str| Article::read(Some(html), &feed_url(), None);

    let mut item = given.clone();
    let long = "<p>The reading room opens on Monday, with longer hours for everyone.</p>";
    assert!(apply_full_text(&mut item, article(long), now()));
    assert_eq!(item.content_html.as_deref(), Some(long));
    assert_eq!(item.summary, given.summary);
    assert_eq!(item.content_hash, given.content_hash, "the feed's hash");
    assert_ne!(item.compute_content_hash(), given.content_hash);

    let mut item = given.clone();
    assert!(!apply_full_text(&mut item, article("<p>Short.</p>"), now()));
    assert_eq!(item, given, "a shorter article changes nothing");

    // The stored article text comes back on a later poll of the entry.
    let mut again = given.clone();
    keep_full_text(&mut again, long);
    assert_eq!(again.content_html.as_deref(), Some(long));
    assert_eq!(again.content_hash, given.content_hash);
}
