//! Normalize: a pure function from what a source gave to [`Item`]s.
//!
//! Every rule that makes the one [`Item`] shape lives here, for feeds and
//! pages alike: which key identifies an item, which link is its page, what
//! counts as its title, summary and content, which dates are believable, and
//! its content hash. A feed's entries (feed-rs's model, read in [`feed`]) and
//! a page's entries (read by the page stage with its selectors) both arrive
//! as a [`RawEntry`], and [`items`] shapes every one of them. Submodules hold
//! the pieces: [`links`] (choosing and cleaning the link), [`text`] (plain
//! text out of HTML, bounded summaries), [`sanitize`] (ammonia) and
//! [`article`] (what a followed item page adds to its item).

mod article;
mod feed;
pub(crate) mod links;
pub(crate) mod sanitize;
pub(crate) mod text;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod feedparser_tests;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod shape_tests;
#[cfg(test)]
mod tests;

pub use article::{Article, apply_article, apply_full_text, keep_followed, keep_full_text};
pub use text::{Markup, plain_title};

use crate::item::{Item, ItemId, SourceRef};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use feed_rs::model::Feed;
use std::borrow::Cow;
use std::collections::HashSet;
use url::Url;

/// Longest plain-text summary, in characters.
pub const SUMMARY_MAX_CHARS: usize = 500;

/// Longest title made from the summary of an untitled item, in characters.
pub(crate) const DERIVED_TITLE_MAX_CHARS: usize = 80;

/// The title of an item with neither a title nor any text.
pub(crate) const UNTITLED: &str = "(untitled)";

/// 1990-01-01T00:00:00Z, as a Unix timestamp. Dates before it are not
/// believed: no library news item is that old, and broken feeds and CMSes
/// emit the Unix epoch (or a year 0001, or 1969 from a timezone shift) when
/// they have no date.
const EARLIEST_BELIEVABLE_DATE: i64 = 631_152_000;

/// Turns every entry of `feed` into an [`Item`] of `source`.
///
/// `feed_url` is where the feed was fetched from, for resolving relative
/// links; `now` is the first-seen time for undated items and the clamp for
/// future dates. The same arguments always give the same items.
///
/// Entries are kept in feed order. When two entries get the same id (feeds do
/// repeat guids), the first one wins.
pub fn normalize(source: &SourceRef, feed_url: &Url, feed: &Feed, now: DateTime<Utc>) -> Vec<Item> {
    let feed_authors = feed::author_names(&feed.authors, &feed.feed_type);
    let entries = feed
        .entries
        .iter()
        .map(|entry| feed::raw_entry(entry, feed, feed_url, &feed_authors));
    items(source, entries, now)
}

/// A piece of text as the source gave it, and how to read it.
#[derive(Debug, Clone)]
pub struct Text<'a> {
    /// The text, markup and all.
    pub content: Cow<'a, str>,
    /// Whether `<` in it is markup.
    pub markup: Markup,
}

impl<'a> Text<'a> {
    /// Literal text.
    pub fn plain(content: impl Into<Cow<'a, str>>) -> Text<'a> {
        Text {
            content: content.into(),
            markup: Markup::Plain,
        }
    }

    /// HTML (or XHTML) markup.
    pub fn html(content: impl Into<Cow<'a, str>>) -> Text<'a> {
        Text {
            content: content.into(),
            markup: Markup::Html,
        }
    }

    /// The text a reader sees, white space collapsed.
    fn plain_text(&self) -> String {
        text::plain_text(&self.content, self.markup)
    }
}

/// One entry as its source gave it, before any item rule: what the feed
/// reader found in an entry, or what a page's selectors found in one of its
/// elements. [`items`] makes it an [`Item`].
#[derive(Debug, Clone)]
pub struct RawEntry<'a> {
    /// The entry's own guid or id, as given; empty when it has none.
    pub guid: Cow<'a, str>,
    /// Candidate links to the entry's page, best first, as written: the first
    /// that resolves to an http(s) URL is the item's link (else the guid,
    /// when that is one).
    pub links: Vec<Cow<'a, str>>,
    /// What relative links mean: a feed's `xml:base` or its URL, a page's
    /// `<base href>` or its URL. The last resort for the body's links too.
    pub base: Url,
    /// An explicit base for the relative URLs in the body (a feed entry's
    /// `xml:base`), which wins over the item's link.
    pub body_base: Option<Url>,
    /// The title; None or blank when the source gave none.
    pub title: Option<Text<'a>>,
    /// The text that stands for the entry's summary.
    pub summary: Option<Text<'a>>,
    /// The body: HTML to sanitize, or plain text to escape.
    pub body: Option<Text<'a>>,
    /// The source's publication date.
    pub published: Option<DateTime<Utc>>,
    /// The source's update date.
    pub updated: Option<DateTime<Utc>>,
    /// The date of an entry that has none, when its neighbours have none
    /// either: its feed's own date (`lastBuildDate`, `pubDate`, `updated`).
    pub fallback_date: Option<DateTime<Utc>>,
    /// Author names, plain text, each once.
    pub authors: Vec<String>,
    /// Category names, plain text, each once.
    pub categories: Vec<String>,
    /// The language, as the source wrote it (`en_US`, `de-DE`).
    pub language: Option<Cow<'a, str>>,
    /// What an entry with no guid, link or title is: true, an item known by
    /// its text (RSS 0.9x allows an item with only a description); false,
    /// nothing (a page's repeated element with neither link nor title is
    /// layout, a spacer or an ad slot, not news).
    pub text_alone_is_an_item: bool,
}

/// Shapes every entry into an [`Item`] of `source`, in order; when two
/// entries get the same id, the first one wins.
///
/// `now` is the first-seen time of an undated entry and the clamp for
/// future dates. The same arguments always give the same items.
pub fn items<'a>(
    source: &SourceRef,
    entries: impl IntoIterator<Item = RawEntry<'a>>,
    now: DateTime<Utc>,
) -> Vec<Item> {
    // Whole seconds everywhere: the published form is RFC 3339 to the second,
    // and a store comparing dates should see what subscribers see.
    let now = now.trunc_subsecs(0);
    let entries = entries.into_iter();
    let mut seen = HashSet::with_capacity(entries.size_hint().0);
    let mut drafts = Vec::with_capacity(entries.size_hint().0);
    for entry in entries {
        let draft = Draft::read(entry);
        let Some(key) = draft.key() else {
            continue;
        };
        let id = ItemId::derive(&source.id, &key);
        // Checked before the costly part (sanitizing), so a source that
        // repeats one entry many times costs little.
        if !seen.insert(id.clone()) {
            continue;
        }
        drafts.push((id, draft));
    }
    let dates = undated_dates(&drafts);
    drafts
        .into_iter()
        .zip(dates)
        .map(|((id, draft), date)| draft.shape(id, source, now, date))
        .collect()
}

/// The date each entry is published at when it gives none: that of the
/// nearest dated entry before it in feed order (feeds list newest first,
/// so it stays where its feed put it, below that one), else after it, else
/// its feed's own date; None (the first-seen time) when there is none. For a
/// dated entry, None.
fn undated_dates(drafts: &[(ItemId, Draft<'_>)]) -> Vec<Option<DateTime<Utc>>> {
    let date = |d: &Draft<'_>| d.published.or(d.updated);
    let mut dates = vec![None; drafts.len()];
    let mut before = None;
    for (slot, (_, draft)) in dates.iter_mut().zip(drafts) {
        match date(draft) {
            Some(d) => before = Some(d),
            None => *slot = before,
        }
    }
    let mut after = None;
    for (slot, (_, draft)) in dates.iter_mut().zip(drafts).rev() {
        match date(draft) {
            Some(d) => after = Some(d),
            None => {
                *slot = slot
                    .or(after)
                    .or_else(|| believable(draft.entry.fallback_date));
            }
        }
    }
    dates
}

/// A [`RawEntry`] with what its key and its item share worked out once.
struct Draft<'a> {
    entry: RawEntry<'a>,
    /// The canonical link.
    link: Option<Url>,
    /// The title as plain text; empty when the source gave none.
    title: String,
    /// The source's publication date, if believable: the key's date.
    published: Option<DateTime<Utc>>,
    /// The source's update date, if believable.
    updated: Option<DateTime<Utc>>,
}

impl<'a> Draft<'a> {
    fn read(entry: RawEntry<'a>) -> Draft<'a> {
        let link = entry
            .links
            .iter()
            .find_map(|href| links::canonical_url(href, &entry.base))
            .or_else(|| links::guid_as_link(&entry.guid));
        Draft {
            link,
            title: entry
                .title
                .as_ref()
                .map(|t| text::decode_leftover_entities(t.plain_text()))
                .unwrap_or_default(),
            published: believable(entry.published),
            updated: believable(entry.updated),
            entry,
        }
    }

    /// What identifies the entry within its source, with its kind as a prefix
    /// so that a guid can never equal a link or a title.
    ///
    /// In order: the entry's own guid or id; its canonical link; its title and
    /// publication date; its text (or nothing, see
    /// [`RawEntry::text_alone_is_an_item`]). Nothing here depends on `now` or
    /// on the entry's position, so the key is the same on every poll.
    fn key(&self) -> Option<String> {
        let guid = self.entry.guid.trim();
        if !guid.is_empty() {
            return Some(format!("guid:{guid}"));
        }
        if let Some(link) = &self.link {
            return Some(format!("link:{link}"));
        }
        if !self.title.is_empty() {
            // The publication date only: an update date moves when the entry
            // is edited, and the edit must stay the same item.
            let date = self
                .published
                .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default();
            return Some(format!("title:{}\n{date}", self.title));
        }
        self.entry
            .text_alone_is_an_item
            .then(|| format!("text:{}", self.summary_text()))
    }

    /// The plain text of the summary, white space collapsed. Not kept: most
    /// entries need it only once they are known not to repeat an earlier one.
    fn summary_text(&self) -> String {
        self.entry
            .summary
            .as_ref()
            .map(Text::plain_text)
            .unwrap_or_default()
    }

    /// The item: title fallback, bounded summary, sanitized body, dates
    /// clamped to `now` (`undated` for an entry without any), and its
    /// content hash.
    fn shape(
        self,
        id: ItemId,
        source: &SourceRef,
        now: DateTime<Utc>,
        undated: Option<DateTime<Utc>>,
    ) -> Item {
        let summary = self.summary_text();
        let title = if !self.title.is_empty() {
            self.title
        } else if summary.is_empty() {
            UNTITLED.to_owned()
        } else {
            text::truncate_at_word(&summary, DERIVED_TITLE_MAX_CHARS)
        };
        // Relative URLs in an entry's HTML were written for the page the
        // entry came from, so its link is the best base after an explicit
        // one; the source's own URL is the last resort (and is wrong for a
        // feed served from a proxy such as FeedBurner).
        let entry = self.entry;
        let body_base = entry
            .body_base
            .as_ref()
            .or(self.link.as_ref())
            .unwrap_or(&entry.base);
        let content_html = entry
            .body
            .as_ref()
            .and_then(|body| body_html(body, body_base));
        let published = self.published.or(self.updated);
        let mut item = Item {
            id,
            source: source.clone(),
            guid: text::without_forbidden_chars(entry.guid.into_owned()),
            url: self.link.as_ref().map(Url::to_string),
            title,
            summary: text::truncate_at_word(&summary, SUMMARY_MAX_CHARS),
            content_html,
            authors: entry.authors,
            categories: entry.categories,
            language: entry.language.as_deref().and_then(language_tag),
            published: published.or(undated).map_or(now, |d| d.min(now)),
            published_from_source: published.is_some(),
            updated: self.updated.map(|d| d.min(now)),
            // The store numbers revisions; a fresh item is the first.
            revision: 1,
            content_hash: String::new(),
        };
        seal(&mut item);
        item
    }
}

/// The sanitized HTML of `body`, or its plain text escaped; None when
/// nothing is left.
fn body_html(body: &Text<'_>, base: &Url) -> Option<String> {
    let html = match body.markup {
        Markup::Html => sanitize::sanitize_html(&body.content, base)?,
        Markup::Plain => {
            let body = body.content.trim();
            if body.is_empty() {
                return None;
            }
            text::escape_html(body)
        }
    };
    // The merged feed is XML: no character XML forbids may reach it.
    let html = text::without_forbidden_chars(html);
    (!html.trim().is_empty()).then_some(html)
}

/// Sets the content hash from the fields it covers: the one place an item's
/// hash is made, after the last of those fields is set.
fn seal(item: &mut Item) {
    item.content_hash = item.compute_content_hash();
}

/// Gives `item` the title `title` (an admin's rewrite of it), shaped as a
/// feed's title is: white space collapsed, no character XML forbids, and the
/// untitled fallback when nothing is left; then seals it. Returns whether
/// the title changed.
pub fn retitle(item: &mut Item, title: &str) -> bool {
    let mut title = text::collapse_whitespace(title);
    if title.is_empty() {
        title = if item.summary.is_empty() {
            UNTITLED.to_owned()
        } else {
            text::truncate_at_word(&item.summary, DERIVED_TITLE_MAX_CHARS)
        };
    }
    if title == item.title {
        return false;
    }
    item.title = title;
    seal(item);
    true
}

/// Gives `item` the summary `summary` (an admin's rewrite of it), shaped as
/// a feed's summary is: white space collapsed, bounded to
/// [`SUMMARY_MAX_CHARS`]; then seals it. Returns whether the summary changed.
pub fn resummarize(item: &mut Item, summary: &str) -> bool {
    let summary = text::truncate_at_word(&text::collapse_whitespace(summary), SUMMARY_MAX_CHARS);
    if summary == item.summary {
        return false;
    }
    item.summary = summary;
    seal(item);
    true
}

/// The text a reader sees in an item's sanitized content; empty when it has none.
pub fn content_text(item: &Item) -> String {
    item.content_html
        .as_deref()
        .map(text::html_to_text)
        .unwrap_or_default()
}

/// `date` in whole seconds, or None when it is missing or before 1990 (see
/// [`EARLIEST_BELIEVABLE_DATE`]).
fn believable(date: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    date.filter(|d| d.timestamp() >= EARLIEST_BELIEVABLE_DATE)
        .map(|d| d.trunc_subsecs(0))
}

/// A language tag as BCP 47 spells it: lowercase, `-` not `_` (RSS feeds
/// write `en_US`), white space collapsed and trimmed. None when empty.
fn language_tag(raw: &str) -> Option<String> {
    let tag = text::collapse_whitespace(&raw.to_ascii_lowercase().replace('_', "-"));
    (!tag.is_empty()).then_some(tag)
}
