//! A source's `[sources.page]` selectors, compiled, and what one of them
//! reads inside an element.

use crate::config::{FieldSelector, PageSettings};
use crate::normalize::text::{collapse_whitespace, html_to_text};
use chrono_tz::Tz;
use scraper::{ElementRef, Selector};

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

/// A source's `[sources.page]` table, compiled once per source task.
#[derive(Debug, Clone)]
pub struct PageSelectors {
    pub(super) item: Selector,
    pub(super) title: FieldSelector,
    pub(super) link: FieldSelector,
    pub(super) date: FieldSelector,
    pub(super) summary: Option<FieldSelector>,
    pub(super) content: Option<FieldSelector>,
    pub(super) date_format: Option<String>,
    pub(super) timezone: Option<Tz>,
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
        let item = field("item", &page.item)?;
        let item = match (item.css(), item.attribute()) {
            (Some(selector), None) => selector.clone(),
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

/// The first element `field` picks within `scope` (`scope` itself for `@attr`).
pub(super) fn first<'a>(field: &FieldSelector, scope: ElementRef<'a>) -> Option<ElementRef<'a>> {
    match field.css() {
        Some(selector) => scope.select(selector).next(),
        None => Some(scope),
    }
}

/// The attribute's value, or the element's text, white space collapsed.
/// None when nothing matches or the value is empty.
pub(super) fn value(field: &FieldSelector, scope: ElementRef<'_>) -> Option<String> {
    let element = first(field, scope)?;
    let value = match field.attribute() {
        Some(attribute) => collapse_whitespace(element.attr(attribute)?),
        None => element_text(element),
    };
    (!value.is_empty()).then_some(value)
}

/// Like [`value`], but an element that lacks the attribute gives its text: a
/// `<time>` without `datetime` still shows a date.
pub(super) fn value_or_text(field: &FieldSelector, scope: ElementRef<'_>) -> Option<String> {
    let element = first(field, scope)?;
    let from_attribute = field
        .attribute()
        .and_then(|a| element.attr(a))
        .map(collapse_whitespace)
        .filter(|v| !v.is_empty());
    from_attribute.or_else(|| Some(element_text(element)).filter(|v| !v.is_empty()))
}

/// The text a reader sees in `element`, as normalize reads feed HTML.
pub(super) fn element_text(element: ElementRef<'_>) -> String {
    html_to_text(&element.inner_html())
}
