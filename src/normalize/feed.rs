//! What a feed entry gives, read out of feed-rs's model into a [`RawEntry`]:
//! which of its texts is the summary and which the body, which of its
//! links come first, which of its dates feed-rs made up, and its people
//! and categories as plain text.

use super::text::{self, Markup};
use super::{RawEntry, Text, language_tag};
use feed_rs::model::{Category, Entry, Feed, FeedType, Person};
use std::borrow::Cow;
use std::collections::HashSet;
use url::Url;

/// `entry` of `feed`, fetched from `feed_url`, as a [`RawEntry`];
/// `feed_authors` stand in for an entry that names none.
pub(super) fn raw_entry<'e>(
    entry: &'e Entry,
    feed: &'e Feed,
    feed_url: &Url,
    feed_authors: &[String],
) -> RawEntry<'e> {
    let feed_type = &feed.feed_type;
    // The base the entry's own xml:base sets, if any. feed-rs only keeps
    // the one on an Atom entry's <content>, as written; the links it read
    // are already resolved against every xml:base in scope.
    let xml_base = entry
        .base
        .as_deref()
        .and_then(|b| feed_url.join(b.trim()).ok());

    let summary = entry
        .summary
        .as_ref()
        .filter(|s| !s.content.trim().is_empty())
        .map(|s| Text {
            content: Cow::Borrowed(s.content.as_str()),
            markup: text::markup_of(s, feed_type),
        });
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
        Some(Text {
            content: Cow::Borrowed(body),
            markup,
        })
    });

    // feed-rs copies an RSS item's pubDate into `updated` when the item
    // has no update date of its own. That is not a date the source gave.
    let copied_by_feed_rs = matches!(feed_type, FeedType::RSS0 | FeedType::RSS1 | FeedType::RSS2)
        && entry.updated == entry.published;

    let authors = author_names(&entry.authors, feed_type);
    RawEntry {
        guid: Cow::Borrowed(&entry.id),
        links: page_links_first(entry),
        base: xml_base.clone().unwrap_or_else(|| feed_url.clone()),
        body_base: xml_base,
        title: entry.title.as_ref().map(|t| Text {
            content: Cow::Borrowed(t.content.as_str()),
            markup: text::title_markup_of(t, feed_type),
        }),
        summary: summary.clone().or_else(|| content.clone()),
        body: content.or(summary),
        published: entry.published,
        updated: if copied_by_feed_rs {
            None
        } else {
            entry.updated
        },
        fallback_date: feed.updated.or(feed.published),
        authors: if authors.is_empty() {
            feed_authors.to_vec()
        } else {
            authors
        },
        categories: category_names(&entry.categories, feed_type),
        // The entry's own language, else its feed's.
        language: [&entry.language, &feed.language]
            .into_iter()
            .flatten()
            .find(|l| language_tag(l).is_some())
            .map(|l| Cow::Borrowed(l.as_str())),
        text_alone_is_an_item: true,
    }
}

/// The entry's links, those to its own page first (`rel` none or
/// `alternate`), then the others.
fn page_links_first(entry: &Entry) -> Vec<Cow<'_, str>> {
    let (page, other): (Vec<_>, Vec<_>) = entry
        .links
        .iter()
        .partition(|l| super::links::is_page_link(l));
    page.into_iter()
        .chain(other)
        .map(|l| Cow::Borrowed(l.href.as_str()))
        .collect()
}

/// The people as plain text, trimmed, without repeats or blanks: each one's
/// name, with the e-mail address after it (`Name <mail>`) when the feed gives
/// one, or the address alone when it gives no name.
pub(super) fn author_names(people: &[Person], feed_type: &FeedType) -> Vec<String> {
    let names = people.iter().map(|p| {
        // RSS <author> is "email (Name)"; feed-rs takes the email out and
        // leaves the parentheses.
        let name = p.name.as_deref().unwrap_or("").trim();
        let name = name
            .strip_prefix('(')
            .and_then(|n| n.strip_suffix(')'))
            .unwrap_or(name);
        let name = short_text(name, feed_type);
        let email = p
            .email
            .as_deref()
            .map(|e| text::collapse_whitespace(e.trim().trim_start_matches("mailto:")))
            .filter(|e| !e.is_empty() && e.contains('@') && *e != name);
        match email {
            Some(email) if name.is_empty() => email,
            Some(email) => format!("{name} <{email}>"),
            None => name,
        }
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
