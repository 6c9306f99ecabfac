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
mod html;
mod prolog;
pub(crate) mod repair;

pub use discovery::{AdvertisedFeed, advertised_feeds, document_base};

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
    if html::is_html(&Prolog::read(text.as_bytes()), text.as_bytes()) {
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
