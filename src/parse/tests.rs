//! Parse tests. Files under `testdata/` are copied from the shared corpus;
//! `testdata/README.md` names where each came from.

use super::*;
use std::sync::LazyLock;

fn base() -> &'static Url {
    static BASE: LazyLock<Url> =
        LazyLock::new(|| Url::parse("https://news.example.org/feeds/main.xml").unwrap());
    &BASE
}

/// Parses `body` as fetched from [`base`], with no other options.
fn parse_at_base(body: &[u8]) -> Result<Feed, ParseError> {
    parse(body, &ParseOptions::new(base()))
}

fn testdata(path: &str) -> Vec<u8> {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/parse/testdata")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()))
}

const SMALL_RSS: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Library news</title><link>/</link><ttl>45</ttl>
<item><title>One</title><link>/news/one.html</link></item>
<item><title>Two</title><link>two.html</link><guid>urn:x:2</guid></item>
</channel></rss>"#;

#[test]
fn rss_parses_with_relative_links_resolved_against_the_base_url() {
    let feed = parse_at_base(SMALL_RSS.as_bytes()).unwrap();
    assert_eq!(feed.entries.len(), 2);
    assert_eq!(
        feed.entries[0].links[0].href,
        "https://news.example.org/news/one.html"
    );
    assert_eq!(
        feed.entries[1].links[0].href,
        "https://news.example.org/feeds/two.html"
    );
    // RSS <ttl> is read into the model (minutes), for the scheduler to use.
    assert_eq!(feed.ttl, Some(45));
}

#[test]
fn an_entry_without_an_id_gets_an_empty_one_not_a_random_one() {
    let first = parse_at_base(SMALL_RSS.as_bytes()).unwrap();
    let second = parse_at_base(SMALL_RSS.as_bytes()).unwrap();
    assert_eq!(first.entries[0].id, "");
    assert_eq!(second.entries[0].id, "");
    assert_eq!(first.entries[1].id, "urn:x:2");
}

#[test]
fn content_is_left_unsanitized_for_normalize() {
    let rss = r#"<rss version="2.0"><channel><item><title>x</title>
        <description>&lt;p onclick="x()"&gt;hi&lt;/p&gt;</description></item></channel></rss>"#;
    let feed = parse_at_base(rss.as_bytes()).unwrap();
    let summary = feed.entries[0].summary.as_ref().unwrap();
    assert_eq!(summary.content, r#"<p onclick="x()">hi</p>"#);
}

#[test]
fn item_scoped_xml_base_resolves_that_items_link_only() {
    let feed = parse_at_base(&testdata(
        "node-feedparser/rss-with-item-scoped-html-base.xml",
    ))
    .unwrap();
    let links: Vec<_> = feed
        .entries
        .iter()
        .map(|e| e.links[0].href.as_str())
        .collect();
    assert_eq!(
        links,
        [
            "https://example.com/first/first",
            "https://news.example.org/feeds/second"
        ]
    );
}

#[test]
fn atom_xml_base_on_the_feed_resolves_entry_links() {
    let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://lib.example.net/blog/">
        <title>t</title><id>urn:f</id><updated>2024-01-01T00:00:00Z</updated>
        <entry><id>urn:e</id><title>e</title><updated>2024-01-01T00:00:00Z</updated>
        <link rel="alternate" href="2024/post"/></entry></feed>"#;
    let feed = parse_at_base(atom.as_bytes()).unwrap();
    assert_eq!(
        feed.entries[0].links[0].href,
        "https://lib.example.net/blog/2024/post"
    );
}

#[test]
fn a_utf8_bom_and_leading_white_space_do_not_break_parsing() {
    let mut body = b"\xEF\xBB\xBF \r\n\t ".to_vec();
    body.extend_from_slice(SMALL_RSS.as_bytes());
    assert_eq!(parse_at_base(&body).unwrap().entries.len(), 2);

    let json = "\u{feff}\n  {\"version\":\"https://jsonfeed.org/version/1.1\",\"title\":\"t\",\"items\":[{\"id\":\"1\",\"title\":\"a\"}]}";
    assert_eq!(parse_at_base(json.as_bytes()).unwrap().entries.len(), 1);
}

#[test]
fn rss_without_a_version_or_with_an_unknown_one_is_read_as_rss_2() {
    for root in [
        "<rss>",
        r#"<rss version="0.94">"#,
        "<rss version='2.00' xmlns:dc=\"http://purl.org/dc/elements/1.1/\">",
    ] {
        let body = format!(
            "<?xml version=\"1.0\"?>{root}<channel><title>t</title><item><title>x</title><guid>g</guid></item></channel></rss>"
        );
        let feed = parse_at_base(body.as_bytes()).unwrap_or_else(|e| panic!("{root}: {e}"));
        assert_eq!(feed.entries.len(), 1, "{root}");
    }
}

#[test]
fn legacy_namespaces_are_read_as_todays() {
    let rss090 = r#"<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
        xmlns="http://my.netscape.com/rdf/simple/0.9/"><channel><title>t</title><link>http://a.example/</link></channel>
        <item><title>Old news</title><link>http://a.example/1</link></item></rdf:RDF>"#;
    let userland = r#"<rss version="2.0" xmlns="http://backend.userland.com/rss2"><channel><title>t</title>
        <item><title>Yandex-style</title><guid>g1</guid></item></channel></rss>"#;
    let atom03 = r#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>t</title>
        <entry><title>Atom 0.3</title><id>tag:a,2004:1</id><link rel="alternate" type="text/html" href="http://a.example/1"/></entry></feed>"#;
    for (name, body) in [
        ("rss 0.90", rss090),
        ("userland rss2", userland),
        ("atom 0.3", atom03),
    ] {
        let feed = parse_at_base(body.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(feed.entries.len(), 1, "{name}");
        assert!(feed.entries[0].title.is_some(), "{name}");
    }
}

#[test]
fn an_empty_body_is_the_empty_error() {
    for body in [&b""[..], b"   \n\t", b"\xEF\xBB\xBF  "] {
        assert!(
            matches!(parse_at_base(body), Err(ParseError::Empty)),
            "{body:?}"
        );
    }
}

#[test]
fn an_html_page_is_the_html_error() {
    let err = parse_at_base(&testdata("node-feedparser/notafeed.html")).unwrap_err();
    assert!(
        matches!(err, ParseError::Html { alternate: None }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "the body is an HTML page, not a feed");

    // A redirect page with an old HTML 2.0 doctype.
    let err = parse_at_base(&testdata(
        "rogue-scholar-api/sven-lieber.org_ecced9f498.html",
    ))
    .unwrap_err();
    assert!(
        matches!(err, ParseError::Html { alternate: None }),
        "{err:?}"
    );
}

#[test]
fn an_html_page_names_the_feed_it_advertises() {
    // The page stage's golden tests keep this captured page; one copy serves both.
    let page = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/page/testdata/rogue-scholar-api/eve.gd_17715c510b.html");
    let err = parse_at_base(&std::fs::read(&page).unwrap()).unwrap_err();
    assert!(
        matches!(&err, ParseError::Html { alternate: Some(u) } if u == "https://eve.gd/feed/feed.atom"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the body is an HTML page, not a feed; the page advertises a feed at https://eve.gd/feed/feed.atom"
    );
}

#[test]
fn advertised_feed_links_resolve_against_the_pages_base() {
    let page = r#"<!doctype html><html><head>
        <link rel="stylesheet" href="/style.css">
        <link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
        <link rel="Alternate Home" type="application/RSS+XML; charset=utf-8" href="feed/">
        <link rel="alternate" type="application/atom+xml" href="/atom.xml">
        </head><body></body></html>"#;
    let err = parse_at_base(page.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, ParseError::Html { alternate: Some(u) } if u == "https://news.example.org/feeds/feed/"),
        "{err:?}"
    );

    let with_base = page.replace(
        "<head>",
        r#"<head><base href="https://other.example/site/">"#,
    );
    let err = parse_at_base(with_base.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, ParseError::Html { alternate: Some(u) } if u == "https://other.example/site/feed/"),
        "{err:?}"
    );

    let json_feed = r#"<html><head><link rel="alternate" type="application/feed+json" href="/feed.json"></head></html>"#;
    let err = parse_at_base(json_feed.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, ParseError::Html { alternate: Some(u) } if u == "https://news.example.org/feed.json"),
        "{err:?}"
    );
}

#[test]
fn discovery_lists_advertised_feeds_as_absolute_urls() {
    let html = r#"<html><head>
        <link rel="alternate" type="application/rss+xml" title="News" href="/news/feed/">
        <link rel="alternate" type="application/atom+xml" href="atom.xml">
        <link rel="alternate" hreflang="de" href="/de/">
        <link rel="stylesheet" type="text/css" href="/x.css">
        <link rel="alternate" type="application/rss+xml" href="/news/feed/">
        </head><body></body></html>"#;
    let base = Url::parse("https://lib.example.org/en/").unwrap();
    let feeds = advertised_feeds(html, &base);
    let urls: Vec<_> = feeds.iter().map(|f| f.url.as_str()).collect();
    assert_eq!(
        urls,
        vec![
            "https://lib.example.org/news/feed/",
            "https://lib.example.org/en/atom.xml"
        ]
    );
    assert_eq!(feeds[0].title.as_deref(), Some("News"));
    assert_eq!(feeds[1].media_type, "application/atom+xml");
}

#[test]
fn autodiscovery_knows_every_feed_type_and_skips_the_wordpress_api() {
    let html = r#"<html><head>
        <link rel="alternate" type="application/json" title="JSON" href="/wp-json/wp/v2/pages/2">
        <link rel="alternate" type="application/rdf+xml" href="/index.rdf">
        <link rel="alternate" type="Application/Atom+XML; charset=UTF-8" href="/atom.xml">
        <link rel="alternate" type="text/xml" href="/rss.xml">
        <link rel="alternate" type="application/xml" href="/feed.xml">
        <link rel="alternate" type="application/json" href="/feed.json">
        <link rel="alternate" type="application/json+oembed" href="/oembed?format=json">
        </head><body></body></html>"#;
    let base = Url::parse("https://lib.example.org/").unwrap();
    let feeds = advertised_feeds(html, &base);
    let found: Vec<_> = feeds
        .iter()
        .map(|f| (f.url.path(), f.media_type.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("/index.rdf", "application/rdf+xml"),
            ("/atom.xml", "application/atom+xml"),
            ("/rss.xml", "text/xml"),
            ("/feed.xml", "application/xml"),
            ("/feed.json", "application/json"),
        ]
    );
    // The parse error names the first of the same list.
    let err = parse_at_base(html.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, ParseError::Html { alternate: Some(u) } if u == "https://news.example.org/index.rdf"),
        "{err:?}"
    );
}

#[test]
fn a_page_with_junk_before_its_html_is_still_a_page() {
    let page = b"<br />\n<b>Warning</b>: something in /var/www/x.php<br />\n<html><head><title>x</title></head><body><p>x</body></html>";
    assert!(matches!(parse_at_base(page), Err(ParseError::Html { .. })));
}

#[test]
fn xml_that_is_not_a_feed_names_its_root() {
    let opml = r#"<?xml version="1.0"?><opml version="2.0"><head><title>subs</title></head><body/></opml>"#;
    let err = parse_at_base(opml.as_bytes()).unwrap_err();
    let ParseError::Malformed(reason) = &err else {
        panic!("{err:?}");
    };
    assert!(reason.contains(r#"`<opml version="2.0">`"#), "{reason}");
}

#[test]
fn malformed_xml_is_recovered_with_the_reason() {
    // A `<` in text cannot be told from a tag, so repair leaves it; feed-rs
    // refuses the feed and the lenient reader recovers its item.
    let broken = r#"<rss version="2.0"><channel><title>t</title><item><title>a < b</title><guid>g1</guid></item></channel></rss>"#;
    let parsed = parse_feed(broken.as_bytes(), &ParseOptions::new(base())).unwrap();
    let recovered = parsed.recovered.expect("a recovered feed");
    assert_eq!(recovered.entries, 1);
    assert!(
        recovered
            .warning()
            .starts_with("recovered 1 entries from a malformed feed: "),
        "{}",
        recovered.warning()
    );
    assert_eq!(parsed.feed.entries.len(), 1);
}

#[test]
fn xml_with_no_entry_to_recover_gives_feed_rs_reason() {
    let broken = r#"<rss version="2.0"><channel><title>a < b</title></channel></rss>"#;
    let err = parse_at_base(broken.as_bytes()).unwrap_err();
    let ParseError::Malformed(reason) = &err else {
        panic!("{err:?}");
    };
    assert!(reason.contains("unable to parse XML"), "{reason}");
    assert!(
        err.to_string()
            .starts_with("not a valid RSS, Atom or JSON feed: "),
        "{err}"
    );
}

#[test]
fn malformed_json_gives_serde_reason() {
    let err =
        parse_at_base(br#"{"version": "https://jsonfeed.org/version/1", "items": "#).unwrap_err();
    let ParseError::Malformed(reason) = &err else {
        panic!("{err:?}");
    };
    assert!(reason.contains("unable to parse JSON"), "{reason}");
}

#[test]
fn a_gzip_body_says_it_was_not_decompressed() {
    let err = parse_at_base(&testdata("node-feedparser/compressed.xml")).unwrap_err();
    let ParseError::Malformed(reason) = &err else {
        panic!("{err:?}");
    };
    assert!(reason.contains("gzip-compressed"), "{reason}");
}

#[test]
fn text_that_is_neither_xml_nor_json_is_malformed() {
    let err = parse_at_base(b"Service Unavailable").unwrap_err();
    assert!(matches!(err, ParseError::Malformed(_)), "{err:?}");
}

#[test]
fn a_feed_doctype_is_not_mistaken_for_html() {
    let netscape = r#"<?xml version="1.0"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<!-- a comment --><rss version="0.91"><channel><title>t</title><item><title>a</title><link>http://a.example/1</link></item></channel></rss>"#;
    assert_eq!(parse_at_base(netscape.as_bytes()).unwrap().entries.len(), 1);

    // An internal subset may hold `>`; the root after it still gets its
    // version fixed.
    let subset = r#"<!DOCTYPE rss [ <!ENTITY arrow "->"> ]><rss><channel><title>t</title><item><title>a</title><guid>g</guid></item></channel></rss>"#;
    assert_eq!(parse_at_base(subset.as_bytes()).unwrap().entries.len(), 1);
}

// Encodings.

/// A feed of one item titled `title`, with `decl` as its XML declaration,
/// encoded in `encoding`.
fn feed_in(encoding: &'static encoding_rs::Encoding, decl: &str, title: &str) -> Vec<u8> {
    let xml = format!(
        "{decl}\n<rss version=\"2.0\"><channel><title>{title}</title>\
         <item><title>{title}</title><guid>urn:x:1</guid></item></channel></rss>"
    );
    let (bytes, _, unmappable) = encoding.encode(&xml);
    assert!(!unmappable, "{title:?} is not all in {}", encoding.name());
    bytes.into_owned()
}

fn titles(feed: &Feed) -> Vec<&str> {
    feed.entries
        .iter()
        .filter_map(|e| e.title.as_ref().map(|t| t.content.as_str()))
        .collect()
}

/// Labels as sources declare them, the encoding encoding_rs gives each
/// (GB2312 is GBK and ISO-8859-1 is windows-1252 by WHATWG), and a title in
/// each.
const LEGACY: [(&str, &str); 6] = [
    ("GBK", "国家图书馆举办2021年国际图联大会"),
    ("GB2312", "国家图书馆举办2021年国际图联大会"),
    ("Big5", "國家圖書館舉辦2021年國際圖聯大會"),
    ("windows-1251", "Национальная библиотека Китая"),
    // An en dash is 0x96 in windows-1252, a C1 control in real
    // ISO-8859-1: browsers, and we, read the label as windows-1252.
    ("ISO-8859-1", "Bibliothèque nationale de France – Café"),
    ("KOI8-R", "Российская государственная библиотека"),
];

fn legacy_encoding(label: &str) -> &'static encoding_rs::Encoding {
    encoding_rs::Encoding::for_label(label.as_bytes()).expect("a WHATWG label")
}

#[test]
fn legacy_encodings_declared_in_the_prolog_give_unicode_titles() {
    for (label, title) in LEGACY {
        let body = feed_in(
            legacy_encoding(label),
            &format!("<?xml version=\"1.0\" encoding=\"{label}\"?>"),
            title,
        );
        let feed = parse_at_base(&body).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(titles(&feed), [title], "{label}");
        assert_eq!(feed.title.unwrap().content, title, "{label}");
    }
}

#[test]
fn legacy_encodings_named_only_by_the_http_charset_give_unicode_titles() {
    for (label, title) in LEGACY {
        let body = feed_in(legacy_encoding(label), "<?xml version=\"1.0\"?>", title);
        let content_type = format!("application/rss+xml; charset={label}");
        let options = ParseOptions {
            content_type: Some(&content_type),
            ..ParseOptions::new(base())
        };
        let feed = parse(&body, &options).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(titles(&feed), [title], "{label}");
    }
}

#[test]
fn the_encoding_setting_wins_over_a_wrong_declaration() {
    for (label, title) in LEGACY {
        let encoding = legacy_encoding(label);
        // The declaration and the server both say something else.
        let body = feed_in(
            encoding,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            title,
        );
        let options = ParseOptions {
            content_type: Some("text/xml; charset=iso-8859-5"),
            encoding: Some(encoding),
            ..ParseOptions::new(base())
        };
        let feed = parse(&body, &options).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(titles(&feed), [title], "{label}");

        // Without the setting the titles are garbled, but the items still
        // come through.
        let options = ParseOptions {
            encoding: None,
            ..options
        };
        let feed = parse(&body, &options).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(feed.entries.len(), 1, "{label}");
        assert_ne!(titles(&feed), [title], "{label}");
    }
}

#[test]
fn utf16_feeds_with_a_bom_parse() {
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><rss version=\"2.0\"><channel>\
               <title>t</title><item><title>中文 Ёлка</title><guid>g</guid></item></channel></rss>";
    let mut le = b"\xFF\xFE".to_vec();
    le.extend(xml.encode_utf16().flat_map(u16::to_le_bytes));
    let mut be = b"\xFE\xFF".to_vec();
    be.extend(xml.encode_utf16().flat_map(u16::to_be_bytes));
    for body in [le, be] {
        assert_eq!(titles(&parse_at_base(&body).unwrap()), ["中文 Ёлка"]);
    }
}

#[test]
fn miniflux_encoding_files_give_the_right_titles() {
    let cases = [
        ("iso-8859-1.xml", "Café", None),
        ("windows-1252.xml", "Euro €", None),
        // UTF-8 bytes under a windows-1252 or ISO-8859-1 declaration: the
        // bytes win.
        ("windows-1252-incorrect-prolog.xml", "Euro €", None),
        ("utf8-incorrect-prolog.xml", "테스트 피드", Some("Café")),
        // A label nobody knows is ignored.
        ("invalid-prolog.xml", "테스트 피드", Some("Café")),
        ("utf8.xml", "테스트 피드", Some("Café")),
        ("koi8r.xml", "Пример RSS ленты", Some("Первая новость")),
    ];
    for (file, feed_title, first_entry) in cases {
        let feed = parse_at_base(&testdata(&format!("miniflux/encoding/{file}")))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(feed.title.as_ref().unwrap().content, feed_title, "{file}");
        assert_eq!(titles(&feed).first().copied(), first_entry, "{file}");
    }
}

#[test]
fn real_legacy_feeds_give_cyrillic_and_french_titles() {
    let feed = parse_at_base(&testdata("miniflux/parser/encoding_WINDOWS-1251.xml")).unwrap();
    assert_eq!(feed.entries.len(), 50);
    assert_eq!(titles(&feed)[0], "Цитата #17703");
    assert_eq!(feed.description.unwrap().content, "Новый цитатник Рунета");

    // No declaration at all, and not UTF-8: windows-1252.
    let feed = parse_at_base(&testdata("miniflux/parser/no_encoding_ISO-8859-1.xml")).unwrap();
    assert_eq!(feed.entries.len(), 10);
    assert!(
        titles(&feed).contains(&"La criminalité liée surtout à... l'ennui ?"),
        "{:?}",
        titles(&feed)
    );

    // windows-1251 in the userland RSS namespace.
    let feed = parse_at_base(&testdata("node-feedparser/iconv.xml")).unwrap();
    assert_eq!(feed.entries.len(), 10);
    assert_eq!(
        titles(&feed)[0],
        "В Бузулуке главные стройплощадки – детсад и Ледовый дворец"
    );
}

#[test]
fn a_body_the_declared_encoding_cannot_have_says_how_it_was_read() {
    // Shift_JIS bytes declared as such, but broken off mid-tag: the error
    // names the encoding, so an admin can tell a bad guess from a bad feed.
    let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode(
        "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><rss version=\"2.0\"><channel><title>図書館",
    );
    let err = parse_at_base(&bytes).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("(the body was read as Shift_JIS, as its XML declaration says)"),
        "{err}"
    );
}

// Repairs.

#[test]
fn a_stray_ampersand_no_longer_loses_the_feed() {
    let feed = parse_at_base(&testdata("node-feedparser/saxerror.xml")).unwrap();
    assert_eq!(titles(&feed), ["Good Item", "Bad Item", "Item After Error"]);
    assert_eq!(
        feed.entries[1].links[0].href,
        "http://example.com/bad?foo=1&bar=2"
    );

    let rss = r#"<rss version="2.0"><channel><title>Books & more</title><link>http://a.example/?a=1&b=2</link>
        <item><title>AT&T & the library</title><guid>g</guid></item></channel></rss>"#;
    let feed = parse_at_base(rss.as_bytes()).unwrap();
    assert_eq!(feed.title.as_ref().unwrap().content, "Books & more");
    assert_eq!(titles(&feed), ["AT&T & the library"]);
    assert_eq!(feed.links[0].href, "http://a.example/?a=1&b=2");
}

#[test]
fn html_entities_and_windows_references_become_characters() {
    let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>Example &nbsp; Feed</title>
        <entry><id>urn:e</id><title type="text">Caf&eacute; &#150; &ldquo;Biblioth&egrave;que&rdquo;&hellip;</title>
        <link href="http://a.example/caf&eacute;"/></entry></feed>"#;
    let feed = parse_at_base(atom.as_bytes()).unwrap();
    assert_eq!(feed.title.as_ref().unwrap().content, "Example \u{a0} Feed");
    assert_eq!(titles(&feed), ["Café – “Bibliothèque”…"]);
    assert_eq!(feed.entries[0].links[0].href, "http://a.example/caf%C3%A9");
}

#[test]
fn forbidden_characters_are_dropped_but_cdata_is_left_as_written() {
    let rss = "<rss version=\"2.0\"><channel><title>t\u{1}</title>\
        <item><title>Vertical\u{b}tab&#1; and form\u{c}feed&#x0;\u{fffe}</title><guid>g1</guid></item>\
        <item><title><![CDATA[AT&T &nbsp;\u{1} <b>bold</b>]]></title><guid>g2</guid></item>\
        </channel></rss>";
    let feed = parse_at_base(rss.as_bytes()).unwrap();
    assert_eq!(feed.title.as_ref().unwrap().content, "t");
    assert_eq!(
        titles(&feed),
        ["Verticaltab and formfeed", "AT&T &nbsp;\u{1} <b>bold</b>"]
    );
    // What CDATA carried is dropped by normalize, the last stop before the
    // merged feed.
    let source = crate::item::SourceRef {
        id: "ctl".into(),
        name: "Controls".into(),
        url: base().to_string(),
    };
    let now = "2026-01-01T00:00:00Z".parse().unwrap();
    let items = crate::normalize::normalize(&source, base(), &feed, now);
    assert_eq!(items[1].title, "AT&T bold");
}

#[test]
fn character_references_xml_forbids_no_longer_lose_the_feed() {
    let rss = "<rss version=\"2.0\"><channel><title>t</title>\
        <item><title>a&#0;b&#xD800;c&#55296;d</title><guid>g</guid></item></channel></rss>";
    assert_eq!(titles(&parse_at_base(rss.as_bytes()).unwrap()), ["abcd"]);
}

#[test]
fn what_cannot_be_repaired_safely_is_recovered_with_a_warning() {
    for broken in [
        // A lone `<`: text or a tag?
        "<rss version=\"2.0\"><channel><title>t</title><item><title>1 < 2</title><guid>x</guid></item></channel></rss>",
        // Tags that do not nest.
        "<rss version=\"2.0\"><channel><title>t</title><item><title>x</item></title></channel></rss>",
        // Cut off.
        "<rss version=\"2.0\"><channel><title>t</title><item><title>x</title>",
    ] {
        let parsed = parse_feed(broken.as_bytes(), &ParseOptions::new(base()))
            .unwrap_or_else(|e| panic!("{broken}: {e}"));
        let recovered = parsed.recovered.expect("recovered");
        assert_eq!(recovered.entries, 1, "{broken}");
        assert_eq!(parsed.feed.entries.len(), 1, "{broken}");
    }
}

// Entity bombs.

/// The longest text the bombs below may leave in a title.
const BOUNDED: usize = 4096;

#[test]
fn a_billion_laughs_is_not_expanded() {
    let mut doctype = String::from("<!DOCTYPE rss [\n<!ENTITY lol0 \"lol\">\n");
    for level in 1..=9 {
        let refs = format!("&lol{};", level - 1).repeat(10);
        doctype.push_str(&format!("<!ENTITY lol{level} \"{refs}\">\n"));
    }
    doctype.push_str("]>");
    let xml = format!(
        "<?xml version=\"1.0\"?>{doctype}<rss version=\"2.0\"><channel><title>&lol9;</title>\
         <item><title>&lol9;</title><description>&lol9;&lol9;</description><guid>g</guid>\
         <link>http://a.example/&lol9;</link></item></channel></rss>"
    );
    let feed = parse_at_base(xml.as_bytes()).unwrap();
    let entry = &feed.entries[0];
    assert_eq!(titles(&feed), ["&lol9;"]);
    assert!(entry.summary.as_ref().unwrap().content.len() < BOUNDED);
    assert!(!feed.title.unwrap().content.contains("lollol"));

    // And the item that reaches readers keeps it as text.
    let source = crate::item::SourceRef {
        id: "bomb".into(),
        name: "Bomb".into(),
        url: base().to_string(),
    };
    let now = "2026-01-01T00:00:00Z".parse().unwrap();
    let feed = parse_at_base(xml.as_bytes()).unwrap();
    let items = crate::normalize::normalize(&source, base(), &feed, now);
    assert_eq!(items[0].title, "&lol9;");
    assert!(items[0].summary.len() < BOUNDED);
    assert!(items[0].content_html.as_deref().unwrap_or_default().len() < BOUNDED);
}

#[test]
fn a_quadratic_blowup_is_not_expanded() {
    let big = "x".repeat(50_000);
    let refs = "&big;".repeat(5_000);
    let xml = format!(
        "<!DOCTYPE rss [<!ENTITY big \"{big}\">]><rss version=\"2.0\"><channel><title>t</title>\
         <item><title>{refs}</title><guid>g</guid></item></channel></rss>"
    );
    let feed = parse_at_base(xml.as_bytes()).unwrap();
    // Each reference stays six characters: the title is no longer than the
    // body that carried it.
    assert_eq!(titles(&feed)[0].len(), refs.len());
}

#[test]
fn external_entities_are_never_read() {
    let secret = std::env::temp_dir().join("librarywire-xxe-secret.txt");
    std::fs::write(&secret, "TOP-SECRET-CONTENT").unwrap();
    let url = Url::from_file_path(&secret).unwrap();
    let xml = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE rss [\
         <!ENTITY xxe SYSTEM \"{url}\">\
         <!ENTITY % remote SYSTEM \"{url}\"> %remote;\
         <!ENTITY passwd SYSTEM \"file:///etc/passwd\">]>\
         <rss version=\"2.0\"><channel><title>&xxe;</title>\
         <item><title>&xxe; &passwd;</title><description>&passwd;</description><guid>g</guid></item>\
         </channel></rss>"
    );
    let feed = parse_at_base(xml.as_bytes()).unwrap();
    assert_eq!(titles(&feed), ["&xxe; &passwd;"]);
    let everything = format!("{feed:?}");
    assert!(!everything.contains("TOP-SECRET"), "{everything}");
    assert!(!everything.contains("root:"), "{everything}");
    let _ = std::fs::remove_file(secret);
}

// Dates.

#[test]
fn dates_without_a_zone_are_read_in_the_sources_time_zone() {
    let rss = r#"<rss version="2.0"><channel><title>t</title>
        <item><title>a</title><guid>1</guid><pubDate>2021-08-19 16:00</pubDate></item>
        <item><title>b</title><guid>2</guid><pubDate>Thu, 19 Aug 21 16:00:00 +0800</pubDate></item>
        <item><title>c</title><guid>3</guid><pubDate>not a date</pubDate></item>
        </channel></rss>"#;
    let expected: chrono::DateTime<chrono::Utc> = "2021-08-19T08:00:00Z".parse().unwrap();
    let options = ParseOptions {
        timezone: Some(chrono_tz::Asia::Shanghai),
        ..ParseOptions::new(base())
    };
    let feed = parse(rss.as_bytes(), &options).unwrap();
    let published: Vec<_> = feed.entries.iter().map(|e| e.published).collect();
    assert_eq!(published, [Some(expected), Some(expected), None]);

    // Without the setting, UTC.
    let feed = parse_at_base(rss.as_bytes()).unwrap();
    assert_eq!(
        feed.entries[0].published,
        Some("2021-08-19T16:00:00Z".parse().unwrap())
    );
}

#[test]
fn atom_and_json_feed_dates_go_through_the_same_reader() {
    let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>f</id>
        <updated>2021-08-19</updated>
        <entry><id>e</id><title>x</title><updated>2021-08-19T16:00:00</updated>
        <published>19 August 2021</published></entry></feed>"#;
    let options = ParseOptions {
        timezone: Some(chrono_tz::Asia::Shanghai),
        ..ParseOptions::new(base())
    };
    let feed = parse(atom.as_bytes(), &options).unwrap();
    let entry = &feed.entries[0];
    assert_eq!(entry.updated, Some("2021-08-19T08:00:00Z".parse().unwrap()));
    assert_eq!(
        entry.published,
        Some("2021-08-18T16:00:00Z".parse().unwrap())
    );

    let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"t",
        "items":[{"id":"1","title":"x","date_published":"2021/08/19 16:00"}]}"#;
    let feed = parse(json.as_bytes(), &options).unwrap();
    assert_eq!(
        feed.entries[0].published,
        Some("2021-08-19T08:00:00Z".parse().unwrap())
    );
}

// Robustness.

#[test]
fn damaged_copies_of_a_feed_never_panic() {
    // Every prefix, and a hostile byte at every position, of a feed that
    // exercises each stage: declaration, doctype, CDATA, references, dates.
    let feed = "<?xml version=\"1.0\" encoding=\"GBK\"?><!DOCTYPE rss [<!ENTITY a \"b\">]>\
        <rss version=\"2.0\"><channel><title>T&amp;t &eacute;</title>\
        <item><title><![CDATA[x & y]]> &#150; &a;</title><guid>g</guid>\
        <pubDate>Thu, 19 Aug 21 08:00:00 +0800</pubDate><link>http://a.example/?a=1&amp;b</link>\
        <description>caf\u{e9} \u{56fd}\u{5bb6}</description></item></channel></rss>";
    let (bytes, _, _) = encoding_rs::GBK.encode(feed);
    let bytes = bytes.into_owned();
    assert!(parse_at_base(&bytes).is_ok());
    let hostile: [&[u8]; 10] = [
        b"&",
        b"<",
        b"]]>",
        b"\0",
        b"\xFF",
        b"\xEF\xBF\xBE",
        b"&#",
        b"\xE4",
        b"?>",
        b"\xFE\xFF",
    ];
    for cut in 0..=bytes.len() {
        let _ = parse_at_base(&bytes[..cut]);
        for insert in hostile {
            let mut damaged = bytes[..cut].to_vec();
            damaged.extend_from_slice(insert);
            damaged.extend_from_slice(&bytes[cut..]);
            let _ = parse_at_base(&damaged);
        }
    }
}
