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
//!
//! This file is the dispatch; the rest by concern: [`prolog`] (what comes
//! before the root element, and older spellings renamed for feed-rs),
//! [`html`] (a page where a feed was expected), [`discovery`] (the feeds a
//! page advertises, also for `librarywire discover`).

mod contacts;
pub(crate) mod date;
mod declarations;
mod discovery;
pub(crate) mod encoding;
mod fixes;
mod html;
mod lenient;
mod prolog;
pub(crate) mod repair;

pub use discovery::{
    Advertised, AdvertisedFeed, advertised_feeds, discover_feeds, document_base, feed_base,
};

use feed_rs::model::Feed;
use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use prolog::Prolog;
use std::borrow::Cow;
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

/// A feed read from a body, and how.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The feed.
    pub feed: Feed,
    /// Set when feed-rs refused the body and the lenient reader recovered
    /// its entries: a success with a warning.
    pub recovered: Option<Recovered>,
    /// What relative links in the feed mean: the body's URL, or for a feed
    /// read from `file://`, the channel's own `<link>` when it has one.
    pub base: Url,
}

/// What the lenient reader saved from a feed feed-rs refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The entries recovered.
    pub entries: usize,
    /// Why feed-rs refused it: the first well-formedness error, with where.
    pub reason: String,
}

impl Recovered {
    /// The one-line warning `/status` shows for the source.
    pub fn warning(&self) -> String {
        format!(
            "{RECOVERED_PREFIX} {} entries from a malformed feed: {}",
            self.entries, self.reason
        )
    }
}

/// How every warning about a recovered feed begins.
pub const RECOVERED_PREFIX: &str = "recovered";

/// Parses `body` as RSS 0.9x/1.0/2.0, Atom or JSON Feed; [`parse_feed`]
/// without saying how.
pub fn parse(body: &[u8], options: &ParseOptions<'_>) -> Result<Feed, ParseError> {
    parse_feed(body, options).map(|parsed| parsed.feed)
}

/// Parses `body` as RSS 0.9x/1.0/2.0, Atom or JSON Feed.
///
/// feed-rs reads it first. When it refuses the body, the known shapes that
/// make it refuse are fixed ([`fixes`]) and it reads again; when that fails
/// too, the lenient reader ([`lenient`]) recovers every entry it can, and
/// the feed comes back with [`Parsed::recovered`] set. A feed feed-rs reads
/// is completed from the lenient reader's pass over the same text (the
/// dates, titles, authors and links feed-rs's model drops).
///
/// Relative links resolve against `xml:base`, then `options.base_url`.
/// Entries that carry no id of their own get an empty `id`:
/// [`crate::normalize`] decides what identifies them, so that choice is
/// stable and ours. Older spellings of the formats (an `<rss>` without a
/// known version, RSS 0.90, Atom 0.3) are read as their successors. A date
/// that cannot be read is left out (normalize then uses the first-seen time).
pub fn parse_feed(body: &[u8], options: &ParseOptions<'_>) -> Result<Parsed, ParseError> {
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
    if html::is_html(&Prolog::read(text.as_bytes()), text.as_bytes()) {
        // A feed wrapped in an HTML page (a CMS template around it) is
        // still its feed.
        if let Some(parsed) = wrapped_feed(text, options) {
            return Ok(parsed);
        }
        return Err(html::html_error(text.as_bytes(), base_url));
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
    let modernized = prolog.modernized(body);
    // Around two panics in feed-rs and quick-xml that fuzzing found.
    let declared = declarations::tame(modernized.as_deref().unwrap_or(body));
    let tamed = contacts::tame(&declared);
    let tamed_text = String::from_utf8_lossy(&tamed);
    let strict = |text: &[u8], base: &Url| reader(base, timezone).parse(text);
    let complete = |mut feed: Feed, text: &str, base: Url| {
        if text.starts_with('<') {
            lenient::read(text, timezone).supplement(&mut feed);
        }
        Parsed {
            feed,
            recovered: None,
            base,
        }
    };
    let err = match strict(&tamed, base_url) {
        Ok(feed) => {
            return Ok(match channel_base(&feed, base_url) {
                Some(base) => match strict(&tamed, &base) {
                    Ok(feed) => complete(feed, &tamed_text, base),
                    Err(_) => complete(feed, &tamed_text, base_url.clone()),
                },
                None => complete(feed, &tamed_text, base_url.clone()),
            });
        }
        Err(err) => err,
    };
    if let Some(fixed) = fixes::apply(&tamed_text)
        && let Ok(feed) = strict(fixed.as_bytes(), base_url)
    {
        return Ok(match channel_base(&feed, base_url) {
            Some(base) => match strict(fixed.as_bytes(), &base) {
                Ok(feed) => complete(feed, &fixed, base),
                Err(_) => complete(feed, &fixed, base_url.clone()),
            },
            None => complete(feed, &fixed, base_url.clone()),
        });
    }
    if tamed_text.starts_with('<') {
        let read = lenient::read(&tamed_text, timezone);
        if let Some(feed_type) = read.feed_type.clone()
            && !read.entries.is_empty()
        {
            let reason = read.error.clone().unwrap_or_else(|| err.to_string());
            let feed = read.into_feed(empty_feed(&feed_type));
            let base = channel_base(&feed, base_url).unwrap_or_else(|| base_url.clone());
            return Ok(Parsed {
                recovered: Some(Recovered {
                    entries: feed.entries.len(),
                    reason,
                }),
                feed,
                base,
            });
        }
    }
    // A page whose prolog we could not read (a PHP warning before `<html>`,
    // say) is still a page, and saying so helps more than quick-xml's
    // complaint about its first unclosed tag.
    if html::mentions_html_root(body) {
        return Err(html::html_error(body, base_url));
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

/// The feed inside an HTML page, recovered by the lenient reader, if the
/// page holds a feed's root element with entries.
fn wrapped_feed(text: &str, options: &ParseOptions<'_>) -> Option<Parsed> {
    let roots = ["<feed", "<rss", "<rdf:RDF"];
    if !roots.iter().any(|r| text.contains(r)) {
        return None;
    }
    let repaired = repair::repair(text);
    let read = lenient::read(&repaired, options.timezone);
    let feed_type = read.feed_type.clone()?;
    if read.entries.is_empty() {
        return None;
    }
    let feed = read.into_feed(empty_feed(&feed_type));
    let base = channel_base(&feed, options.base_url).unwrap_or_else(|| options.base_url.clone());
    Some(Parsed {
        recovered: Some(Recovered {
            entries: feed.entries.len(),
            reason: "the feed is wrapped in an HTML page".into(),
        }),
        feed,
        base,
    })
}

/// feed-rs as librarywire runs it, relative links resolved against `base`.
fn reader(base: &Url, timezone: Option<chrono_tz::Tz>) -> feed_rs::parser::Parser {
    feed_rs::parser::Builder::new()
        // feed-rs resolves every link it reads against the xml:base in scope,
        // and this is the outermost one.
        .base_uri(Some(base.as_str()))
        // feed-rs's default invents a random UUID for an entry without an id,
        // a new one on every parse, which would make the item look new on
        // every poll. An empty id tells normalize to pick a stable key.
        .id_generator(|_, _, _| String::new())
        // normalize sanitizes with its own, stricter ammonia settings, and
        // needs the raw text to tell plain text from HTML.
        .sanitize_content(false)
        .timestamp_parser(move |text| date::parse_date(text, timezone))
        .build()
}

/// For a feed read from `file://`: the channel's own http(s) `<link>`, the
/// base its relative links were written against. None for any other feed.
fn channel_base(feed: &Feed, base_url: &Url) -> Option<Url> {
    if base_url.scheme() != "file" {
        return None;
    }
    feed.links
        .iter()
        .filter(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
        .filter_map(|l| Url::parse(l.href.trim()).ok())
        .find(|u| matches!(u.scheme(), "http" | "https"))
}

/// A feed of `feed_type` with nothing in it, for the lenient reader to fill.
fn empty_feed(feed_type: &feed_rs::model::FeedType) -> Feed {
    use feed_rs::model::FeedType;
    let skeleton: &[u8] = match feed_type {
        FeedType::Atom => br#"<feed xmlns="http://www.w3.org/2005/Atom"></feed>"#,
        FeedType::RSS0 => br#"<rss version="0.91"><channel></channel></rss>"#,
        FeedType::RSS1 => br#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel></channel></rdf:RDF>"#,
        FeedType::RSS2 | FeedType::JSON => br#"<rss version="2.0"><channel></channel></rss>"#,
    };
    let mut feed = feed_rs::parser::parse(skeleton).expect("a valid empty feed");
    feed.id = String::new();
    feed
}

/// Skips what may come before the first `<` or `{` without being an error:
/// white space, and a byte order mark left over from a body that had two.
fn skip_leading_noise(text: &str) -> &str {
    text.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\u{FEFF}')
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
