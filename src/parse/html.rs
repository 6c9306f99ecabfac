//! HTML detection: a page where a feed was expected, told by its prolog or
//! its root element, and the error that names the feed it advertises.

use super::ParseError;
use super::discovery::advertised_feeds;
use super::prolog::Prolog;
use url::Url;

/// True when the prolog or the root element says HTML. No feed format has
/// an `html`, `head` or `body` root.
pub(super) fn is_html(prolog: &Prolog, body: &[u8]) -> bool {
    prolog.html_doctype
        || prolog.root_name(body).is_some_and(|name| {
            [&b"html"[..], b"head", b"body"]
                .iter()
                .any(|html| name.eq_ignore_ascii_case(html))
        })
}

/// True when `<html` appears near the start: a page with junk before its root.
pub(super) fn mentions_html_root(body: &[u8]) -> bool {
    let head = &body[..body.len().min(2048)];
    head.windows(5).any(|w| w.eq_ignore_ascii_case(b"<html"))
}

/// The error for an HTML page, with the feed it advertises if any.
pub(super) fn html_error(body: &[u8], base_url: &Url) -> ParseError {
    ParseError::Html {
        // The page is read as UTF-8 with lossy replacement: the attributes
        // that matter are URLs, which are ASCII or percent-encoded in practice.
        alternate: advertised_feeds(&String::from_utf8_lossy(body), base_url)
            .into_iter()
            .next()
            .map(|feed| feed.url.into()),
    }
}
