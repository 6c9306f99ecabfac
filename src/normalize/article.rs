//! What an item's own page adds to the item its list entry gave, for a page
//! source with `follow = true`: the item's body, a summary when the list had
//! none, and a date when the list had none.

use super::{Text, believable, body_html, seal, text};
use crate::item::Item;
use chrono::{DateTime, SubsecRound, Utc};
use url::Url;

/// What an item's own page gave, shaped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Article {
    /// The sanitized body.
    pub content_html: Option<String>,
    /// The body's plain text, for an item whose list entry had no summary.
    pub text: String,
    /// The page's date, if believable.
    pub published: Option<DateTime<Utc>>,
}

impl Article {
    /// Shapes what the page stage read on an item's page: `body`, the HTML
    /// its `content` selector picks (relative URLs mean what they mean at
    /// `base`), and the `date` it found.
    pub fn read(body: Option<&str>, base: &Url, published: Option<DateTime<Utc>>) -> Article {
        let body = body.map(Text::html);
        Article {
            content_html: body.as_ref().and_then(|b| body_html(b, base)),
            text: body.as_ref().map(Text::plain_text).unwrap_or_default(),
            published: believable(published),
        }
    }
}

/// Puts what an item's own page gave into the item: its body, a summary when
/// the list had none, and its date (clamped to `now`) when the list had none.
pub fn apply_article(item: &mut Item, article: Article, now: DateTime<Utc>) {
    if article.content_html.is_some() {
        item.content_html = article.content_html;
    }
    if item.summary.is_empty() && !article.text.is_empty() {
        item.summary = text::truncate_at_word(&article.text, super::SUMMARY_MAX_CHARS);
    }
    if !item.published_from_source
        && let Some(date) = article.published
    {
        item.published = date.min(now.trunc_subsecs(0));
        item.published_from_source = true;
    }
    seal(item);
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
    seal(item);
}
