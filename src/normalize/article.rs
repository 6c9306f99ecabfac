//! What an item's own page adds to the item its list entry gave, for a page
//! source with `follow = true`: the item's body, a summary when the list had
//! none, and a date when the list had none. And what an article page adds to
//! an item of a `full_text = true` source: its text, when longer than the
//! source's, with the item's content hash left as the source gave it.

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

/// Puts the text of the article page of a `full_text = true` source's item
/// into the item: its sanitized body replaces `content_html` only when its
/// text is longer than what the source gave (the content, else the
/// summary); the summary stays the source's, and the date is the page's
/// only when the source gave none. Returns whether the body was taken.
///
/// The content hash is not computed again: it stays the hash of what the
/// source gave, so a later poll of the same source content is not an edit,
/// and the article page's own later edits never make a revision.
pub fn apply_full_text(item: &mut Item, article: Article, now: DateTime<Utc>) -> bool {
    if !item.published_from_source
        && let Some(date) = article.published
    {
        item.published = date.min(now.trunc_subsecs(0));
        item.published_from_source = true;
    }
    let Some(content) = article.content_html else {
        return false;
    };
    let given = match &item.content_html {
        Some(html) => Text::html(html.as_str()).plain_text(),
        None => item.summary.clone(),
    };
    if article.text.chars().count() <= given.chars().count() {
        return false;
    }
    item.content_html = Some(content);
    true
}

/// For an item of a `full_text = true` source whose article was fetched
/// before: puts the stored article body back (`stored`, as
/// [`apply_full_text`] took it) when it is still longer than what the
/// source gives now, so that an edit of the source's own entry keeps the
/// article's text. The content hash stays the source's.
pub fn keep_full_text(item: &mut Item, stored: &str) {
    let article = Article {
        content_html: Some(stored.to_owned()),
        text: Text::html(stored).plain_text(),
        published: None,
    };
    apply_full_text(item, article, DateTime::<Utc>::MAX_UTC);
}
