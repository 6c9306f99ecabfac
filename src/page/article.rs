//! An item's own page, read for `follow = true`.

use super::date::parse_date;
use super::select::{PageSelectors, first, value_or_text};
use crate::normalize::Article;
use crate::parse::document_base;
use scraper::Html;
use url::Url;

/// At most this many new items' own pages are fetched in one poll of a
/// `follow = true` source; the rest wait for the next poll.
pub const MAX_ARTICLES_PER_POLL: usize = 20;

/// Reads an item's own page: only what `content` picks becomes the body, so
/// the site's navigation and footer stay out; the date is the first one the
/// `date` selector finds in the whole page. `normalize::apply_article` puts
/// it into the item.
pub fn extract_article(selectors: &PageSelectors, html: &str, url: &Url) -> Article {
    let document = Html::parse_document(html);
    let base = document_base(&document, url);
    let root = document.root_element();
    let body = selectors.content.as_ref().and_then(|c| first(c, root));
    let published = value_or_text(&selectors.date, root)
        .and_then(|t| parse_date(&t, selectors.date_format.as_deref(), selectors.timezone));
    Article::read(body.map(|b| b.inner_html()).as_deref(), &base, published)
}
