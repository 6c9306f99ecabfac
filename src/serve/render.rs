//! The three feed formats: RSS 2.0, Atom 1.0 and JSON Feed 1.1, from the
//! same items. Rendering is pure: the same items and metadata give the same
//! bytes, so an ETag only changes when the content does.

use crate::config::ServerSettings;
use crate::dedup::AlsoIn;
use crate::item::{Item, ItemId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use url::Url;

/// A feed format, chosen by the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedFormat {
    /// RSS 2.0, `feed.xml`.
    Rss,
    /// Atom 1.0, `feed.atom`.
    Atom,
    /// JSON Feed 1.1, `feed.json`.
    Json,
}

impl FeedFormat {
    /// Every format, in the order of [`FeedFormat::index`].
    pub const ALL: [FeedFormat; 3] = [FeedFormat::Rss, FeedFormat::Atom, FeedFormat::Json];

    /// The feed's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            FeedFormat::Rss => "feed.xml",
            FeedFormat::Atom => "feed.atom",
            FeedFormat::Json => "feed.json",
        }
    }

    /// The format served under `file_name`, if any.
    pub fn from_file_name(file_name: &str) -> Option<FeedFormat> {
        FeedFormat::ALL
            .into_iter()
            .find(|f| f.file_name() == file_name)
    }

    /// Its media type, without parameters: a link's `type`.
    pub fn media_type(self) -> &'static str {
        match self {
            FeedFormat::Rss => "application/rss+xml",
            FeedFormat::Atom => "application/atom+xml",
            FeedFormat::Json => "application/feed+json",
        }
    }

    /// Its name in a reader's words: "RSS", "Atom", "JSON".
    pub fn name(self) -> &'static str {
        match self {
            FeedFormat::Rss => "RSS",
            FeedFormat::Atom => "Atom",
            FeedFormat::Json => "JSON",
        }
    }

    /// The `Content-Type` it is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            FeedFormat::Rss => RSS_CONTENT_TYPE,
            FeedFormat::Atom => "application/atom+xml; charset=utf-8",
            FeedFormat::Json => "application/feed+json; charset=utf-8",
        }
    }

    /// Its position in [`FeedFormat::ALL`].
    pub fn index(self) -> usize {
        match self {
            FeedFormat::Rss => 0,
            FeedFormat::Atom => 1,
            FeedFormat::Json => 2,
        }
    }
}

/// The content type of `/feed.xml`.
pub const RSS_CONTENT_TYPE: &str = "application/rss+xml; charset=utf-8";

/// What a feed says about itself, besides its items.
#[derive(Debug, Clone)]
pub struct FeedMeta {
    /// The feed's title.
    pub title: String,
    /// The site: `server.public_url`.
    pub home: Url,
    /// The feed's own URL, for the self link and the Atom feed id.
    pub self_url: String,
    /// The WebSub hub to advertise, if the daemon pings one for this feed.
    pub hub: Option<Url>,
}

impl FeedMeta {
    /// The merged feed's metadata in `format`: its own URL under
    /// `public_url`, and the hub when one is configured.
    pub fn merged(settings: &ServerSettings, format: FeedFormat) -> FeedMeta {
        FeedMeta {
            title: settings.title.clone(),
            home: settings.public_url.clone(),
            self_url: settings.url(format.file_name()),
            hub: settings.websub_hub.clone(),
        }
    }
}

/// The other sources' items that duplicate each item of a feed (see
/// [`FeedItems::also_in`](crate::store::FeedItems)).
pub type AlsoInMap = BTreeMap<ItemId, Vec<AlsoIn>>;

/// Renders `items` (newest first) in `format`, each naming the other
/// sources that carried the same story (`also_in`): RSS as a `<category>`
/// per source in the [`also_in_domain`], Atom as a `<category>` in that
/// scheme, JSON Feed in `_librarywire.also_in`. `empty_date` dates a feed
/// with no items (Atom's `<updated>` is required); a feed with items is
/// dated by its newest.
pub fn render(
    format: FeedFormat,
    meta: &FeedMeta,
    items: &[Item],
    also_in: &AlsoInMap,
    empty_date: DateTime<Utc>,
) -> Vec<u8> {
    match format {
        FeedFormat::Rss => rss(meta, items, also_in),
        FeedFormat::Atom => atom(meta, items, also_in, empty_date),
        FeedFormat::Json => json(meta, items, also_in),
    }
}

/// Renders `items` (newest first) as the merged RSS 2.0 feed.
pub fn render_rss(settings: &ServerSettings, items: &[Item]) -> Vec<u8> {
    rss(
        &FeedMeta::merged(settings, FeedFormat::Rss),
        items,
        &AlsoInMap::new(),
    )
}

/// The category domain (RSS) and scheme (Atom) of the categories that name
/// another source carrying an item's story: `<public_url>source`. The
/// category's text is that source's id; Atom's label its name.
pub fn also_in_domain(home: &Url) -> String {
    home.join("source")
        .map_or_else(|_| format!("{home}source"), String::from)
}

/// The sources that carried `item`'s story besides its own, each once.
fn others<'a>(item: &Item, also_in: &'a AlsoInMap) -> Vec<&'a AlsoIn> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for other in also_in.get(&item.id).into_iter().flatten() {
        if other.source.id != item.source.id && !seen.contains(&&other.source.id) {
            seen.push(&other.source.id);
            out.push(other);
        }
    }
    out
}

/// The time an item last changed, as the feeds give it.
fn changed_at(item: &Item) -> DateTime<Utc> {
    item.updated.unwrap_or(item.published).max(item.published)
}

/// The newest change in the feed, not the render time: the same items give
/// the same bytes.
fn newest(items: &[Item]) -> Option<DateTime<Utc>> {
    items.iter().map(changed_at).max()
}

/// The id every format gives an item, as the RSS guid always has.
fn entry_id(item: &Item) -> String {
    format!("urn:librarywire:{}", item.id)
}

fn rss(meta: &FeedMeta, items: &[Item], also_in: &AlsoInMap) -> Vec<u8> {
    use rss::extension::atom::{AtomExtension, Link};

    let mut links = vec![Link {
        href: meta.self_url.clone(),
        rel: "self".to_owned(),
        mime_type: Some(FeedFormat::Rss.media_type().to_owned()),
        ..Link::default()
    }];
    if let Some(hub) = &meta.hub {
        links.push(Link {
            href: hub.to_string(),
            rel: "hub".to_owned(),
            ..Link::default()
        });
    }
    let channel = rss::Channel {
        title: meta.title.clone(),
        link: meta.home.to_string(),
        description: format!("{}: news merged by librarywire", meta.title),
        generator: Some(concat!("librarywire ", env!("CARGO_PKG_VERSION")).to_owned()),
        last_build_date: newest(items).map(rfc2822),
        docs: Some("https://www.rssboard.org/rss-specification".to_owned()),
        ttl: Some("15".to_owned()),
        atom_ext: Some(AtomExtension { links }),
        items: items
            .iter()
            .map(|item| rss_item(item, &others(item, also_in), meta))
            .collect(),
        ..rss::Channel::default()
    };
    // `write_to` starts with the XML declaration itself. Writing to a Vec
    // cannot fail for I/O reasons, and every string in the channel is valid
    // UTF-8 that quick-xml escapes.
    channel
        .write_to(Vec::with_capacity(4096 + items.len() * 2048))
        .expect("writing RSS to memory cannot fail")
}

fn rss_item(item: &Item, others: &[&AlsoIn], meta: &FeedMeta) -> rss::Item {
    use rss::extension::dublincore::DublinCoreExtension;
    let description = match &item.content_html {
        Some(html) => html.clone(),
        None => html_escape(&item.summary),
    };
    rss::Item {
        title: Some(item.title.clone()),
        link: item.url.clone(),
        description: Some(description).filter(|d| !d.is_empty()),
        guid: Some(rss::Guid {
            value: entry_id(item),
            permalink: false,
        }),
        pub_date: Some(rfc2822(item.published)),
        categories: item
            .categories
            .iter()
            .map(|c| rss::Category {
                name: c.clone(),
                domain: None,
            })
            .chain(others.iter().map(|other| rss::Category {
                name: other.source.id.clone(),
                domain: Some(also_in_domain(&meta.home)),
            }))
            .collect(),
        source: Some(rss::Source {
            url: item.source.url.clone(),
            title: Some(item.source.name.clone()),
        }),
        // RSS's own <author> must be an e-mail address; names go in dc:creator.
        dublin_core_ext: (!item.authors.is_empty()).then(|| DublinCoreExtension {
            creators: item.authors.clone(),
            ..DublinCoreExtension::default()
        }),
        ..rss::Item::default()
    }
}

fn rfc2822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn atom(
    meta: &FeedMeta,
    items: &[Item],
    also_in: &AlsoInMap,
    empty_date: DateTime<Utc>,
) -> Vec<u8> {
    use atom_syndication::{Feed, Generator, Link, Person, Text};

    let mut links = vec![
        Link {
            href: meta.self_url.clone(),
            rel: "self".to_owned(),
            mime_type: Some(FeedFormat::Atom.media_type().to_owned()),
            ..Link::default()
        },
        Link {
            href: meta.home.to_string(),
            rel: "alternate".to_owned(),
            ..Link::default()
        },
    ];
    if let Some(hub) = &meta.hub {
        links.push(Link {
            href: hub.to_string(),
            rel: "hub".to_owned(),
            ..Link::default()
        });
    }
    let feed = Feed {
        title: Text::plain(meta.title.clone()),
        id: meta.self_url.clone(),
        updated: newest(items).unwrap_or(empty_date).fixed_offset(),
        // Atom wants an author for every entry; the feed's stands in for
        // entries whose source named none.
        authors: vec![Person {
            name: meta.title.clone(),
            ..Person::default()
        }],
        generator: Some(Generator {
            value: "librarywire".to_owned(),
            uri: None,
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        }),
        links,
        subtitle: Some(Text::plain(format!(
            "{}: news merged by librarywire",
            meta.title
        ))),
        entries: items
            .iter()
            .map(|item| atom_entry(item, &others(item, also_in), meta))
            .collect(),
        ..Feed::default()
    };
    feed.write_to(Vec::with_capacity(4096 + items.len() * 2048))
        .expect("writing Atom to memory cannot fail")
}

fn atom_entry(item: &Item, others: &[&AlsoIn], meta: &FeedMeta) -> atom_syndication::Entry {
    use atom_syndication::{Category, Content, Entry, Link, Person, Source, Text};

    let updated = changed_at(item).fixed_offset();
    Entry {
        id: entry_id(item),
        title: Text::plain(item.title.clone()),
        updated,
        published: Some(item.published.fixed_offset()),
        authors: item
            .authors
            .iter()
            .map(|name| Person {
                name: name.clone(),
                ..Person::default()
            })
            .collect(),
        categories: item
            .categories
            .iter()
            .map(|term| Category {
                term: term.clone(),
                ..Category::default()
            })
            .chain(others.iter().map(|other| Category {
                term: other.source.id.clone(),
                scheme: Some(also_in_domain(&meta.home)),
                label: Some(other.source.name.clone()),
            }))
            .collect(),
        links: item
            .url
            .iter()
            .map(|url| Link {
                href: url.clone(),
                rel: "alternate".to_owned(),
                ..Link::default()
            })
            .collect(),
        summary: Some(Text::plain(item.summary.clone())).filter(|s| !s.value.is_empty()),
        content: item.content_html.as_ref().map(|html| Content {
            value: Some(html.clone()),
            content_type: Some("html".to_owned()),
            lang: item.language.clone(),
            ..Content::default()
        }),
        // Where the entry came from (RFC 4287, 4.2.11): the source's name,
        // and its configured URL as id and link.
        source: Some(Source {
            title: Text::plain(item.source.name.clone()),
            id: item.source.url.clone(),
            updated,
            links: vec![Link {
                href: item.source.url.clone(),
                rel: "self".to_owned(),
                ..Link::default()
            }],
            ..Source::default()
        }),
        ..Entry::default()
    }
}

/// JSON Feed 1.1 (<https://jsonfeed.org/version/1.1>).
#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: String,
    feed_url: &'a str,
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<JsonHub>,
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct JsonHub {
    #[serde(rename = "type")]
    kind: &'static str,
    url: String,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_html: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_text: Option<&'a str>,
    #[serde(skip_serializing_if = "str::is_empty")]
    summary: &'a str,
    date_published: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    date_modified: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<JsonAuthor<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    /// The item's source, as a JSON Feed extension (an underscore key, which
    /// readers that do not know it ignore).
    #[serde(rename = "_librarywire")]
    librarywire: JsonExtension<'a>,
}

#[derive(Serialize)]
struct JsonAuthor<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct JsonExtension<'a> {
    about: &'static str,
    source: &'a crate::item::SourceRef,
    /// The other sources' items of the same story, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    also_in: Vec<JsonAlsoIn<'a>>,
}

#[derive(Serialize)]
struct JsonAlsoIn<'a> {
    id: String,
    source: &'a crate::item::SourceRef,
    reason: &'a str,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn json(meta: &FeedMeta, items: &[Item], also_in: &AlsoInMap) -> Vec<u8> {
    let feed = JsonFeed {
        version: "https://jsonfeed.org/version/1.1",
        title: &meta.title,
        home_page_url: meta.home.to_string(),
        feed_url: &meta.self_url,
        description: format!("{}: news merged by librarywire", meta.title),
        hubs: meta
            .hub
            .iter()
            .map(|hub| JsonHub {
                kind: "WebSub",
                url: hub.to_string(),
            })
            .collect(),
        items: items
            .iter()
            .map(|item| json_item(item, &others(item, also_in)))
            .collect(),
    };
    serde_json::to_vec(&feed).expect("a JSON Feed of strings always serializes")
}

fn json_item<'a>(item: &'a Item, others: &[&'a AlsoIn]) -> JsonItem<'a> {
    JsonItem {
        id: entry_id(item),
        url: item.url.as_deref(),
        title: &item.title,
        content_html: item.content_html.as_deref(),
        // JSON Feed wants content_html or content_text.
        content_text: item.content_html.is_none().then_some(item.summary.as_str()),
        summary: &item.summary,
        date_published: rfc3339(item.published),
        date_modified: item.updated.filter(|u| *u > item.published).map(rfc3339),
        authors: item
            .authors
            .iter()
            .map(|name| JsonAuthor { name })
            .collect(),
        tags: item.categories.iter().map(String::as_str).collect(),
        language: item.language.as_deref(),
        librarywire: JsonExtension {
            about: "https://github.com/librarywire/librarywire#feeds-for-subscribers",
            source: &item.source,
            also_in: others
                .iter()
                .map(|other| JsonAlsoIn {
                    id: format!("urn:librarywire:{}", other.id),
                    source: &other.source,
                    reason: &other.reason,
                })
                .collect(),
        },
    }
}
