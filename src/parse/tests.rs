//! Parse tests. Files under `testdata/` are copied from the shared corpus;
//! `testdata/README.md` names where each came from.

use super::*;

fn base() -> Url {
    Url::parse("https://news.example.org/feeds/main.xml").unwrap()
}

/// Parses `body` as fetched from [`base`], with no other options.
fn parse_at_base(body: &[u8]) -> Result<Feed, ParseError> {
    parse(body, &ParseOptions::new(&base()))
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
    let feed = parse_at_base(&testdata("node-feedparser/rss-with-item-scoped-html-base.xml"))
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
    let err = parse_at_base(&testdata("rogue-scholar-api/sven-lieber.org_ecced9f498.html"))
    .unwrap_err();
    assert!(
        matches!(err, ParseError::Html { alternate: None }),
        "{err:?}"
    );
}

#[test]
fn an_html_page_names_the_feed_it_advertises() {
    let err = parse_at_base(&testdata("rogue-scholar-api/eve.gd_17715c510b.html"))
    .unwrap_err();
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
fn malformed_xml_gives_feed_rs_reason() {
    // A `<` in text cannot be told from a tag, so it is not repaired.
    let broken = r#"<rss version="2.0"><channel><title>t</title><item><title>a < b</title></item></channel></rss>"#;
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
    let err = parse_at_base(br#"{"version": "https://jsonfeed.org/version/1", "items": "#)
    .unwrap_err();
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
    assert_eq!(
        parse_at_base(netscape.as_bytes()).unwrap().entries.len(),
        1
    );

    // An internal subset may hold `>`; the root after it still gets its
    // version fixed.
    let subset = r#"<!DOCTYPE rss [ <!ENTITY arrow "->"> ]><rss><channel><title>t</title><item><title>a</title><guid>g</guid></item></channel></rss>"#;
    assert_eq!(parse_at_base(subset.as_bytes()).unwrap().entries.len(), 1);
}

