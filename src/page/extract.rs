//! A list page's entries, read with the selectors and shaped by normalize.

use super::date::parse_date;
use super::select::{PageSelectors, first, value, value_or_text};
use crate::item::{Item, SourceRef};
use crate::normalize::{RawEntry, Text, items};
use crate::parse::document_base;
use chrono::{DateTime, Utc};
use scraper::Html;
use std::borrow::Cow;
use url::Url;

/// What one list page gave.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    /// The items, in page order, each id once.
    pub items: Vec<Item>,
    /// Date texts the selectors found but could not read (so those items are
    /// dated when first seen): a hint that `date_format` is wrong.
    pub unreadable_dates: Vec<String>,
}

/// Reads every item of a list page.
///
/// `base` is where the page was fetched from (a `<base href>` in the page
/// wins), for resolving relative links. Each element the `item` selector
/// picks is an entry whose link, title, date and summary its selectors read;
/// normalize makes the items, as it does a feed's entries, so an item's id
/// comes from its resolved link (`link:<url>`), else from its title, and an
/// entry with neither is skipped. Items without a readable date get `now`,
/// with `published_from_source = false`, as undated feed items do.
pub fn extract(
    source: &SourceRef,
    selectors: &PageSelectors,
    html: &str,
    base: &Url,
    now: DateTime<Utc>,
) -> Extracted {
    let document = Html::parse_document(html);
    let base = document_base(&document, base);
    let language = document.root_element().attr("lang");
    let mut unreadable_dates = Vec::new();
    let entries: Vec<RawEntry<'_>> = document
        .select(&selectors.item)
        .map(|element| {
            let date_text = value_or_text(&selectors.date, element);
            let published = date_text.and_then(|text| {
                let date = parse_date(&text, selectors.date_format.as_deref(), selectors.timezone);
                if date.is_none() {
                    unreadable_dates.push(text);
                }
                date
            });
            // The summary's text; its own HTML is the item's body, unless
            // the selector reads an attribute, which has no markup.
            let summary = selectors.summary.as_ref().and_then(|s| {
                let text = value(s, element)?;
                let html = match s.attribute() {
                    None => first(s, element).map(|e| e.inner_html()),
                    Some(_) => None,
                };
                Some((text, html))
            });
            let (summary, body) = match summary {
                Some((text, html)) => (Some(Text::plain(text)), html.map(Text::html)),
                None => (None, None),
            };
            RawEntry {
                guid: Cow::Borrowed(""),
                links: value(&selectors.link, element)
                    .map(Cow::Owned)
                    .into_iter()
                    .collect(),
                base: base.clone(),
                body_base: None,
                title: value(&selectors.title, element).map(Text::plain),
                summary,
                body,
                published,
                updated: None,
                fallback_date: None,
                authors: Vec::new(),
                categories: Vec::new(),
                language: language.map(Cow::Borrowed),
                text_alone_is_an_item: false,
            }
        })
        .collect();
    Extracted {
        items: items(source, entries, now),
        unreadable_dates,
    }
}
