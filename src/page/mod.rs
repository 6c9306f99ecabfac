//! Page: items out of an HTML news page that has no feed, with CSS selectors.
//!
//! A pure stage, like parse and normalize: HTML bytes, the page's URL, the
//! source's `[sources.page]` selectors and `now` in, [`Item`]s out, with no
//! I/O and no clock. The items are built with normalize's own helpers (link
//! canonicalization, plain text, ammonia), so a page item and a feed item
//! look alike to the store, the outbox and the merged feed.
//!
//! - [`extract`] reads a list page; [`extract_article`] and
//!   [`apply_article`] read an item's own page for `follow = true`.
//! - [`decode_html`] turns the bytes into text (BOM, HTTP charset,
//!   `<meta charset>`, the source's `encoding` override).
//! - [`judge_yield`] decides when a page "may have stale selectors".
//! - [`discover`] backs `librarywire discover`: advertised feeds, and a
//!   suggested page config for a page with none.

mod decode;
pub mod discover;
#[cfg(test)]
mod tests;

pub use decode::decode_html;

use crate::config::PageSettings;
use crate::item::{Item, ItemId, SourceRef};
use crate::normalize::links::canonical_url;
use crate::normalize::sanitize::sanitize_html;
use crate::normalize::text::{
    collapse_whitespace, html_to_text, truncate_at_word, without_forbidden_chars,
};
use crate::normalize::{DERIVED_TITLE_MAX_CHARS, SUMMARY_MAX_CHARS, UNTITLED, believable};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use scraper::{ElementRef, Html, Selector};
use std::collections::HashSet;
use url::Url;

/// At most this many new items' own pages are fetched in one poll of a
/// `follow = true` source; the rest wait for the next poll.
pub const MAX_ARTICLES_PER_POLL: usize = 20;

/// A page source's selectors cannot be used. Validation catches these at
/// start; this is for settings that never went through it.
#[derive(Debug, thiserror::Error)]
#[error("page.{field}: {message}")]
pub struct PageError {
    /// The `[sources.page]` key.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// One configured selector: a CSS selector, optionally followed by
/// `@attribute` to read that attribute instead of the text.
///
/// `@href` alone (no CSS part) reads the attribute of the element in scope
/// itself, for pages whose item *is* the link.
#[derive(Debug, Clone)]
pub struct FieldSelector {
    /// None: the element in scope itself.
    selector: Option<Selector>,
    attribute: Option<String>,
}

impl FieldSelector {
    /// Parses `a@href`, `time@datetime`, `h2 > a`, `@href`. The message
    /// names what is wrong, for `check-config`.
    pub fn parse(text: &str) -> Result<FieldSelector, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("is empty; give a CSS selector such as `h2 a`".to_owned());
        }
        // The attribute is what follows the last `@`, when that is a plain
        // attribute name: an `@` inside `[href*="@"]` is part of the CSS.
        let (css, attribute) = match trimmed.rsplit_once('@') {
            Some((css, attr)) if is_attribute_name(attr) => (css.trim(), Some(attr.to_owned())),
            Some((_, attr)) if !attr.contains([']', '"', '\'']) => {
                return Err(format!(
                    "`{trimmed}`: `{attr}` after `@` is not an attribute name (write `a@href`)"
                ));
            }
            _ => (trimmed, None),
        };
        if css.is_empty() {
            return match attribute {
                Some(attribute) => Ok(FieldSelector {
                    selector: None,
                    attribute: Some(attribute),
                }),
                None => Err(format!("`{trimmed}` has no CSS selector")),
            };
        }
        let selector =
            Selector::parse(css).map_err(|e| format!("`{css}` is not a CSS selector: {e}"))?;
        Ok(FieldSelector {
            selector: Some(selector),
            attribute,
        })
    }

    /// The first element it picks within `scope` (`scope` itself for `@attr`).
    fn first<'a>(&self, scope: ElementRef<'a>) -> Option<ElementRef<'a>> {
        match &self.selector {
            Some(selector) => scope.select(selector).next(),
            None => Some(scope),
        }
    }

    /// The attribute's value, or the element's text, white space collapsed.
    /// None when nothing matches or the value is empty.
    fn value(&self, scope: ElementRef<'_>) -> Option<String> {
        let element = self.first(scope)?;
        let value = match &self.attribute {
            Some(attribute) => collapse_whitespace(element.attr(attribute)?),
            None => element_text(element),
        };
        (!value.is_empty()).then_some(value)
    }

    /// Like [`FieldSelector::value`], but an element that lacks the
    /// attribute gives its text: a `<time>` without `datetime` still shows a
    /// date.
    fn value_or_text(&self, scope: ElementRef<'_>) -> Option<String> {
        let element = self.first(scope)?;
        let from_attribute = self
            .attribute
            .as_deref()
            .and_then(|a| element.attr(a))
            .map(collapse_whitespace)
            .filter(|v| !v.is_empty());
        from_attribute.or_else(|| Some(element_text(element)).filter(|v| !v.is_empty()))
    }
}

fn is_attribute_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'))
}

/// The text a reader sees in `element`, as normalize reads feed HTML.
fn element_text(element: ElementRef<'_>) -> String {
    html_to_text(&element.inner_html())
}

/// A source's `[sources.page]` table, compiled once per poll.
#[derive(Debug, Clone)]
pub struct PageSelectors {
    item: Selector,
    title: FieldSelector,
    link: FieldSelector,
    date: FieldSelector,
    summary: Option<FieldSelector>,
    content: Option<FieldSelector>,
    date_format: Option<String>,
    timezone: Option<Tz>,
}

impl PageSelectors {
    /// Compiles `page`; `timezone` is the source's, for dates without one.
    pub fn compile(page: &PageSettings, timezone: Option<Tz>) -> Result<PageSelectors, PageError> {
        let field = |name: &'static str, text: &str| {
            FieldSelector::parse(text).map_err(|message| PageError {
                field: name,
                message,
            })
        };
        let item = match field("item", &page.item)? {
            FieldSelector {
                selector: Some(selector),
                attribute: None,
            } => selector,
            _ => {
                return Err(PageError {
                    field: "item",
                    message: format!("`{}` must be a CSS selector without `@`", page.item),
                });
            }
        };
        Ok(PageSelectors {
            item,
            title: field("title", &page.title)?,
            link: field("link", &page.link)?,
            date: field("date", &page.date)?,
            summary: page
                .summary
                .as_deref()
                .map(|s| field("summary", s))
                .transpose()?,
            content: page
                .content
                .as_deref()
                .map(|s| field("content", s))
                .transpose()?,
            date_format: page.date_format.clone(),
            timezone,
        })
    }
}

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
/// wins), for resolving relative links. An item's id is derived from its
/// resolved link exactly as normalize derives a feed entry's
/// (`link:<url>`), else from its title; an item with neither is skipped.
/// Items without a readable date get `now`, with
/// `published_from_source = false`, as undated feed items do.
pub fn extract(
    source: &SourceRef,
    selectors: &PageSelectors,
    html: &str,
    base: &Url,
    now: DateTime<Utc>,
) -> Extracted {
    let now = now.trunc_subsecs(0);
    let document = Html::parse_document(html);
    let base = document_base(&document, base);
    let mut extracted = Extracted::default();
    let mut seen = HashSet::new();
    for element in document.select(&selectors.item) {
        let link = selectors
            .link
            .value(element)
            .and_then(|href| canonical_url(&href, &base));
        let source_title = selectors.title.value(element).unwrap_or_default();
        let date_text = selectors.date.value_or_text(element);
        let published = date_text.as_deref().and_then(|text| {
            let date = parse_date(text, selectors.date_format.as_deref(), selectors.timezone);
            if date.is_none() {
                extracted.unreadable_dates.push(text.to_owned());
            }
            believable(date)
        });
        let key = if let Some(link) = &link {
            format!("link:{link}")
        } else if !source_title.is_empty() {
            let date = published
                .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_default();
            format!("title:{source_title}\n{date}")
        } else {
            // A repeated structure with neither link nor title is layout
            // (a spacer, an ad slot), not news.
            continue;
        };
        let id = ItemId::derive(&source.id, &key);
        if !seen.insert(id.clone()) {
            continue;
        }
        let html_base = link.clone().unwrap_or_else(|| base.clone());
        let summary_element = selectors.summary.as_ref().and_then(|s| {
            let text = s.value(element)?;
            // The summary's own HTML is the item's body, unless the selector
            // reads an attribute, which has no markup.
            let html = match s.attribute {
                None => s.first(element).map(|e| e.inner_html()),
                Some(_) => None,
            };
            Some((text, html))
        });
        let (summary_text, body) = summary_element.unwrap_or_default();
        let title = if !source_title.is_empty() {
            source_title
        } else if !summary_text.is_empty() {
            truncate_at_word(&summary_text, DERIVED_TITLE_MAX_CHARS)
        } else {
            UNTITLED.to_owned()
        };
        let mut item = Item {
            id,
            source: source.clone(),
            guid: String::new(),
            url: link.as_ref().map(Url::to_string),
            title,
            summary: truncate_at_word(&summary_text, SUMMARY_MAX_CHARS),
            content_html: body.and_then(|b| clean_html(&b, &html_base)),
            authors: Vec::new(),
            categories: Vec::new(),
            language: document_language(&document),
            published: published.map_or(now, |d| d.min(now)),
            published_from_source: published.is_some(),
            updated: None,
            revision: 1,
            content_hash: String::new(),
        };
        item.content_hash = item.compute_content_hash();
        extracted.items.push(item);
    }
    extracted
}

/// What an item's own page gave, for `follow = true`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Article {
    /// The sanitized body that the `content` selector picks.
    pub content_html: Option<String>,
    /// The body's plain text, for an item whose list entry had no summary.
    pub text: String,
    /// The date the `date` selector finds anywhere on the page.
    pub published: Option<DateTime<Utc>>,
}

/// Reads an item's own page: only what `content` picks becomes the body, so
/// the site's navigation and footer stay out; the date is the first one the
/// `date` selector finds in the whole page.
pub fn extract_article(selectors: &PageSelectors, html: &str, url: &Url) -> Article {
    let document = Html::parse_document(html);
    let base = document_base(&document, url);
    let root = document.root_element();
    let body = selectors.content.as_ref().and_then(|c| c.first(root));
    let published = selectors
        .date
        .value_or_text(root)
        .and_then(|t| parse_date(&t, selectors.date_format.as_deref(), selectors.timezone))
        .and_then(|d| believable(Some(d)));
    Article {
        content_html: body.and_then(|b| clean_html(&b.inner_html(), &base)),
        text: body.map(element_text).unwrap_or_default(),
        published,
    }
}

/// Puts what an item's own page gave into the item: its body, a summary when
/// the list had none, and its date when the list had none.
pub fn apply_article(item: &mut Item, article: Article, now: DateTime<Utc>) {
    if article.content_html.is_some() {
        item.content_html = article.content_html;
    }
    if item.summary.is_empty() && !article.text.is_empty() {
        item.summary = truncate_at_word(&article.text, SUMMARY_MAX_CHARS);
    }
    if !item.published_from_source
        && let Some(date) = article.published
    {
        item.published = date.min(now.trunc_subsecs(0));
        item.published_from_source = true;
    }
    item.content_hash = item.compute_content_hash();
}

/// For an item of a `follow = true` source that is already stored (so its
/// page is not fetched again): keeps what its page gave last time, its
/// body, summary and date, so that re-reading the list alone does not look
/// like an edit. What the list itself says (title, link) still counts.
pub fn keep_followed(item: &mut Item, stored: &Item) {
    item.content_html.clone_from(&stored.content_html);
    if item.summary.is_empty() {
        item.summary.clone_from(&stored.summary);
    }
    if !item.published_from_source && stored.published_from_source {
        item.published = stored.published;
        item.published_from_source = true;
    }
    item.content_hash = item.compute_content_hash();
}

/// What a page poll's item count says about its selectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YieldVerdict {
    /// The count later polls are compared with.
    pub baseline: Option<u64>,
    /// "selectors may be stale: …" when the count looks like rot.
    pub warning: Option<String>,
}

/// Judges a page poll that found `current` items against the `previous`
/// baseline: none at all, or under a third of the baseline, says the page
/// changed under its selectors.
///
/// While the warning stands the baseline is kept, so the flag stays up until
/// the page yields as before (or the admin fixes the selectors), instead of
/// clearing itself on the next, equally poor, poll.
pub fn judge_yield(previous: Option<u64>, current: usize) -> YieldVerdict {
    let current_u64 = current as u64;
    let warning = if current == 0 {
        Some("selectors may be stale: the page yielded no items".to_owned())
    } else {
        match previous {
            Some(before) if current_u64.saturating_mul(3) < before => Some(format!(
                "selectors may be stale: the page yielded {current} items, down from {before}"
            )),
            _ => None,
        }
    };
    YieldVerdict {
        baseline: if warning.is_some() {
            previous
        } else {
            Some(current_u64)
        },
        warning,
    }
}

/// `html` sanitized as normalize sanitizes feed HTML, without the characters
/// XML forbids (the merged feed is XML); None when nothing is left.
fn clean_html(html: &str, base: &Url) -> Option<String> {
    let html = without_forbidden_chars(sanitize_html(html, base)?);
    (!html.trim().is_empty()).then_some(html)
}

/// The page's `<base href>` resolved against where it came from, else that.
fn document_base(document: &Html, fetched_from: &Url) -> Url {
    static BASE: std::sync::LazyLock<Selector> =
        std::sync::LazyLock::new(|| Selector::parse("base[href]").expect("static selector"));
    document
        .select(&BASE)
        .next()
        .and_then(|b| b.attr("href"))
        .and_then(|href| fetched_from.join(href.trim()).ok())
        .unwrap_or_else(|| fetched_from.clone())
}

/// `<html lang>`, as normalize writes language tags.
fn document_language(document: &Html) -> Option<String> {
    let lang = document.root_element().attr("lang")?;
    let tag = collapse_whitespace(&lang.to_ascii_lowercase().replace('_', "-"));
    (!tag.is_empty()).then_some(tag)
}

/// Formats tried after RFC 3339 and before `date_format`: the local date-time
/// and date forms HTML allows in `<time datetime>`, which WordPress and
/// others emit without an offset.
const HTML_DATE_FORMATS: [&str; 3] = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"];

/// Reads a date: RFC 3339, RFC 2822, HTML's local date-time and date forms,
/// then `format` (chrono `strftime`), which may match anywhere in the text
/// ("Date: 2021-08-23 | Source: NLC"), then the parse stage's lenient reader
/// of feed dates (`August 19, 2021`, `Thu, 19 Aug 21 08:00 CST`). Dates
/// without an offset are read in `timezone`, else UTC.
pub fn parse_date(text: &str, format: Option<&str>, timezone: Option<Tz>) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(text) {
        return Some(d.with_timezone(&Utc));
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(text) {
        return Some(d.with_timezone(&Utc));
    }
    for f in HTML_DATE_FORMATS {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, f) {
            return localize(naive, timezone);
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return localize(date.and_hms_opt(0, 0, 0)?, timezone);
    }
    let Some(format) = format else {
        // No format given: the parse stage's reader of dates as feeds write
        // them (month names, two-digit years, zone names), which only says
        // yes when it is sure.
        return crate::parse::date::parse_date(text, timezone);
    };
    let text = &strip_ordinals(text);
    // Try the format at every word start, so a date inside a line of text
    // is found; the text is a date line, so this is a few dozen tries.
    let starts = text
        .char_indices()
        .filter(|(i, c)| {
            *i == 0
                || (c.is_alphanumeric()
                    && !text[..*i]
                        .chars()
                        .next_back()
                        .is_some_and(char::is_alphanumeric))
        })
        .map(|(i, _)| i)
        .take(64);
    for start in starts {
        let rest = &text[start..];
        if let Ok((d, _)) = DateTime::parse_and_remainder(rest, format) {
            return Some(d.with_timezone(&Utc));
        }
        if let Ok((naive, _)) = NaiveDateTime::parse_and_remainder(rest, format) {
            return localize(naive, timezone);
        }
        if let Ok((date, _)) = NaiveDate::parse_and_remainder(rest, format) {
            return localize(date.and_hms_opt(0, 0, 0)?, timezone);
        }
    }
    crate::parse::date::parse_date(text, timezone)
}

/// `text` without English ordinal suffixes on numbers ("January 8th" is
/// "January 8"): chrono's `%d` reads no suffix, and WordPress themes write
/// them all the time.
fn strip_ordinals(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        out.push(c);
        rest = &rest[c.len_utf8()..];
        if c.is_ascii_digit() {
            let suffix = ["st", "nd", "rd", "th"]
                .into_iter()
                .find(|s| rest.get(..2).is_some_and(|r| r.eq_ignore_ascii_case(s)));
            let word_ends = rest
                .get(2..)
                .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric()));
            if suffix.is_some() && word_ends {
                rest = &rest[2..];
            }
        }
    }
    out
}

fn localize(naive: NaiveDateTime, timezone: Option<Tz>) -> Option<DateTime<Utc>> {
    match timezone {
        // `earliest`: in the hour a clock goes back, either reading is
        // right; in the hour it skips, there is none and the date is dropped.
        Some(tz) => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.with_timezone(&Utc)),
        None => Some(Utc.from_utc_datetime(&naive)),
    }
}
