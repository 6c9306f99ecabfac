//! The lenient reader: a walk over a feed's XML events with quick-xml that
//! tolerates what feed-rs refuses (a stray end tag, a body cut short, an
//! attribute value feed-rs does not know) and reads every entry it can.
//!
//! It serves twice. When feed-rs fails even after [`super::fixes`], its
//! entries become the feed ([`Read::into_feed`]): a recovered feed. When
//! feed-rs succeeds, it fills in what feed-rs's model drops
//! ([`Read::supplement`]): Atom 0.3 `issued`/`modified` and `mode="base64"`,
//! `dcterms:*` dates, `dc:title`, `itunes:author`, markup written inside a
//! `<title>`, an RSS 1.0 item's `rdf:about`.
//!
//! Namespaces are told by their URI where the document declares the prefix,
//! else by the prefix everyone uses for them. Entity references other than
//! XML's five and character references are kept as written (a doctype's
//! entities are never expanded).

use chrono::{DateTime, Utc};
use feed_rs::model::{Category, Content, Entry, Feed, FeedType, Link, Person, Text};
use quick_xml::events::{BytesStart, Event};
use std::collections::HashMap;

/// Errors past this many are not worth reading on from.
const MAX_ERRORS: usize = 100;

/// What the reader found in a document.
#[derive(Debug, Default)]
pub(super) struct Read {
    /// The format the root element names; None when it names no feed.
    pub(super) feed_type: Option<FeedType>,
    /// The channel's or feed's own fields.
    pub(super) feed: Fields,
    /// Every entry, in document order, the last one perhaps cut short.
    pub(super) entries: Vec<Fields>,
    /// The first well-formedness error, with where it is.
    pub(super) error: Option<String>,
}

/// The fields of an entry (or of the feed itself).
#[derive(Debug, Default, Clone)]
pub(super) struct Fields {
    pub(super) id: Option<String>,
    pub(super) title: Option<Piece>,
    /// `dc:title`, a fallback for the title.
    pub(super) dc_title: Option<Piece>,
    pub(super) links: Vec<Link>,
    /// An RSS 1.0 item's `rdf:about`: its link when it has no `<link>`.
    pub(super) about: Option<String>,
    /// Publication dates in the order of preference (pubDate, published,
    /// issued, dcterms:issued, dcterms:created, dc:date).
    published: Vec<(u8, DateTime<Utc>)>,
    /// Update dates likewise (updated, modified, dcterms:modified).
    updated: Vec<(u8, DateTime<Utc>)>,
    pub(super) summary: Option<Piece>,
    pub(super) content: Option<Piece>,
    pub(super) authors: Vec<Person>,
    pub(super) categories: Vec<Category>,
    pub(super) language: Option<String>,
}

/// A piece of text and how it was written.
#[derive(Debug, Clone)]
pub(super) struct Piece {
    pub(super) text: String,
    /// HTML (or XHTML) rather than plain text.
    pub(super) html: bool,
    /// It held child elements: markup written straight inside.
    pub(super) markup_inside: bool,
    /// It was base64 (Atom 0.3 `mode="base64"`), decoded here.
    pub(super) base64: bool,
}

impl Fields {
    pub(super) fn published(&self) -> Option<DateTime<Utc>> {
        best(&self.published)
    }

    pub(super) fn updated(&self) -> Option<DateTime<Utc>> {
        best(&self.updated)
    }

    /// The title, else `dc:title`.
    fn any_title(&self) -> Option<&Piece> {
        self.title
            .as_ref()
            .filter(|t| !t.text.trim().is_empty())
            .or(self.dc_title.as_ref())
    }

    /// Whether anything was read: an entry cut short before any field is
    /// no entry.
    fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.any_title().is_none()
            && self.links.is_empty()
            && self.about.is_none()
            && self.summary.is_none()
            && self.content.is_none()
    }
}

impl Fields {
    /// The entry as feed-rs's model.
    fn to_entry(&self) -> Entry {
        let mut entry = Entry {
            id: self.id.clone().unwrap_or_default(),
            title: self.any_title().map(text_of),
            published: self.published(),
            updated: self.updated(),
            authors: self.authors.clone(),
            summary: self.summary.as_ref().map(text_of),
            content: self.content.as_ref().map(content_of),
            categories: self.categories.clone(),
            language: self.language.clone(),
            ..Entry::default()
        };
        entry.links = self.links.clone();
        if entry.links.is_empty()
            && let Some(about) = &self.about
        {
            entry.links.push(link(about, None));
        }
        entry
    }
}

fn best(dates: &[(u8, DateTime<Utc>)]) -> Option<DateTime<Utc>> {
    dates.iter().min_by_key(|(rank, _)| *rank).map(|(_, d)| *d)
}

/// The vocabularies the reader knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vocab {
    /// RSS (any version), RSS 1.0/1.1, or Atom (1.0 or 0.3): the format's own.
    Core,
    /// Atom elements inside RSS (`atom:updated`).
    Atom,
    Dc,
    Dcterms,
    Content,
    Itunes,
    Media,
    Rdf,
    Other,
}

fn vocab_of_uri(uri: &str) -> Vocab {
    match uri.trim() {
        "http://www.w3.org/2005/Atom" | "http://purl.org/atom/ns#" => Vocab::Atom,
        "http://purl.org/rss/1.0/"
        | "http://my.netscape.com/rdf/simple/0.9/"
        | "http://purl.org/net/rss1.1#"
        | "http://backend.userland.com/rss2"
        | "http://blogs.law.harvard.edu/tech/rss" => Vocab::Core,
        "http://purl.org/dc/elements/1.1/" => Vocab::Dc,
        "http://purl.org/dc/terms/" => Vocab::Dcterms,
        "http://purl.org/rss/1.0/modules/content/" => Vocab::Content,
        "http://www.itunes.com/dtds/podcast-1.0.dtd" => Vocab::Itunes,
        "http://search.yahoo.com/mrss/" | "http://search.yahoo.com/mrss" => Vocab::Media,
        "http://www.w3.org/1999/02/22-rdf-syntax-ns#" => Vocab::Rdf,
        _ => Vocab::Other,
    }
}

fn vocab_of_prefix(prefix: &str) -> Vocab {
    match prefix {
        "atom" | "atom03" | "a10" => Vocab::Atom,
        "dc" => Vocab::Dc,
        "dcterms" => Vocab::Dcterms,
        "content" => Vocab::Content,
        "itunes" => Vocab::Itunes,
        "media" => Vocab::Media,
        "rdf" => Vocab::Rdf,
        _ => Vocab::Other,
    }
}

/// A field being read: which, where its content starts, and what it holds
/// so far.
struct Open {
    field: Field,
    /// Depth of the field's element.
    depth: usize,
    /// Byte offset just after its start tag.
    start: usize,
    text: String,
    children: bool,
    html: bool,
    base64: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Title,
    DcTitle,
    Link,
    Summary,
    Content,
    Published(u8),
    Updated(u8),
    Author,
    /// A name inside an Atom `<author>`.
    AuthorName,
    AuthorEmail,
    Category,
    Language,
}

/// Reads `text` leniently; `timezone` is the zone of dates that name none.
pub(super) fn read(text: &str, timezone: Option<chrono_tz::Tz>) -> Read {
    let mut reader = quick_xml::Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;
    config.check_comments = false;

    let mut out = Read::default();
    let mut namespaces: HashMap<String, Vocab> = HashMap::new();
    let mut depth = 0usize;
    // The entry being read, and the depth of its element.
    let mut entry: Option<(Fields, usize)> = None;
    let mut open: Option<Open> = None;
    // An Atom <author> being read.
    let mut person: Option<(Person, usize)> = None;
    let mut errors = 0;

    loop {
        let before = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(err) => {
                errors += 1;
                if out.error.is_none() {
                    out.error = Some(format!("{err} at byte {}", reader.error_position()));
                }
                if errors > MAX_ERRORS || reader.buffer_position() == before {
                    break;
                }
                continue;
            }
        };
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let end_of_tag = usize::try_from(reader.buffer_position()).unwrap_or(text.len());
                let self_closing = matches!(event, Event::Empty(_));
                let start = start.clone();
                declare_namespaces(&start, &mut namespaces);
                let (vocab, local) = name_of(&start, &namespaces);
                if !self_closing {
                    depth += 1;
                }
                // The feed's root: the first element that names a format
                // (an HTML page may wrap it).
                if out.feed_type.is_none() && open.is_none() {
                    out.feed_type = match (vocab, local.as_str()) {
                        (Vocab::Rdf, "RDF") | (_, "Channel" | "rdf") => Some(FeedType::RSS1),
                        (Vocab::Core | Vocab::Other, "rss") => Some(rss_type(&start)),
                        (Vocab::Core | Vocab::Atom | Vocab::Other, "feed") => Some(FeedType::Atom),
                        _ => None,
                    };
                }
                if let Some(o) = open.as_mut() {
                    // Markup inside a field: kept as written.
                    o.children = true;
                    continue;
                }
                let is_core = matches!(vocab, Vocab::Core | Vocab::Atom | Vocab::Other)
                    && !local.contains(':');
                // What another feed, an image or a search box says of
                // itself is not the entry's (nor the channel's).
                if is_core
                    && matches!(
                        local.as_str(),
                        "source" | "image" | "textinput" | "textInput"
                    )
                {
                    if !self_closing {
                        depth -= 1;
                        skip_to_end(&mut reader);
                    }
                    continue;
                }
                if entry.is_none() && is_core && (local == "item" || local == "entry") {
                    let mut fields = Fields::default();
                    if let Some(about) = attr(&start, "rdf:about").or_else(|| attr(&start, "about"))
                    {
                        fields.about = Some(about);
                    }
                    if self_closing {
                        out.entries.push(fields);
                    } else {
                        entry = Some((fields, depth));
                    }
                    continue;
                }
                let in_person = person.is_some();
                let atom_person = local == "author"
                    && is_core
                    && (vocab == Vocab::Atom || out.feed_type == Some(FeedType::Atom));
                let field = if atom_person {
                    None
                } else {
                    field_of(vocab, &local, in_person)
                };
                let Some(field) = field else {
                    if atom_person && !self_closing {
                        person = Some((
                            Person {
                                name: None,
                                uri: None,
                                email: None,
                                role: None,
                            },
                            depth,
                        ));
                    }
                    continue;
                };
                // Attributes that a field takes whole.
                let target = entry.as_mut().map_or(&mut out.feed, |(f, _)| f);
                match field {
                    Field::Link => {
                        if let Some(href) = attr(&start, "href") {
                            let rel = attr(&start, "rel");
                            target.links.push(link(&href, rel));
                            if !self_closing {
                                depth -= 1;
                                // Its content, if any, is not a link.
                                skip_to_end(&mut reader);
                            }
                            continue;
                        }
                    }
                    Field::Category => {
                        if let Some(term) = attr(&start, "term") {
                            let mut category = Category::new(&term);
                            category.label = attr(&start, "label");
                            target.categories.push(category);
                            continue;
                        }
                    }
                    _ => {}
                }
                if self_closing {
                    continue;
                }
                let ty = attr(&start, "type")
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let html = match ty.as_str() {
                    "html" | "xhtml" | "text/html" | "application/xhtml+xml" => true,
                    "text" | "text/plain" => false,
                    // RSS texts are HTML, as feed-rs reads them.
                    _ => !matches!(out.feed_type, Some(FeedType::Atom)),
                };
                let base64 = attr(&start, "mode").is_some_and(|m| m.eq_ignore_ascii_case("base64"));
                open = Some(Open {
                    field,
                    depth,
                    start: end_of_tag,
                    text: String::new(),
                    children: false,
                    html,
                    base64,
                });
            }
            Event::End(_) => {
                let end_of_tag = usize::try_from(reader.buffer_position()).unwrap_or(text.len());
                if let Some(o) = open.take_if(|o| o.depth == depth) {
                    let inner_end = text[..end_of_tag].rfind("</").unwrap_or(end_of_tag);
                    let raw = text.get(o.start..inner_end).unwrap_or_default();
                    let target = match (&mut person, &mut entry) {
                        (Some((p, _)), _)
                            if matches!(o.field, Field::AuthorName | Field::AuthorEmail) =>
                        {
                            let value = o.text.trim().to_owned();
                            if !value.is_empty() {
                                if o.field == Field::AuthorName {
                                    p.name = Some(value);
                                } else {
                                    p.email = Some(value);
                                }
                            }
                            depth = depth.saturating_sub(1);
                            continue;
                        }
                        (_, Some((f, _))) => f,
                        (_, None) => &mut out.feed,
                    };
                    finish(o, raw, target, timezone);
                } else if let Some((p, _)) = person.take_if(|(_, d)| *d == depth) {
                    if p.name.is_some() || p.email.is_some() {
                        let target = entry.as_mut().map_or(&mut out.feed, |(f, _)| f);
                        target.authors.push(p);
                    }
                } else if let Some((fields, _)) = entry.take_if(|(_, d)| *d == depth) {
                    out.entries.push(fields);
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                if let Some(o) = open.as_mut() {
                    o.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(o) = open.as_mut() {
                    o.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(o) = open.as_mut() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => o.text.push(c),
                        _ => match &*r.xml10_content() {
                            "lt" => o.text.push('<'),
                            "gt" => o.text.push('>'),
                            "amp" => o.text.push('&'),
                            "quot" => o.text.push('"'),
                            "apos" => o.text.push('\''),
                            other => {
                                o.text.push('&');
                                o.text.push_str(other);
                                o.text.push(';');
                            }
                        },
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // A body cut short: what was read of the last entry still counts.
    if let Some(o) = open.take() {
        let raw = text.get(o.start..).unwrap_or_default();
        let target = entry.as_mut().map_or(&mut out.feed, |(f, _)| f);
        finish(o, raw, target, timezone);
    }
    if let Some((fields, _)) = entry.take() {
        if out.error.is_none() {
            out.error = Some("the body ends inside an entry".into());
        }
        if !fields.is_empty() {
            out.entries.push(fields);
        }
    }
    out
}

/// Which field an element is, in an entry or feed (`in_person`: inside an
/// Atom `<author>`).
fn field_of(vocab: Vocab, local: &str, in_person: bool) -> Option<Field> {
    use Field::*;
    if in_person {
        return match local {
            "name" => Some(AuthorName),
            "email" => Some(AuthorEmail),
            _ => None,
        };
    }
    Some(match (vocab, local) {
        (Vocab::Core | Vocab::Other | Vocab::Atom, "guid" | "id") => Id,
        (Vocab::Core | Vocab::Other | Vocab::Atom, "title") => Title,
        (Vocab::Dc, "title") => DcTitle,
        (Vocab::Core | Vocab::Other | Vocab::Atom, "link") => Link,
        (Vocab::Core | Vocab::Other, "description") => Summary,
        (Vocab::Core | Vocab::Other | Vocab::Atom, "summary") => Summary,
        (Vocab::Dc, "description") => Summary,
        (Vocab::Core | Vocab::Other | Vocab::Atom, "content") => Content,
        (Vocab::Content, "encoded") => Content,
        (Vocab::Core | Vocab::Other, "pubDate") => Published(0),
        (Vocab::Core | Vocab::Other | Vocab::Atom, "published") => Published(1),
        (Vocab::Core | Vocab::Other | Vocab::Atom, "issued") => Published(2),
        (Vocab::Dcterms, "issued") => Published(3),
        (Vocab::Dcterms, "created") => Published(4),
        (Vocab::Dc, "date") => Published(5),
        (Vocab::Core | Vocab::Other | Vocab::Atom, "created") => Published(6),
        (Vocab::Core | Vocab::Other | Vocab::Atom, "updated") => Updated(0),
        (Vocab::Core | Vocab::Other | Vocab::Atom, "modified") => Updated(1),
        (Vocab::Dcterms, "modified") => Updated(2),
        (Vocab::Core | Vocab::Other, "lastBuildDate") => Updated(3),
        // An RSS <author> is text; an Atom one has children (handled by the
        // caller when this gives None for it).
        (Vocab::Core | Vocab::Other, "author") => Author,
        (Vocab::Dc, "creator") | (Vocab::Itunes, "author") => Author,
        (Vocab::Core | Vocab::Other | Vocab::Atom, "category") | (Vocab::Dc, "subject") => Category,
        (Vocab::Core | Vocab::Other, "language") | (Vocab::Dc, "language") => Language,
        _ => return None,
    })
}

/// Stores a finished field.
fn finish(o: Open, raw: &str, target: &mut Fields, timezone: Option<chrono_tz::Tz>) {
    let mut text = if o.children && o.html {
        // Markup written straight inside (XHTML content, or HTML in a
        // title): the raw inner XML is the HTML.
        raw.to_owned()
    } else if o.children {
        // Child elements in a plain-text field: their text, tags dropped.
        o.text.clone()
    } else {
        o.text.clone()
    };
    let mut base64 = false;
    if o.base64 {
        use base64::Engine;
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact)
            && let Ok(decoded) = String::from_utf8(bytes)
        {
            text = decoded;
            base64 = true;
        }
    }
    let piece = || Piece {
        text: text.clone(),
        html: o.html || (o.children && o.field == Field::Title),
        markup_inside: o.children,
        base64,
    };
    let trimmed = text.trim();
    match o.field {
        Field::Id => {
            if target.id.is_none() && !trimmed.is_empty() {
                target.id = Some(trimmed.to_owned());
            }
        }
        Field::Title => {
            if target.title.is_none() {
                target.title = Some(piece());
            }
        }
        Field::DcTitle => {
            if target.dc_title.is_none() {
                target.dc_title = Some(piece());
            }
        }
        Field::Link => {
            if !trimmed.is_empty() {
                target.links.push(link(trimmed, None));
            }
        }
        Field::Summary => {
            if target.summary.is_none() && !trimmed.is_empty() {
                target.summary = Some(piece());
            }
        }
        Field::Content => {
            if target.content.is_none() && !trimmed.is_empty() {
                target.content = Some(piece());
            }
        }
        Field::Published(rank) => {
            if let Some(date) = super::date::parse_date(trimmed, timezone) {
                target.published.push((rank, date));
            }
        }
        Field::Updated(rank) => {
            if let Some(date) = super::date::parse_date(trimmed, timezone) {
                target.updated.push((rank, date));
            }
        }
        Field::Author => {
            if !trimmed.is_empty() {
                target.authors.push(rss_person(trimmed));
            }
        }
        Field::Category => {
            if !trimmed.is_empty() {
                target.categories.push(Category::new(trimmed));
            }
        }
        Field::Language => {
            if target.language.is_none() && !trimmed.is_empty() {
                target.language = Some(trimmed.to_owned());
            }
        }
        Field::AuthorName | Field::AuthorEmail => {}
    }
}

/// An RSS author: `mail (Name)`, `Name (mail)`, `Name <mail>`, a bare
/// address or a name. The part with an `@` is the address.
fn rss_person(text: &str) -> Person {
    let split = text
        .split_once('(')
        .and_then(|(a, b)| Some((a, b.strip_suffix(')')?)))
        .or_else(|| {
            text.split_once('<')
                .and_then(|(a, b)| Some((a, b.strip_suffix('>')?)))
        });
    let (name, email) = match split {
        Some((a, b)) if a.contains('@') && !b.contains('@') => (Some(b), Some(a)),
        Some((a, b)) => (Some(a), Some(b)),
        None if text.contains('@') && !text.contains(' ') => (None, Some(text)),
        None => (Some(text), None),
    };
    let some = |s: Option<&str>| {
        s.map(|s| s.trim().trim_start_matches("mailto:").trim())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Person {
        name: some(name),
        uri: None,
        email: some(email).filter(|e| e.contains('@')),
        role: None,
    }
}

fn link(href: &str, rel: Option<String>) -> Link {
    Link {
        href: href.trim().to_owned(),
        target: None,
        rel,
        media_type: None,
        href_lang: None,
        title: None,
        length: None,
    }
}

/// Skips to the end of the element just started.
fn skip_to_end(reader: &mut quick_xml::Reader<&[u8]>) {
    let mut depth = 1usize;
    while depth > 0 {
        match reader.read_event() {
            Ok(Event::Start(_)) => depth += 1,
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Eof) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// RSS's version: 0.9x is RSS0, the rest RSS 2.0.
fn rss_type(start: &BytesStart<'_>) -> FeedType {
    match attr(start, "version").as_deref().map(str::trim) {
        Some(v) if v.starts_with("0.9") => FeedType::RSS0,
        _ => FeedType::RSS2,
    }
}

/// The element's vocabulary and local name.
fn name_of(start: &BytesStart<'_>, namespaces: &HashMap<String, Vocab>) -> (Vocab, String) {
    let name = start.name().as_ref().to_owned();
    match name.split_once(':') {
        Some((prefix, local)) => {
            let vocab = namespaces
                .get(prefix)
                .copied()
                .unwrap_or_else(|| vocab_of_prefix(prefix));
            (vocab, local.to_owned())
        }
        None => (
            namespaces
                .get("")
                .copied()
                .map_or(Vocab::Core, |v| match v {
                    // The default namespace of a feed is its format's.
                    Vocab::Atom | Vocab::Other => Vocab::Core,
                    v => v,
                }),
            name,
        ),
    }
}

/// Remembers the prefixes the element declares (scopes are not tracked: a
/// prefix keeps its last meaning).
fn declare_namespaces(start: &BytesStart<'_>, namespaces: &mut HashMap<String, Vocab>) {
    for a in start.attributes().with_checks(false).flatten() {
        let key: &str = a.key.as_ref();
        let prefix = if key == "xmlns" {
            ""
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            p
        } else {
            continue;
        };
        if let Ok(uri) = a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
            namespaces.insert(prefix.to_owned(), vocab_of_uri(&uri));
        }
    }
}

/// An attribute's value, by its name as written.
fn attr(start: &BytesStart<'_>, name: &str) -> Option<String> {
    start
        .attributes()
        .with_checks(false)
        .flatten()
        .find(|a| AsRef::<str>::as_ref(&a.key) == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

fn text_of(piece: &Piece) -> Text {
    Text {
        content_type: if piece.html {
            "text/html".parse().expect("a media type")
        } else {
            "text/plain".parse().expect("a media type")
        },
        src: None,
        content: piece.text.trim().to_owned(),
    }
}

fn content_of(piece: &Piece) -> Content {
    Content {
        body: Some(piece.text.clone()),
        content_type: if piece.html {
            "text/html".parse().expect("a media type")
        } else {
            "text/plain".parse().expect("a media type")
        },
        length: None,
        src: None,
    }
}

impl Read {
    /// The entries as feed-rs's model, for a feed feed-rs could not read;
    /// `empty` is a feed of the right type with nothing in it.
    pub(super) fn into_feed(self, mut empty: Feed) -> Feed {
        let Read { feed, entries, .. } = self;
        empty.title = feed.any_title().map(text_of);
        empty.links = feed.links.clone();
        empty.updated = feed.updated();
        empty.published = feed.published();
        empty.authors = feed.authors.clone();
        empty.language = feed.language.clone();
        empty.entries = entries.iter().map(Fields::to_entry).collect();
        empty
    }

    /// Fills in what feed-rs left out of `feed`, when the two read the same
    /// entries (the same count); else leaves it as it is.
    pub(super) fn supplement(&self, feed: &mut Feed) {
        if feed.published.is_none() {
            feed.published = self.feed.published();
        }
        if feed.updated.is_none() {
            feed.updated = self.feed.updated();
        }
        // feed-rs drops an RSS 1.0 item without a <link>; its rdf:about is
        // its link, so it comes back, in its place.
        let with_links = self.entries.iter().filter(|f| !f.links.is_empty()).count();
        if feed.feed_type == FeedType::RSS1
            && self.entries.len() > feed.entries.len()
            && with_links == feed.entries.len()
        {
            let mut read = std::mem::take(&mut feed.entries).into_iter();
            feed.entries = self
                .entries
                .iter()
                .filter_map(|f| {
                    if f.links.is_empty() {
                        f.about.is_some().then(|| f.to_entry())
                    } else {
                        read.next()
                    }
                })
                .collect();
        }
        if self.entries.len() != feed.entries.len() {
            return;
        }
        let is_rss = matches!(
            feed.feed_type,
            FeedType::RSS0 | FeedType::RSS1 | FeedType::RSS2
        );
        for (entry, fields) in feed.entries.iter_mut().zip(&self.entries) {
            let title_missing = entry
                .title
                .as_ref()
                .is_none_or(|t| t.content.trim().is_empty());
            if let Some(title) = fields.any_title()
                && (title_missing || title.markup_inside || title.base64)
            {
                entry.title = Some(text_of(title));
            }
            // feed-rs copies an RSS item's pubDate into `updated`; a date
            // of its own wins.
            let copied = is_rss && entry.updated == entry.published;
            // The preferred publication date: feed-rs takes the last of
            // pubDate and dc:date, feedparser and this reader pubDate.
            if let Some(published) = fields.published() {
                entry.published = Some(published);
                if copied {
                    entry.updated = Some(published);
                }
            }
            if (entry.updated.is_none() || copied)
                && let Some(updated) = fields.updated()
            {
                entry.updated = Some(updated);
            }
            if entry.published.is_none() && entry.updated.is_none() {
                entry.updated = fields.updated();
            }
            if entry.links.is_empty() {
                entry.links = fields.links.clone();
                if entry.links.is_empty()
                    && let Some(about) = &fields.about
                {
                    entry.links.push(link(about, None));
                }
            }
            if entry
                .authors
                .iter()
                .all(|p| p.name.is_none() && p.email.is_none())
            {
                entry.authors = fields.authors.clone();
            } else {
                // An e-mail feed-rs left out of a person it read.
                for person in &mut entry.authors {
                    if person.email.is_none()
                        && let Some(found) = fields
                            .authors
                            .iter()
                            .find(|p| p.name.is_some() && p.name == person.name)
                    {
                        person.email.clone_from(&found.email);
                    }
                }
            }
            if let Some(summary) = fields.summary.as_ref().filter(|s| s.base64) {
                entry.summary = Some(text_of(summary));
            }
            if let Some(content) = fields.content.as_ref().filter(|c| c.base64) {
                entry.content = Some(content_of(content));
            }
            if entry.summary.is_none()
                && entry.content.is_none()
                && let Some(summary) = &fields.summary
            {
                entry.summary = Some(text_of(summary));
            }
        }
    }
}
