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

/// What a page advertises: the feeds whose URLs could be resolved, and the
/// relative ones that could not (a page saved to a file that says nowhere
/// where it lives on the web).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advertised {
    /// The feeds, with absolute URLs, in page order.
    pub feeds: Vec<AdvertisedFeed>,
    /// The `href`s of feeds that could not be resolved, as the page gives them.
    pub unresolved: Vec<String>,
}

/// Every feed `html` advertises, resolved against `base` (or the page's
/// `<base href>`), each once, in page order. See [`discover_feeds`].
pub fn advertised_feeds(html: &str, base: &Url) -> Vec<AdvertisedFeed> {
    discover_feeds(html, base).feeds
}

/// Every feed `html` advertises, each once, in page order: resolved against
/// [`feed_base`], or left unresolved when that is unknown.
///
/// A link counts when one of its `rel` tokens is `alternate` (in any case,
/// beside others such as `home`) and its `type`, parameters aside, is one of
/// [`FEED_MEDIA_TYPES`]. WordPress advertises its REST API (`/wp-json/…`) as
/// `application/json` alternates of every page; those are not feeds.
pub fn discover_feeds(html: &str, base: &Url) -> Advertised {
    static ALTERNATE: LazyLock<Selector> =
        LazyLock::new(|| Selector::parse("link[rel][href][type]").expect("static selector"));
    let document = Html::parse_document(html);
    let base = feed_base(&document, base);
    let mut found = Advertised::default();
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
        let href = link.attr("href").unwrap_or_default().trim();
        let url = match (Url::parse(href), &base) {
            (Ok(absolute), _) => absolute,
            (Err(_), Some(base)) => match base.join(href) {
                Ok(url) => url,
                Err(_) => continue,
            },
            (Err(_), None) => {
                if !href.is_empty() && !found.unresolved.iter().any(|h| h == href) {
                    found.unresolved.push(href.to_owned());
                }
                continue;
            }
        };
        let wordpress_api = media_type == "application/json" && url.path().contains("/wp-json/");
        if wordpress_api || found.feeds.iter().any(|f| f.url == url) {
            continue;
        }
        found.feeds.push(AdvertisedFeed {
            url,
            media_type,
            title: link
                .attr("title")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        });
    }
    found
}

/// What an advertised feed's relative URL means: the page's `<base href>`;
/// for a page read from a file, else its web address as its
/// `<link rel="canonical">` or `og:url` gives it (a saved page's
/// `/feed` is on its site, not at `file:///feed`), else unknown (None);
/// for a page fetched over http(s), where it came from.
pub fn feed_base(document: &Html, fetched_from: &Url) -> Option<Url> {
    static BASE: LazyLock<Selector> =
        LazyLock::new(|| Selector::parse("base[href]").expect("static selector"));
    static CANONICAL: LazyLock<Selector> =
        LazyLock::new(|| Selector::parse("link[rel][href]").expect("static selector"));
    static OG_URL: LazyLock<Selector> = LazyLock::new(|| {
        Selector::parse(r#"meta[property="og:url"][content]"#).expect("static selector")
    });
    let web = |u: &Url| matches!(u.scheme(), "http" | "https");
    let given_base = document
        .select(&BASE)
        .next()
        .and_then(|b| b.attr("href"))
        .and_then(|href| fetched_from.join(href.trim()).ok());
    if fetched_from.scheme() != "file" {
        return Some(given_base.unwrap_or_else(|| fetched_from.clone()));
    }
    let canonical = || {
        document
            .select(&CANONICAL)
            .find(|l| {
                l.attr("rel").is_some_and(|rel| {
                    rel.split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("canonical"))
                })
            })
            .and_then(|l| Url::parse(l.attr("href")?.trim()).ok())
    };
    let og_url = || {
        document
            .select(&OG_URL)
            .next()
            .and_then(|m| Url::parse(m.attr("content")?.trim()).ok())
    };
    given_base
        .filter(web)
        .or_else(|| canonical().filter(web))
        .or_else(|| og_url().filter(web))
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
