//! Normalize: a pure function from a source and its parsed feed to [`Item`]s.
//!
//! Every rule that turns feed-rs's model into the one [`Item`] shape lives
//! here: which key identifies an item, which link is its page, what counts as
//! its title, summary and content, which dates are believable. Submodules hold
//! the pieces: [`links`] (choosing and cleaning the link), [`text`] (plain
//! text out of HTML, bounded summaries) and [`sanitize`] (ammonia).

pub(crate) mod links;
pub(crate) mod sanitize;
pub(crate) mod text;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod tests;

use crate::item::{Item, ItemId, SourceRef};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use feed_rs::model::{Category, Entry, Feed, FeedType, Person};
use std::collections::HashSet;
use text::Markup;
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
    // Whole seconds everywhere: the published form is RFC 3339 to the second,
    // and a store comparing dates should see what subscribers see.
    let now = now.trunc_subsecs(0);
    let feed_authors = author_names(&feed.authors, &feed.feed_type);
    let feed_language = feed.language.as_deref().and_then(language_tag);

    let mut seen = HashSet::with_capacity(feed.entries.len());
    let mut items = Vec::with_capacity(feed.entries.len());
    for entry in &feed.entries {
        let draft = Draft::read(entry, &feed.feed_type, feed_url);
        let id = ItemId::derive(&source.id, &draft.key());
        // Checked before the costly part (sanitizing), so a feed that repeats
        // one entry many times costs little.
        if !seen.insert(id.clone()) {
            continue;
        }
        let entry_authors = author_names(&entry.authors, &feed.feed_type);
        let language = entry.language.as_deref().and_then(language_tag);
        let mut item = Item {
            id,
            source: source.clone(),
            guid: text::without_forbidden_chars(entry.id.clone()),
            url: draft.link.as_ref().map(Url::to_string),
            title: draft.title(),
            summary: draft.summary(),
            content_html: draft.content_html(),
            authors: if entry_authors.is_empty() {
                feed_authors.clone()
            } else {
                entry_authors
            },
            categories: category_names(&entry.categories, &feed.feed_type),
            language: language.or_else(|| feed_language.clone()),
            published: draft.published.map_or(now, |d| d.min(now)),
            published_from_source: draft.published.is_some(),
            updated: draft.updated.map(|d| d.min(now)),
            // The store numbers revisions; a fresh item is the first.
            revision: 1,
            content_hash: String::new(),
        };
        item.content_hash = item.compute_content_hash();
        items.push(item);
    }
    items
}

/// What one entry gives, read once, before it becomes an [`Item`].
struct Draft<'e> {
    /// The entry's own id, trimmed; empty when it has none.
    guid: &'e str,
    /// The canonical link, see [`links::entry_link`].
    link: Option<Url>,
    /// The title as plain text; empty when the source gave none.
    source_title: String,
    /// The text that stands for the entry's summary: the summary, else the
    /// content; and how to read it.
    summary_text: Option<(&'e str, Markup)>,
    /// The HTML body to sanitize, or plain text to escape: the content when
    /// it is text of some kind, else the summary.
    body: Option<(&'e str, Markup)>,
    /// The base for relative URLs inside `body`.
    html_base: Url,
    /// The source's publication date (else its update date), if believable.
    published: Option<DateTime<Utc>>,
    /// The source's own publication date, if believable: the key's date.
    published_only: Option<DateTime<Utc>>,
    /// The source's update date, if believable.
    updated: Option<DateTime<Utc>>,
}

impl<'e> Draft<'e> {
    fn read(entry: &'e Entry, feed_type: &FeedType, feed_url: &Url) -> Draft<'e> {
        // The base the entry's own xml:base sets, if any. feed-rs only keeps
        // the one on an Atom entry's <content>, as written; the links it read
        // are already resolved against every xml:base in scope.
        let xml_base = entry
            .base
            .as_deref()
            .and_then(|b| feed_url.join(b.trim()).ok());
        let link_base = xml_base.as_ref().unwrap_or(feed_url);
        let link = links::entry_link(entry, link_base);

        let summary = entry
            .summary
            .as_ref()
            .filter(|s| !s.content.trim().is_empty())
            .map(|s| (s.content.as_str(), text::markup_of(s, feed_type)));
        let content = entry.content.as_ref().and_then(|c| {
            let body = c.body.as_deref().filter(|b| !b.trim().is_empty())?;
            let ty = c.content_type.ty();
            let subty = c.content_type.subty();
            let markup = match (ty.as_str(), subty.as_str()) {
                ("text", "html") | ("application" | "text", "xhtml" | "xhtml+xml") => Markup::Html,
                // Atom's type="text" and JSON Feed's content_text.
                ("text", "plain") => Markup::Plain,
                // Base64 media, inline XML of another vocabulary: not
                // something to show as an article.
                _ => return None,
            };
            Some((body, markup))
        });

        // Relative URLs in an entry's HTML were written for the page the entry
        // came from, so its link is the best base after an explicit xml:base;
        // the feed's URL is the last resort (and is wrong for a feed served
        // from a proxy such as FeedBurner).
        let html_base = xml_base
            .or_else(|| link.clone())
            .unwrap_or_else(|| feed_url.clone());

        let published_only = believable(entry.published);
        // feed-rs copies an RSS item's pubDate into `updated` when the item
        // has no update date of its own. That is not a date the source gave.
        let copied_by_feed_rs =
            matches!(feed_type, FeedType::RSS0 | FeedType::RSS1 | FeedType::RSS2)
                && entry.updated == entry.published;
        let updated = if copied_by_feed_rs {
            None
        } else {
            believable(entry.updated)
        };
        Draft {
            guid: entry.id.trim(),
            link,
            source_title: entry
                .title
                .as_ref()
                .map(|t| text::plain_text(&t.content, text::markup_of(t, feed_type)))
                .unwrap_or_default(),
            summary_text: summary.or(content),
            body: content.or(summary),
            html_base,
            published: published_only.or(updated),
            published_only,
            updated,
        }
    }

    /// What identifies the entry within its source, with its kind as a prefix
    /// so that a guid can never equal a link or a title.
    ///
    /// In order: the entry's own guid or id; its canonical link; its title and
    /// publication date; its text. Nothing here depends on `now` or on the
    /// entry's position in the feed, so the key is the same on every poll.
    fn key(&self) -> String {
        if !self.guid.is_empty() {
            return format!("guid:{}", self.guid);
        }
        if let Some(link) = &self.link {
            return format!("link:{link}");
        }
        if !self.source_title.is_empty() {
            // The publication date only: an update date moves when the entry
            // is edited, and the edit must stay the same item.
            let date = self
                .published_only
                .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default();
            return format!("title:{}\n{date}", self.source_title);
        }
        // An entry with no id, link or title (RSS 0.9x allows one with only a
        // description) is known by its text alone.
        format!("text:{}", self.summary_plain())
    }

    /// The plain text of the summary (or content), white space collapsed.
    fn summary_plain(&self) -> String {
        self.summary_text
            .map(|(s, markup)| text::plain_text(s, markup))
            .unwrap_or_default()
    }

    /// The plain-text title; for an untitled entry, the start of its summary.
    fn title(&self) -> String {
        if !self.source_title.is_empty() {
            return self.source_title.clone();
        }
        let summary = self.summary_plain();
        if summary.is_empty() {
            UNTITLED.to_owned()
        } else {
            text::truncate_at_word(&summary, DERIVED_TITLE_MAX_CHARS)
        }
    }

    /// The plain-text summary, bounded by [`SUMMARY_MAX_CHARS`].
    fn summary(&self) -> String {
        text::truncate_at_word(&self.summary_plain(), SUMMARY_MAX_CHARS)
    }

    /// The sanitized HTML body, or the escaped plain text.
    fn content_html(&self) -> Option<String> {
        let (body, markup) = self.body?;
        let html = match markup {
            Markup::Html => sanitize::sanitize_html(body, &self.html_base)?,
            Markup::Plain => {
                let body = body.trim();
                if body.is_empty() {
                    return None;
                }
                text::escape_html(body)
            }
        };
        let html = text::without_forbidden_chars(html);
        (!html.trim().is_empty()).then_some(html)
    }
}

/// `date` in whole seconds, or None when it is missing or before 1990 (see
/// [`EARLIEST_BELIEVABLE_DATE`]).
pub(crate) fn believable(date: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    date.filter(|d| d.timestamp() >= EARLIEST_BELIEVABLE_DATE)
        .map(|d| d.trunc_subsecs(0))
}

/// The names of `people`, as plain text, trimmed, without repeats or blanks.
fn author_names(people: &[Person], feed_type: &FeedType) -> Vec<String> {
    let names = people.iter().filter_map(|p| p.name.as_deref()).map(|name| {
        // RSS <author> is "email (Name)"; feed-rs takes the email out and
        // leaves the parentheses.
        let name = name.trim();
        let name = name
            .strip_prefix('(')
            .and_then(|n| n.strip_suffix(')'))
            .unwrap_or(name);
        short_text(name, feed_type)
    });
    unique_non_empty(names)
}

/// The names of `categories`: the human label when there is one, else the
/// term, as plain text, trimmed, without repeats or blanks.
fn category_names(categories: &[Category], feed_type: &FeedType) -> Vec<String> {
    let names = categories.iter().map(|c| {
        let name = c
            .label
            .as_deref()
            .filter(|l| !l.trim().is_empty())
            .unwrap_or(&c.term);
        short_text(name, feed_type)
    });
    unique_non_empty(names)
}

/// A name or label as plain text. Names never legitimately hold markup, but
/// RSS feeds do double-escape entities in them.
fn short_text(s: &str, feed_type: &FeedType) -> String {
    match feed_type {
        FeedType::Atom | FeedType::JSON => text::collapse_whitespace(s),
        _ => text::html_to_text(s),
    }
}

/// `values` in order, each once, without empty ones.
fn unique_non_empty(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    values
        .filter(|v| !v.is_empty() && seen.insert(v.clone()))
        .collect()
}

/// A language tag as BCP 47 spells it: trimmed, lowercase, `-` not `_`
/// (RSS feeds write `en_US`). None when empty.
fn language_tag(raw: &str) -> Option<String> {
    let tag = text::without_forbidden_chars(raw.trim().to_ascii_lowercase().replace('_', "-"));
    (!tag.is_empty()).then_some(tag)
}
