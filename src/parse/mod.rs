//! Parse: bytes of a feed to feed-rs's model. No I/O.
//!
//! feed-rs reads RSS 0.91/0.92/1.0/2.0, Atom and JSON Feed. Before it sees a
//! body, this module decodes it to UTF-8 ([`encoding`]: override, byte order
//! mark, HTTP charset, XML declaration, default) and repairs what broken
//! feeds get wrong where the intent is plain ([`repair`]: stray `&`, HTML
//! entities, forbidden characters). It reads dates with its own lenient
//! parser ([`date`]), in the source's time zone when the date names none.
//! Failures become a [`ParseError`] an admin can act on: an empty body, an
//! HTML page (naming the feed the page advertises, if any), or a body no feed
//! format accepts.

mod contacts;
pub(crate) mod date;
mod declarations;
pub(crate) mod encoding;
pub(crate) mod repair;

use feed_rs::model::Feed;
use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use scraper::{Html, Selector};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;
use url::Url;

/// Why a body is not a usable feed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is empty or only white space.
    #[error("the body is empty")]
    Empty,
    /// The body is an HTML page, not a feed.
    #[error("the body is an HTML page, not a feed{}", match .alternate { Some(u) => format!("; the page advertises a feed at {u}"), None => String::new() })]
    Html {
        /// A feed the page advertises with `<link rel="alternate">`, if any.
        alternate: Option<String>,
    },
    /// The body is XML or JSON that no feed format accepts.
    #[error("not a valid RSS, Atom or JSON feed: {0}")]
    Malformed(String),
}

/// What [`parse`] needs to know about a body besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions<'a> {
    /// Where the body was fetched from (after redirects): the base of
    /// relative links.
    pub base_url: &'a Url,
    /// The HTTP `Content-Type`, whose `charset` names the body's encoding
    /// when no byte order mark does.
    pub content_type: Option<&'a str>,
    /// The source's `encoding` setting, which wins over whatever the body
    /// and the server say.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// The source's `timezone` setting: the zone of dates that name none.
    /// UTC when None.
    pub timezone: Option<chrono_tz::Tz>,
}

impl<'a> ParseOptions<'a> {
    /// Options for a body from `base_url`, with no content type and no
    /// per-source settings.
    pub fn new(base_url: &'a Url) -> ParseOptions<'a> {
        ParseOptions {
            base_url,
            content_type: None,
            encoding: None,
            timezone: None,
        }
    }
}

/// Parses `body` as RSS 0.9x/1.0/2.0, Atom or JSON Feed.
///
/// Relative links resolve against `xml:base`, then `options.base_url`.
/// Entries that carry no id of their own get an empty `id`:
/// [`crate::normalize`] decides what identifies them, so that choice is
/// stable and ours. Older spellings of the formats (an `<rss>` without a
/// known version, RSS 0.90, Atom 0.3) are read as their successors. A date
/// that cannot be read is left out (normalize then uses the first-seen time).
pub fn parse(body: &[u8], options: &ParseOptions<'_>) -> Result<Feed, ParseError> {
    if body.starts_with(GZIP_MAGIC) {
        return Err(ParseError::Malformed(
            "the body is gzip-compressed and was not decompressed".into(),
        ));
    }
    let decoded = encoding::decode(body, options.content_type, options.encoding);
    let text = skip_leading_noise(&decoded.text);
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    let base_url = options.base_url;
    if Prolog::read(text.as_bytes()).is_html(text.as_bytes()) {
        return Err(html_error(text.as_bytes(), base_url));
    }
    // Repair is one memchr pass that copies nothing from a well-formed body
    // (about 1 ms for the corpus's 11 MB RSS, whose whole parse takes 26 ms
    // in a release build). It runs before the first parse, not after a
    // failure: HTML entities and
    // forbidden characters do not make feed-rs fail, they make it return
    // "Caf&eacute;" and control characters, so waiting for an error would
    // leave them in the items.
    let text = if text.starts_with('<') {
        repair::repair(text)
    } else {
        Cow::Borrowed(text)
    };
    let body = text.as_bytes();
    let prolog = Prolog::read(body);

    let timezone = options.timezone;
    let parser = feed_rs::parser::Builder::new()
        // feed-rs resolves every link it reads against the xml:base in scope,
        // and this is the outermost one.
        .base_uri(Some(base_url.as_str()))
        // feed-rs's default invents a random UUID for an entry without an id,
        // a new one on every parse, which would make the item look new on
        // every poll. An empty id tells normalize to pick a stable key.
        .id_generator(|_, _, _| String::new())
        // normalize sanitizes with its own, stricter ammonia settings, and
        // needs the raw text to tell plain text from HTML.
        .sanitize_content(false)
        .timestamp_parser(move |text| date::parse_date(text, timezone))
        .build();

    let modernized = prolog.modernized(body);
    // Around two panics in feed-rs and quick-xml that fuzzing found.
    let declared = declarations::tame(modernized.as_deref().unwrap_or(body));
    let tamed = contacts::tame(&declared);
    let err = match parser.parse(&*tamed) {
        Ok(feed) => return Ok(feed),
        Err(err) => err,
    };
    // A page whose prolog we could not read (a PHP warning before `<html>`,
    // say) is still a page, and saying so helps more than quick-xml's
    // complaint about its first unclosed tag.
    if mentions_html_root(body) {
        return Err(html_error(body, base_url));
    }
    let mut reason = describe(&err, body, &prolog);
    if decoded.encoding != encoding_rs::UTF_8 {
        // A wrong guess or a wrong declaration shows here first; the admin
        // can then set the source's `encoding`.
        reason.push_str(&format!(
            " (the body was read as {}, {})",
            decoded.encoding.name(),
            decoded.source.reason()
        ));
    }
    Err(ParseError::Malformed(reason))
}

/// Skips what may come before the first `<` or `{` without being an error:
/// white space, and a byte order mark left over from a body that had two.
fn skip_leading_noise(text: &str) -> &str {
    text.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\u{FEFF}')
}

/// What comes before the first element of an XML or HTML document, read
/// byte-wise from the decoded text: markup is ASCII.
struct Prolog {
    /// The prolog has `<!DOCTYPE html…>`.
    html_doctype: bool,
    /// Where the first start tag is, `<` to just after `>` (or to the end of a
    /// body that never closes it). None when the body starts with anything
    /// else, such as JSON or text.
    root: Option<Range<usize>>,
}

impl Prolog {
    /// Reads past processing instructions, comments and the doctype to the
    /// first start tag.
    fn read(body: &[u8]) -> Prolog {
        let mut at = 0;
        let mut html_doctype = false;
        loop {
            let rest = body[at..].trim_ascii_start();
            at = body.len() - rest.len();
            let skip = if rest.starts_with(b"<?") {
                end_of(rest, b"?>")
            } else if rest.starts_with(b"<!--") {
                end_of(rest, b"-->")
            } else if rest.starts_with(b"<!") {
                html_doctype |= is_html_doctype(rest);
                // A doctype may carry an internal subset in brackets, which
                // can hold `>` of its own.
                let close = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
                if rest[..close].contains(&b'[') {
                    end_of(rest, b"]>")
                } else {
                    (close + 1).min(rest.len())
                }
            } else if rest.starts_with(b"<") {
                let len = end_of(rest, b">");
                return Prolog {
                    html_doctype,
                    root: Some(at..at + len),
                };
            } else {
                return Prolog {
                    html_doctype,
                    root: None,
                };
            };
            at += skip;
        }
    }

    /// The root element's start tag, cut short for quoting in a message.
    fn root_tag<'b>(&self, body: &'b [u8]) -> Option<&'b [u8]> {
        let root = self.root.clone()?;
        let end = root.end.min(root.start + MAX_TAG_SHOWN);
        Some(&body[root.start..end])
    }

    /// The root element's name, as written (with any prefix).
    fn root_name<'b>(&self, body: &'b [u8]) -> Option<&'b [u8]> {
        let root = self.root.clone()?;
        let tag = &body[root.start + 1..root.end];
        let len = tag
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/')
            .unwrap_or(tag.len());
        Some(&tag[..len])
    }

    /// True when the prolog or the root element says HTML. No feed format has
    /// an `html`, `head` or `body` root.
    fn is_html(&self, body: &[u8]) -> bool {
        self.html_doctype
            || self.root_name(body).is_some_and(|name| {
                [&b"html"[..], b"head", b"body"]
                    .iter()
                    .any(|html| name.eq_ignore_ascii_case(html))
            })
    }

    /// `body` with its root tag rewritten into what feed-rs reads, or None
    /// when it already is. This only renames; it adds no content.
    ///
    /// - feed-rs only takes `<rss>` with version 0.91, 0.92 or 2.0. Feeds in
    ///   the wild also say 0.93, 0.94 or 2.00, or leave the version out; they
    ///   are RSS 2.0 in all but name, so they are read as that.
    /// - feed-rs matches elements by namespace, and skips every element of a
    ///   namespace it does not know: a feed in one of [`LEGACY_NAMESPACES`]
    ///   would parse, but with no entries.
    fn modernized(&self, body: &[u8]) -> Option<Vec<u8>> {
        let root = self.root.clone()?;
        let tag = &body[root.clone()];
        let mut new_tag = tag.to_vec();
        for (old, new) in LEGACY_NAMESPACES {
            new_tag = replace_namespace(&new_tag, old.as_bytes(), new.as_bytes());
        }
        if self.root_name(body)? == b"rss" {
            match attribute_value(&new_tag, b"version") {
                Some(value) if SUPPORTED_RSS_VERSIONS.contains(&&new_tag[value.clone()]) => {}
                Some(value) => {
                    new_tag.splice(value, b"2.0".iter().copied());
                }
                None => {
                    let after_name = b"<rss".len();
                    new_tag.splice(after_name..after_name, b" version=\"2.0\"".iter().copied());
                }
            }
        }
        if new_tag == tag {
            return None;
        }
        let mut modernized = Vec::with_capacity(body.len() + new_tag.len());
        modernized.extend_from_slice(&body[..root.start]);
        modernized.extend_from_slice(&new_tag);
        modernized.extend_from_slice(&body[root.end..]);
        Some(modernized)
    }
}

/// The `<rss version>`s feed-rs reads.
const SUPPORTED_RSS_VERSIONS: [&[u8]; 3] = [b"0.91", b"0.92", b"2.0"];

/// Namespaces of older spellings of the formats, with the namespace feed-rs
/// knows them by.
const LEGACY_NAMESPACES: [(&str, &str); 4] = [
    // RSS 0.90, the RDF format RSS 1.0 grew from.
    (
        "http://my.netscape.com/rdf/simple/0.9/",
        "http://purl.org/rss/1.0/",
    ),
    (
        "http://channel.netscape.com/rdf/simple/0.9/",
        "http://purl.org/rss/1.0/",
    ),
    // RSS 2.0 in the namespace UserLand once proposed for it.
    (
        "http://backend.userland.com/rss2",
        "http://purl.org/rss/1.0/",
    ),
    // Atom 0.3. Its entries are read as Atom 1.0 entries; its dates
    // (`issued`, `modified`) have other names and are not read.
    ("http://purl.org/atom/ns#", "http://www.w3.org/2005/Atom"),
];

/// `tag` with every quoted attribute value `old` made `new`.
fn replace_namespace(tag: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tag.len());
    let mut rest = tag;
    while let Some(at) = find(rest, old) {
        let quoted = at > 0
            && matches!(rest[at - 1], b'"' | b'\'')
            && rest.get(at + old.len()) == Some(&rest[at - 1]);
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(if quoted { new } else { old });
        rest = &rest[at + old.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Where the value of attribute `name` sits inside start tag `tag` (quotes
/// excluded).
fn attribute_value(tag: &[u8], name: &[u8]) -> Option<Range<usize>> {
    let mut from = 0;
    while let Some(found) = find(&tag[from..], name) {
        let start = from + found;
        from = start + name.len();
        if !tag[..start].last().is_some_and(u8::is_ascii_whitespace) {
            continue;
        }
        let rest = tag[from..].trim_ascii_start();
        let Some(rest) = rest.strip_prefix(b"=") else {
            continue;
        };
        let rest = rest.trim_ascii_start();
        let quote = *rest.first()?;
        if quote != b'"' && quote != b'\'' {
            continue;
        }
        let value_start = tag.len() - rest.len() + 1;
        let value_len = tag[value_start..].iter().position(|&b| b == quote)?;
        return Some(value_start..value_start + value_len);
    }
    None
}

/// The longest start tag an error message quotes.
const MAX_TAG_SHOWN: usize = 160;

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// How many bytes of `haystack` run up to and including the first `marker`:
/// all of them when there is none.
fn end_of(haystack: &[u8], marker: &[u8]) -> usize {
    find(haystack, marker).map_or(haystack.len(), |i| i + marker.len())
}

/// `<!DOCTYPE html` followed by white space or `>`, in any case.
fn is_html_doctype(decl: &[u8]) -> bool {
    let Some(rest) = decl.get(2..) else {
        return false;
    };
    let Some(rest) = rest
        .get(..7)
        .filter(|kw| kw.eq_ignore_ascii_case(b"doctype"))
        .map(|_| rest[7..].trim_ascii_start())
    else {
        return false;
    };
    rest.get(..4)
        .is_some_and(|name| name.eq_ignore_ascii_case(b"html"))
        && rest
            .get(4)
            .is_none_or(|&b| b.is_ascii_whitespace() || b == b'>')
}

/// True when `<html` appears near the start: a page with junk before its root.
fn mentions_html_root(body: &[u8]) -> bool {
    let head = &body[..body.len().min(2048)];
    head.windows(5).any(|w| w.eq_ignore_ascii_case(b"<html"))
}

/// The error for an HTML page, with the feed it advertises if any.
fn html_error(body: &[u8], base_url: &Url) -> ParseError {
    ParseError::Html {
        alternate: advertised_feed(body, base_url).map(String::from),
    }
}

/// Feed media types that autodiscovery `<link>`s use.
const FEED_MEDIA_TYPES: [&str; 4] = [
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
];

static LINK_SELECTOR: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("link[rel][href]").expect("a valid CSS selector"));
static BASE_SELECTOR: LazyLock<Selector> =
    LazyLock::new(|| Selector::parse("base[href]").expect("a valid CSS selector"));

/// The absolute URL of the first feed an HTML page advertises with
/// `<link rel="alternate" type="application/rss+xml|atom+xml|feed+json|json">`.
///
/// The page is read as UTF-8 with lossy replacement: the attributes that
/// matter are URLs, which are ASCII or percent-encoded in practice.
fn advertised_feed(body: &[u8], base_url: &Url) -> Option<Url> {
    let page = Html::parse_document(&String::from_utf8_lossy(body));
    // A page's own <base href> changes what its relative links mean.
    let base = page
        .select(&BASE_SELECTOR)
        .next()
        .and_then(|b| b.attr("href"))
        .and_then(|href| base_url.join(href.trim()).ok())
        .unwrap_or_else(|| base_url.clone());
    page.select(&LINK_SELECTOR)
        .filter(|link| {
            let rel = link.attr("rel").unwrap_or_default();
            let is_alternate = rel
                .split_ascii_whitespace()
                .any(|token| token.eq_ignore_ascii_case("alternate"));
            let media_type = link
                .attr("type")
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim();
            is_alternate
                && FEED_MEDIA_TYPES
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(media_type))
        })
        .find_map(|link| base.join(link.attr("href")?.trim()).ok())
}

/// The gzip format's magic number: a body a fetcher forgot to decompress.
const GZIP_MAGIC: &[u8] = b"\x1f\x8b";

/// feed-rs's reason, with what the document starts with when feed-rs found no
/// feed root (its own message, "no root element", does not say what it saw).
fn describe(err: &ParseFeedError, body: &[u8], prolog: &Prolog) -> String {
    if !matches!(err, ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot)) {
        return err.to_string();
    }
    let Some(tag) = prolog.root_tag(body) else {
        return format!("{err}: the body is neither XML nor JSON");
    };
    let tag = String::from_utf8_lossy(tag);
    let name = prolog.root_name(body).unwrap_or_default();
    let known_root = [&b"rss"[..], b"feed", b"entry", b"rdf:RDF", b"RDF"].contains(&name);
    if known_root {
        format!("{err}: feed-rs could not read a feed in the root element `{tag}`")
    } else {
        format!(
            "{err}: the document starts with `{tag}`, but a feed is an RSS 0.9x or 2.0 \
             `<rss>`, an RSS 1.0 `<rdf:RDF>` or an Atom `<feed>`"
        )
    }
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
