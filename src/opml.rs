//! OPML 2.0: the sources exported as a subscription list (`/opml`), and an
//! OPML file's feeds turned into `[[sources]]` TOML (`import-opml`).
//!
//! Both directions go through the `opml` crate; this module only maps
//! outlines to sources and back. No I/O: the caller reads the file or serves
//! the text.

use crate::config::{
    ConfigText, NewSource, ServerSettings, Settings, SourceKind, is_valid_source_id,
};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use url::Url;

/// The configured sources as an OPML 2.0 document.
pub fn render(settings: &Settings) -> String {
    render_at(settings, Utc::now())
}

/// [`render`] with the creation time given.
///
/// One `type="rss"` outline per source, named by the source's display name.
/// A feed source's `xmlUrl` is its URL. A page source has no feed of its
/// own, so its `xmlUrl` is the feed this server makes of it
/// (`<server.public_url>sources/<id>/feed.xml`) and its `htmlUrl` the page.
pub fn render_at(settings: &Settings, now: DateTime<Utc>) -> String {
    let outlines = settings
        .sources
        .iter()
        .map(|source| {
            let name = xml_safe(source.display_name());
            let (xml_url, html_url) = match source.kind {
                SourceKind::Feed => (source.url.public(), None),
                SourceKind::Page => (
                    source_feed_url(&settings.server, &source.id),
                    Some(source.url.public()),
                ),
            };
            opml::Outline {
                text: name.clone(),
                title: Some(name),
                r#type: Some("rss".to_owned()),
                xml_url: Some(xml_safe(&xml_url)),
                html_url: html_url.as_deref().map(xml_safe),
                ..opml::Outline::default()
            }
        })
        .collect();
    let document = opml::OPML {
        version: "2.0".to_owned(),
        head: Some(opml::Head {
            title: Some(xml_safe(&format!("{}: sources", settings.server.title))),
            date_created: Some(now.to_rfc2822()),
            docs: Some("https://opml.org/spec2.opml".to_owned()),
            ..opml::Head::default()
        }),
        body: opml::Body { outlines },
    };
    // The crate writes into a Vec and checks that it is UTF-8; neither can
    // fail for a document built from Rust strings.
    let xml = document
        .to_string()
        .expect("writing OPML into memory cannot fail");
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{xml}\n")
}

/// The URL of the feed this server makes of one source.
pub fn source_feed_url(server: &ServerSettings, id: &str) -> String {
    server.url(&format!("sources/{id}/feed.xml"))
}

/// Drops the characters XML 1.0 forbids (a config may hold them escaped).
fn xml_safe(text: &str) -> String {
    text.chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}'))
        .collect()
}

/// An OPML file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{file}: not a readable OPML file: {message}")]
pub struct ImportError {
    /// The file, as given.
    pub file: String,
    /// What is wrong, with the XML reader's reason.
    pub message: String,
}

/// The feeds of an OPML file, as sources to review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The file's `<head><title>`.
    pub title: Option<String>,
    /// Feeds and skipped outlines, in document order.
    pub entries: Vec<Entry>,
}

/// One outline of an imported file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A feed, as a source.
    Feed(ImportedFeed),
    /// An outline that gives no usable feed, and why.
    Skipped {
        /// Its text or title.
        what: String,
        /// Why it is left out.
        reason: String,
    },
}

/// A feed of an imported file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFeed {
    /// A unique id slugged from the title (or, when that gives nothing, the host).
    pub id: String,
    /// The outline's text (or title).
    pub name: Option<String>,
    /// Its `xmlUrl`.
    pub url: String,
    /// Its `htmlUrl`, the site, when given.
    pub site: Option<String>,
    /// The folders it sits in, outermost first, joined with ` / `.
    pub folder: Option<String>,
}

impl Imported {
    /// The feeds only.
    pub fn feeds(&self) -> impl Iterator<Item = &ImportedFeed> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Feed(feed) => Some(feed),
            Entry::Skipped { .. } => None,
        })
    }

    /// `[[sources]]` TOML for the feeds, with comments for folders, sites and
    /// skipped outlines, and a header saying where it came from.
    pub fn to_toml(&self, origin: &str) -> String {
        let title = self
            .title
            .as_deref()
            .map(|t| format!(" (\"{t}\")"))
            .unwrap_or_default();
        let mut text = ConfigText::new();
        text.comment(&format!(
            "Sources imported from the OPML file {origin}{title} by `librarywire import-opml`."
        ))
        .comment(&format!(
            "{} feeds. Review them before pasting into the config: ids are made from",
            self.feeds().count()
        ))
        .comment("the titles, and nothing was fetched; `librarywire poll-once --source ID`")
        .comment("tries one.");
        let mut folder: Option<&str> = None;
        for entry in &self.entries {
            text.blank_line();
            match entry {
                Entry::Feed(feed) => {
                    if feed.folder.as_deref() != folder {
                        folder = feed.folder.as_deref();
                        if let Some(f) = folder {
                            text.comment(&format!("Folder: {f}"));
                        }
                    }
                    if let Some(site) = &feed.site {
                        text.comment(&format!("Site: {site}"));
                    }
                    text.source(&NewSource {
                        id: &feed.id,
                        name: feed.name.as_deref(),
                        url: &feed.url,
                        page: None,
                        hints: &[],
                        page_hints: &[],
                    });
                }
                Entry::Skipped { what, reason } => {
                    text.comment(&format!("Skipped \"{what}\": {reason}"));
                }
            }
        }
        text.finish()
    }
}

/// Reads an OPML file's bytes. `origin` names it in errors.
///
/// Stray `&` and HTML entities are repaired as in feeds (see `parse::repair`).
/// Nested outlines are flattened (their folders kept for comments); an
/// outline without an `xmlUrl`, or with one that is not an http, https or
/// file URL, is skipped with the reason; a URL already listed is skipped.
pub fn import(bytes: &[u8], origin: &str) -> Result<Imported, ImportError> {
    let text = decode(bytes);
    let fail = |message: String| ImportError {
        file: origin.to_owned(),
        message,
    };
    // The XML reader looks for <opml> and, in anything else, only finds the
    // end of the file; say what the file is instead.
    match root_name(&text) {
        Some("opml") => {}
        Some(name) => {
            return Err(fail(format!("its root element is <{name}>, not <opml>")));
        }
        None => return Err(fail("it holds no XML element".to_owned())),
    }
    // Readers export what their users typed: a bare `&` or an HTML entity
    // (`&eacute;`) in a title is common. The feed parser's repair makes
    // such text well-formed; a well-formed file is not copied.
    let repaired = crate::parse::repair::repair(&text);
    let document =
        opml::OPML::from_str(&repaired).map_err(|e| fail(crate::error::error_chain(&e)))?;
    let mut reader = Reader::default();
    let mut folders = Vec::new();
    for outline in &document.body.outlines {
        reader.visit(outline, &mut folders);
    }
    Ok(Imported {
        title: document
            .head
            .and_then(|h| h.title)
            .map(|t| one_line(&t))
            .filter(|t| !t.is_empty()),
        entries: reader.entries,
    })
}

/// The name of the first element, past the declaration, comments,
/// processing instructions and the doctype.
fn root_name(text: &str) -> Option<&str> {
    let mut rest = text;
    loop {
        let start = rest.find('<')?;
        rest = &rest[start..];
        let skip_to = if rest.starts_with("<!--") {
            "-->"
        } else if rest.starts_with("<?") {
            "?>"
        } else if rest.starts_with("<!") {
            ">"
        } else {
            let name = &rest[1..];
            let end = name
                .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                .unwrap_or(name.len());
            return Some(&name[..end]);
        };
        let end = rest.find(skip_to)?;
        rest = &rest[end + skip_to.len()..];
    }
}

/// OPML files are XML: a byte order mark wins, then UTF-8, then the
/// encoding the XML declaration names, then windows-1252.
fn decode(bytes: &[u8]) -> String {
    if let Some((encoding, _)) = encoding_rs::Encoding::for_bom(bytes) {
        return encoding.decode_with_bom_removal(bytes).0.into_owned();
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
    let declared = head
        .split_once("encoding=")
        .and_then(|(_, rest)| {
            let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            rest[1..].split(quote).next().map(str::to_owned)
        })
        .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()));
    let encoding = declared.unwrap_or(encoding_rs::WINDOWS_1252);
    encoding.decode_without_bom_handling(bytes).0.into_owned()
}

#[derive(Default)]
struct Reader {
    entries: Vec<Entry>,
    ids: HashSet<String>,
    urls: HashSet<String>,
}

impl Reader {
    fn visit(&mut self, outline: &opml::Outline, folders: &mut Vec<String>) {
        let name = [Some(outline.text.as_str()), outline.title.as_deref()]
            .into_iter()
            .flatten()
            .map(one_line)
            .find(|t| !t.is_empty());
        let xml_url = outline
            .xml_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let what = || {
            name.clone()
                .or_else(|| xml_url.map(str::to_owned))
                .unwrap_or_else(|| "(untitled)".to_owned())
        };
        if outline.is_comment == Some(true) {
            self.skip(what(), "it is marked as a comment".to_owned());
            return;
        }
        match xml_url {
            Some(url) => self.feed(outline, name.clone(), url, folders, what()),
            None if outline.outlines.is_empty() => {
                let reason = match outline.html_url.as_deref().map(str::trim) {
                    Some(site) if !site.is_empty() => format!(
                        "no xmlUrl, only a web page ({site}); `librarywire discover` finds its feed or suggests a page source"
                    ),
                    _ => "no xmlUrl".to_owned(),
                };
                self.skip(what(), reason);
            }
            None => {}
        }
        if !outline.outlines.is_empty() {
            folders.push(name.unwrap_or_else(|| "(untitled)".to_owned()));
            for child in &outline.outlines {
                self.visit(child, folders);
            }
            folders.pop();
        }
    }

    fn feed(
        &mut self,
        outline: &opml::Outline,
        name: Option<String>,
        url: &str,
        folders: &[String],
        what: String,
    ) {
        let parsed = match Url::parse(url) {
            Ok(parsed) => parsed,
            Err(e) => return self.skip(what, format!("xmlUrl `{url}` is not a URL: {e}")),
        };
        let usable = match parsed.scheme() {
            "http" | "https" => parsed.host().is_some(),
            "file" => true,
            _ => false,
        };
        if !usable {
            return self.skip(
                what,
                format!("xmlUrl `{url}` is not an http, https or file URL"),
            );
        }
        if !self.urls.insert(parsed.to_string()) {
            return self.skip(what, format!("`{url}` is listed already"));
        }
        let base = name
            .as_deref()
            .map(slug)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| crate::page::discover::id_from_url(&parsed));
        let id = unique_id(&base, &mut self.ids);
        let folder = (!folders.is_empty()).then(|| folders.join(" / "));
        let site = outline
            .html_url
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        self.entries.push(Entry::Feed(ImportedFeed {
            id,
            name,
            url: url.to_owned(),
            site,
            folder,
        }));
    }

    fn skip(&mut self, what: String, reason: String) {
        self.entries.push(Entry::Skipped { what, reason });
    }
}

/// The longest id the config accepts.
const MAX_ID: usize = 64;

/// `text` as a source id: lowercase ASCII letters and digits, runs of anything
/// else as one `-`, common accented Latin letters without their accents, at
/// most 64 characters. Empty when `text` has no letter or digit it can keep
/// (a title in Chinese, say): the caller falls back to the host.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        let plain = unaccent(c);
        if plain.is_empty() {
            gap = true;
            continue;
        }
        if gap && !out.is_empty() {
            out.push('-');
        }
        gap = false;
        out.push_str(plain);
    }
    clip(&out, MAX_ID)
}

/// The ASCII letters of a lowercase letter or digit, or "" for anything else.
fn unaccent(c: char) -> &'static str {
    const ASCII: [&str; 36] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f", "g", "h",
        "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z",
    ];
    match c {
        '0'..='9' => ASCII[c as usize - '0' as usize],
        'a'..='z' => ASCII[10 + c as usize - 'a' as usize],
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => "i",
        'ł' | 'ľ' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'ß' => "ss",
        'ť' | 'ţ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'æ' => "ae",
        'œ' => "oe",
        'þ' => "th",
        'ð' => "d",
        _ => "",
    }
}

/// At most `max` bytes of an ASCII slug, without a trailing `-`.
fn clip(slug: &str, max: usize) -> String {
    slug[..slug.len().min(max)].trim_end_matches('-').to_owned()
}

/// `base`, or `base-2`, `base-3`, … (clipped to stay within 64), whichever is
/// not in `taken` yet; recorded in `taken`.
fn unique_id(base: &str, taken: &mut HashSet<String>) -> String {
    let base = if base.is_empty() { "feed" } else { base };
    let mut candidate = clip(base, MAX_ID);
    let mut n = 2;
    while taken.contains(&candidate) {
        let suffix = format!("-{n}");
        candidate = format!("{}{suffix}", clip(base, MAX_ID - suffix.len()));
        n += 1;
    }
    debug_assert!(is_valid_source_id(&candidate), "{candidate}");
    taken.insert(candidate.clone());
    candidate
}

/// Whitespace runs (newlines included) as one space, trimmed.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_ids() {
        assert_eq!(slug("IFLA News"), "ifla-news");
        assert_eq!(
            slug("  Library of Congress: Blogs!  "),
            "library-of-congress-blogs"
        );
        assert_eq!(
            slug("Bibliothèque nationale de France"),
            "bibliotheque-nationale-de-france"
        );
        assert_eq!(slug("Straße & Œuvre"), "strasse-oeuvre");
        assert_eq!(slug("中国国家图书馆"), "");
        assert_eq!(slug("---"), "");
        let long = slug(&"word ".repeat(40));
        assert!(long.len() <= 64 && !long.ends_with('-'), "{long}");
        for text in ["IFLA News", "Bibliothèque", &"x".repeat(100), "a--b"] {
            assert!(is_valid_source_id(&slug(text)), "{text}");
        }
    }

    #[test]
    fn ids_are_made_unique_within_64_characters() {
        let mut taken = HashSet::new();
        assert_eq!(unique_id("news", &mut taken), "news");
        assert_eq!(unique_id("news", &mut taken), "news-2");
        assert_eq!(unique_id("news", &mut taken), "news-3");
        let long = "a".repeat(64);
        assert_eq!(unique_id(&long, &mut taken), long);
        let second = unique_id(&long, &mut taken);
        assert_eq!(second.len(), 64);
        assert!(second.ends_with("-2"));
        assert_eq!(unique_id("", &mut taken), "feed");
    }

    const NESTED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment before the root -->
<opml version="2.0">
  <head><title>My  feeds</title></head>
  <body>
    <outline text="Libraries">
      <outline text="IFLA News" type="rss" xmlUrl="https://www.ifla.org/news/feed/" htmlUrl="https://www.ifla.org/"/>
      <outline text="Europe">
        <outline text="News" type="rss" xmlUrl="https://europeana.eu/news.rss"/>
        <outline text="News" type="rss" xmlUrl="https://dnb.de/news.rss"/>
      </outline>
    </outline>
    <outline text="IFLA again" type="rss" xmlUrl="https://www.ifla.org/news/feed/"/>
    <outline text="Gopher" type="rss" xmlUrl="gopher://old.example.org/feed"/>
    <outline text="A site" htmlUrl="https://site.example.org/"/>
    <outline text="中国国家图书馆" type="rss" xmlUrl="http://www.nlc.cn/rss.xml"/>
  </body>
</opml>"#;

    #[test]
    fn nested_outlines_are_flattened_deduplicated_and_checked() {
        let imported = import(NESTED.as_bytes(), "feeds.opml").unwrap();
        assert_eq!(imported.title.as_deref(), Some("My feeds"));
        let feeds: Vec<_> = imported.feeds().collect();
        let ids: Vec<_> = feeds.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["ifla-news", "news", "news-2", "nlc-cn"]);
        assert_eq!(feeds[0].folder.as_deref(), Some("Libraries"));
        assert_eq!(feeds[0].site.as_deref(), Some("https://www.ifla.org/"));
        assert_eq!(feeds[1].folder.as_deref(), Some("Libraries / Europe"));
        assert_eq!(feeds[3].name.as_deref(), Some("中国国家图书馆"));
        let skipped: Vec<_> = imported
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Skipped { what, reason } => Some((what.as_str(), reason.as_str())),
                Entry::Feed(_) => None,
            })
            .collect();
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(skipped[0].0 == "IFLA again" && skipped[0].1.contains("listed already"));
        assert!(skipped[1].0 == "Gopher" && skipped[1].1.contains("not an http"));
        assert!(skipped[2].0 == "A site" && skipped[2].1.contains("no xmlUrl"));
    }

    #[test]
    fn the_toml_escapes_names_and_comments_folders_and_skips() {
        let xml = r#"<opml version="2.0"><head/><body><outline text="Say &quot;hi&quot; \ there"><outline text="Q&amp;A" xmlUrl="https://q.org/feed"/></outline><outline text="no&#10;url"/></body></opml>"#;
        let toml = import(xml.as_bytes(), "x.opml").unwrap().to_toml("x.opml");
        assert!(
            toml.starts_with("# Sources imported from the OPML file x.opml"),
            "{toml}"
        );
        assert!(toml.contains("# Folder: Say \"hi\" \\ there\n"), "{toml}");
        assert!(toml.contains("name = \"Q&A\"\n"), "{toml}");
        assert!(toml.contains("# Skipped \"no url\": no xmlUrl\n"), "{toml}");
        // A name that needs escaping reads back as it was.
        let feed = ImportedFeed {
            id: "x".into(),
            name: Some("a\"b\\c\u{1}".into()),
            url: "https://x.org/".into(),
            site: None,
            folder: None,
        };
        let one = Imported {
            title: None,
            entries: vec![Entry::Feed(feed)],
        };
        let read: toml::Table = one.to_toml("y.opml").parse().unwrap();
        assert_eq!(read["sources"][0]["name"].as_str(), Some("a\"b\\c\u{1}"));
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        for bad in [
            "<opml version=\"2.0\"><body>",
            "not xml at all",
            "<html></html>",
        ] {
            let err = import(bad.as_bytes(), "subs.opml").unwrap_err().to_string();
            assert!(
                err.starts_with("subs.opml: not a readable OPML file"),
                "{err}"
            );
        }
        let rdf = "<?xml version=\"1.0\"?>\n<!-- <opml> --><!DOCTYPE x><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" />";
        let err = import(rdf.as_bytes(), "subs.opml").unwrap_err().to_string();
        assert!(
            err.ends_with("its root element is <rdf:RDF>, not <opml>"),
            "{err}"
        );
    }

    #[test]
    fn stray_ampersands_and_html_entities_are_repaired() {
        let xml = r#"<opml version="1.0"><body><outline text="Biblioth&egrave;que &amp; archives & more" xmlUrl="https://b.fr/rss?a=1&b=2"/></body></opml>"#;
        let imported = import(xml.as_bytes(), "x.opml").unwrap();
        let feed = imported.feeds().next().unwrap();
        assert_eq!(feed.name.as_deref(), Some("Bibliothèque & archives & more"));
        assert_eq!(feed.url, "https://b.fr/rss?a=1&b=2");
    }

    #[test]
    fn a_latin1_file_is_decoded_by_its_declaration() {
        let mut bytes = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><opml version=\"1.0\"><body><outline text=\"Biblioth\xe8que\" xmlUrl=\"https://b.fr/rss\"/></body></opml>".to_vec();
        bytes.push(b'\n');
        let imported = import(&bytes, "latin1.opml").unwrap();
        let feed = imported.feeds().next().unwrap();
        assert_eq!(feed.name.as_deref(), Some("Bibliothèque"));
        assert_eq!(feed.id, "bibliotheque");
    }

    fn settings() -> Settings {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            r#"[server]
title = "Wire & co"
public_url = "https://news.example.org/wire/"
[[sources]]
id = "ifla-news"
name = "IFLA News"
url = "https://www.ifla.org/news/feed/"
[[sources]]
id = "nlc-en"
url = "https://www.nlc.cn/enweb/"
kind = "page"
[sources.page]
item = "li"
"#,
        )
        .unwrap();
        Settings::load_with_env(&path, Some(Default::default())).unwrap()
    }

    #[test]
    fn the_export_lists_feeds_and_the_feed_made_of_each_page() {
        let now = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let xml = render_at(&settings(), now);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("version"), Some("2.0"));
        let text = |tag: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name(tag))
                .and_then(|n| n.text())
                .map(str::to_owned)
        };
        assert_eq!(text("title").as_deref(), Some("Wire & co: sources"));
        assert_eq!(
            text("dateCreated").as_deref(),
            Some("Tue, 24 Nov 2026 10:00:00 +0000")
        );
        let outlines: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("outline"))
            .collect();
        assert_eq!(outlines.len(), 2);
        assert_eq!(outlines[0].attribute("text"), Some("IFLA News"));
        assert_eq!(outlines[0].attribute("type"), Some("rss"));
        assert_eq!(
            outlines[0].attribute("xmlUrl"),
            Some("https://www.ifla.org/news/feed/")
        );
        assert_eq!(outlines[0].attribute("htmlUrl"), None);
        assert_eq!(outlines[1].attribute("text"), Some("nlc-en"));
        assert_eq!(
            outlines[1].attribute("xmlUrl"),
            Some("https://news.example.org/wire/sources/nlc-en/feed.xml")
        );
        assert_eq!(
            outlines[1].attribute("htmlUrl"),
            Some("https://www.nlc.cn/enweb/")
        );
    }
}
