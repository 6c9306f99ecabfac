//! Feed autodiscovery: the feeds an HTML page advertises with
//! `<link rel="alternate" type="…">`. The parse error of a page names the
//! first; `librarywire discover` lists them all.

use scraper::{Html, Selector};
use std::sync::LazyLock;
use url::Url;

/// A feed a page advertises with `<link rel="alternate">`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedFeed {
    /// Absolute URL of the feed.
    pub url: Url,
    /// Its media type, lowercase, without parameters: `application/rss+xml`.
    pub media_type: String,
    /// Its `title`, when the page gives one.
    pub title: Option<String>,
}

/// The media types of the feeds librarywire reads, as pages advertise them:
/// RSS 2.0 and 0.9x, Atom, RSS 1.0 (RDF), JSON Feed 1.1 and 1.0
/// (`application/json`), and the generic XML types that older sites give
/// their RSS.
const FEED_MEDIA_TYPES: [&str; 7] = [
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/feed+json",
    "application/json",
    "application/xml",
    "text/xml",
];

/// Every feed `html` advertises, resolved against `base` (or the page's
/// `<base href>`), each once, in page order.
///
/// A link counts when one of its `rel` tokens is `alternate` (in any case,
/// beside others such as `home`) and its `type`, parameters aside, is one of
/// [`FEED_MEDIA_TYPES`]. WordPress advertises its REST API (`/wp-json/…`) as
/// `application/json` alternates of every page; those are not feeds.
pub fn advertised_feeds(html: &str, base: &Url) -> Vec<AdvertisedFeed> {
    static ALTERNATE: LazyLock<Selector> =
        LazyLock::new(|| Selector::parse("link[rel][href][type]").expect("static selector"));
    let document = Html::parse_document(html);
    let base = document_base(&document, base);
    let mut feeds: Vec<AdvertisedFeed> = Vec::new();
    for link in document.select(&ALTERNATE) {
        let is_alternate = link.attr("rel").is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("alternate"))
        });
        let media_type = link
            .attr("type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !is_alternate || !FEED_MEDIA_TYPES.contains(&media_type.as_str()) {
            continue;
        }
        let Some(url) = link.attr("href").and_then(|h| base.join(h.trim()).ok()) else {
            continue;
        };
        let wordpress_api = media_type == "application/json" && url.path().contains("/wp-json/");
        if wordpress_api || feeds.iter().any(|f| f.url == url) {
            continue;
        }
        feeds.push(AdvertisedFeed {
            url,
            media_type,
            title: link
                .attr("title")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        });
    }
    feeds
}

/// The page's `<base href>` resolved against where it came from, else that:
/// what the page's relative URLs mean.
pub fn document_base(document: &Html, fetched_from: &Url) -> Url {
    static BASE: LazyLock<Selector> =
        LazyLock::new(|| Selector::parse("base[href]").expect("static selector"));
    document
        .select(&BASE)
        .next()
        .and_then(|b| b.attr("href"))
        .and_then(|href| fetched_from.join(href.trim()).ok())
        .unwrap_or_else(|| fetched_from.clone())
}
