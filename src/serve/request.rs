//! A feed request: which format, which items, how many. Parsed from the
//! path and the query string, refused with a message naming the parameter,
//! and written back in one canonical form that keys the render cache.

use super::render::FeedFormat;
use crate::store::{Cursor, ItemFilter};
use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::Write as _;

/// The most items one feed request may ask for with `?limit=`, unless
/// `server.feed_size` is larger: then that is the cap.
pub const MAX_LIMIT: usize = 1000;

/// The most source ids one `?source=` may name.
pub const MAX_SOURCES: usize = 100;

/// The most words one `?q=` may hold.
pub const MAX_WORDS: usize = 16;

/// The parameters a feed endpoint knows.
const KNOWN: &str = "source, category, q, limit, duplicates";

/// A feed request, canonical: sources sorted and unique, words folded,
/// sorted and unique, category folded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedRequest {
    /// The format asked for.
    pub format: FeedFormat,
    /// The source of a `/sources/{id}/…` path.
    pub path_source: Option<String>,
    /// The filters; a path source is in `filter.sources` too.
    pub filter: ItemFilter,
    /// How many items at most.
    pub limit: usize,
    /// Whether the limit is the default (`server.feed_size`).
    default_limit: bool,
}

/// A request parameter that cannot be used; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadParameter(pub String);

impl FeedRequest {
    /// Parses the request for `format`, on the per-source path of
    /// `path_source` if any, with the raw (still percent-encoded) query
    /// string. `feed_size` is the default limit.
    pub fn parse(
        format: FeedFormat,
        path_source: Option<&str>,
        query: Option<&str>,
        feed_size: usize,
    ) -> Result<FeedRequest, BadParameter> {
        FeedRequest::parse_with(format, path_source, query, feed_size, false)
    }

    /// Parses the query of an HTML page (`/`, `/sources/{id}`): the feed's
    /// parameters, read exactly as a feed reads them, and `?before=`, the
    /// keyset cursor of an older page ([`cursor_text`]). `format` is the
    /// feed the page offers as its alternate.
    pub fn parse_page(
        format: FeedFormat,
        path_source: Option<&str>,
        query: Option<&str>,
        feed_size: usize,
    ) -> Result<FeedRequest, BadParameter> {
        FeedRequest::parse_with(format, path_source, query, feed_size, true)
    }

    fn parse_with(
        format: FeedFormat,
        path_source: Option<&str>,
        query: Option<&str>,
        feed_size: usize,
        page: bool,
    ) -> Result<FeedRequest, BadParameter> {
        let bad = |message: String| Err(BadParameter(message));
        let mut sources: Vec<String> = path_source.iter().map(|s| (*s).to_owned()).collect();
        let mut category = None;
        let mut words = Vec::new();
        let mut limit = None;
        let mut all_duplicates = false;
        let mut before = None;
        let mut seen = Vec::new();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            // A page's form sends the fields left empty ("All sources", no
            // words): they mean no filter.
            if page && value.trim().is_empty() {
                continue;
            }
            if seen.contains(&key) {
                return bad(format!(
                    "parameter `{key}` is given twice; give it once (`source` takes a comma-separated list)"
                ));
            }
            seen.push(key.clone());
            match &*key {
                "source" => {
                    if path_source.is_some() {
                        return bad(
                            "parameter `source` is not allowed on a per-source feed; use /feed.xml?source=a,b to merge sources".to_owned(),
                        );
                    }
                    for id in value.split(',') {
                        if !is_source_id(id) {
                            return bad(format!(
                                "parameter `source`: {id:?} is not a source id (lowercase letters, digits and `-`)"
                            ));
                        }
                        sources.push(id.to_owned());
                    }
                    if sources.len() > MAX_SOURCES {
                        return bad(format!("parameter `source`: at most {MAX_SOURCES} sources"));
                    }
                }
                "category" => {
                    let value = value.trim();
                    if value.is_empty() {
                        return bad("parameter `category` is empty".to_owned());
                    }
                    category = Some(ItemFilter::fold(value));
                }
                "q" => {
                    words = value.split_whitespace().map(ItemFilter::fold).collect();
                    if words.is_empty() {
                        return bad("parameter `q` has no words".to_owned());
                    }
                    if words.len() > MAX_WORDS {
                        return bad(format!("parameter `q`: at most {MAX_WORDS} words"));
                    }
                }
                "limit" => match value.parse::<usize>() {
                    Ok(0) => return bad("parameter `limit` must be at least 1".to_owned()),
                    Ok(n) => limit = Some(n),
                    Err(_) => {
                        return bad(format!(
                            "parameter `limit`: {value:?} is not a whole number"
                        ));
                    }
                },
                "duplicates" => match &*value {
                    "all" => all_duplicates = true,
                    "once" => all_duplicates = false,
                    _ => {
                        return bad(format!(
                            "parameter `duplicates`: {value:?} is neither `all` (every item) nor `once` (each story once, the default)"
                        ));
                    }
                },
                "before" if page => match parse_cursor(&value) {
                    Some(cursor) => before = Some(cursor),
                    None => {
                        return bad(format!(
                            "parameter `before`: {value:?} is not a place in the news (follow an \"Older\" link for one)"
                        ));
                    }
                },
                other if page => {
                    return bad(format!(
                        "unknown parameter `{other}`; a page takes {KNOWN}, before"
                    ));
                }
                other => {
                    return bad(format!("unknown parameter `{other}`; a feed takes {KNOWN}"));
                }
            }
        }
        sources.sort();
        sources.dedup();
        words.sort();
        words.dedup();
        let cap = MAX_LIMIT.max(feed_size);
        let limit = limit.map_or(feed_size, |n| n.min(cap));
        Ok(FeedRequest {
            format,
            path_source: path_source.map(str::to_owned),
            filter: ItemFilter {
                sources,
                category,
                words,
                all_duplicates,
                before,
            },
            limit,
            default_limit: limit == feed_size,
        })
    }

    /// The unfiltered news page, `/`: the merged items, `limit` of them.
    pub fn home(limit: usize) -> FeedRequest {
        FeedRequest {
            format: FeedFormat::Rss,
            path_source: None,
            filter: ItemFilter::default(),
            limit,
            default_limit: true,
        }
    }

    /// Whether this is a plain merged feed: no path source, no filter, the
    /// default limit. Those are served from the one rendering per format.
    pub fn is_merged(&self) -> bool {
        self.path_source.is_none() && self.filter.is_empty() && self.default_limit
    }

    /// The request's path and query in canonical form, relative to
    /// `server.public_url`: `feed.atom?category=events&limit=20`. Two
    /// requests for the same items in the same format give the same string.
    pub fn canonical(&self) -> String {
        let mut path = match &self.path_source {
            Some(id) => format!("sources/{id}/{}", self.format.file_name()),
            None => self.format.file_name().to_owned(),
        };
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(category) = &self.filter.category {
            query.append_pair("category", category);
        }
        if self.filter.all_duplicates {
            query.append_pair("duplicates", "all");
        }
        if !self.default_limit {
            query.append_pair("limit", &self.limit.to_string());
        }
        if !self.filter.words.is_empty() {
            query.append_pair("q", &self.filter.words.join(" "));
        }
        if self.path_source.is_none() && !self.filter.sources.is_empty() {
            query.append_pair("source", &self.filter.sources.join(","));
        }
        if let Some(before) = &self.filter.before {
            query.append_pair("before", &cursor_text(before));
        }
        let query = query.finish();
        if !query.is_empty() {
            let _ = write!(path, "?{query}");
        }
        path
    }
}

/// A [`Cursor`] as `?before=` writes it: the item's date (RFC 3339, UTC, in
/// microseconds when it has them), a comma, its id.
pub fn cursor_text(cursor: &Cursor) -> String {
    format!(
        "{},{}",
        cursor
            .published
            .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        cursor.id
    )
}

/// Reads a cursor written by [`cursor_text`]; `None` for anything else.
fn parse_cursor(text: &str) -> Option<Cursor> {
    let (date, id) = text.split_once(',')?;
    let published = DateTime::parse_from_rfc3339(date).ok()?.with_timezone(&Utc);
    let hex = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| Cursor {
        published,
        id: id.to_owned(),
    })
}

/// The syntax of a source id, as the config checks it.
fn is_source_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<FeedRequest, BadParameter> {
        FeedRequest::parse(FeedFormat::Rss, None, Some(query), 100)
    }

    #[test]
    fn filters_are_read_and_written_back_in_one_canonical_form() {
        let a = parse("q=Reading+ROOM&source=b,a&category=%C3%89t%C3%A9&limit=20").unwrap();
        let b = parse("limit=20&category=%C3%A9T%C3%89&source=a,b,a&q=room%20reading").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.filter.sources, ["a", "b"]);
        assert_eq!(a.filter.words, ["reading", "room"]);
        assert_eq!(a.filter.category.as_deref(), Some("été"));
        assert_eq!(a.limit, 20);
        assert_eq!(
            a.canonical(),
            "feed.xml?category=%C3%A9t%C3%A9&limit=20&q=reading+room&source=a%2Cb"
        );
        assert!(!a.is_merged());
    }

    #[test]
    fn no_filter_and_the_default_limit_is_the_merged_feed() {
        for query in ["", "limit=100"] {
            let request = parse(query).unwrap();
            assert!(request.is_merged(), "{query}");
            assert_eq!(request.canonical(), "feed.xml");
        }
        let per_source =
            FeedRequest::parse(FeedFormat::Json, Some("ifla"), Some("limit=5"), 100).unwrap();
        assert!(!per_source.is_merged());
        assert_eq!(per_source.filter.sources, ["ifla"]);
        assert_eq!(per_source.canonical(), "sources/ifla/feed.json?limit=5");
    }

    #[test]
    fn duplicates_all_is_its_own_feed_and_once_the_default() {
        let all = parse("duplicates=all").unwrap();
        assert!(all.filter.all_duplicates);
        assert!(!all.is_merged(), "not the one merged rendering");
        assert_eq!(all.canonical(), "feed.xml?duplicates=all");
        let once = parse("duplicates=once").unwrap();
        assert!(once.is_merged());
        assert_eq!(once.canonical(), "feed.xml");
    }

    #[test]
    fn a_page_takes_a_cursor_that_a_feed_refuses() {
        let id = "0123456789abcdef0123456789abcdef";
        let query = format!("before=2021-08-19T08%3A00%3A00.000250Z%2C{id}&q=open");
        let page = FeedRequest::parse_page(FeedFormat::Rss, None, Some(&query), 100).unwrap();
        let cursor = page.filter.before.clone().unwrap();
        assert_eq!(cursor.id, id);
        assert_eq!(cursor.published.timestamp_subsec_micros(), 250);
        assert_eq!(
            page.canonical(),
            format!("feed.xml?q=open&before=2021-08-19T08%3A00%3A00.000250Z%2C{id}")
        );
        let again = FeedRequest::parse_page(
            FeedFormat::Rss,
            None,
            Some(page.canonical().split_once('?').unwrap().1),
            100,
        )
        .unwrap();
        assert_eq!(again, page);
        let err = parse(&query).unwrap_err().0;
        assert!(err.contains("`before`"), "{err}");
        for bad in [
            "before=yesterday",
            "before=2021-08-19T08:00:00Z,xyz",
            "before=2021-08-19T08:00:00Z",
        ] {
            let err = FeedRequest::parse_page(FeedFormat::Rss, None, Some(bad), 100)
                .unwrap_err()
                .0;
            assert!(err.contains("`before`"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_limit_is_capped() {
        assert_eq!(parse("limit=5000").unwrap().limit, MAX_LIMIT);
        let big = FeedRequest::parse(FeedFormat::Rss, None, Some("limit=5000"), 2000).unwrap();
        assert_eq!(big.limit, 2000);
    }

    #[test]
    fn a_bad_parameter_is_refused_by_name() {
        for (query, named) in [
            ("limit=abc", "`limit`"),
            ("limit=0", "`limit`"),
            ("limit=-3", "`limit`"),
            ("limit=1&limit=2", "`limit`"),
            ("category=", "`category`"),
            ("q=%20%20", "`q`"),
            ("source=a,,b", "`source`"),
            ("source=Upper", "`source`"),
            ("sort=date", "`sort`"),
            ("duplicates=some", "`duplicates`"),
        ] {
            let err = parse(query).unwrap_err().0;
            assert!(err.contains(named), "{query}: {err}");
        }
        let err = FeedRequest::parse(FeedFormat::Rss, Some("a"), Some("source=b"), 100)
            .unwrap_err()
            .0;
        assert!(err.contains("`source`"), "{err}");
    }
}
