//! An item's own page, read for `follow = true` with the `content`
//! selector, or for `full_text = true` with readability (`dom_smoothie`)
//! when no selector is given or it picks nothing.

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

/// The most elements readability scores on one article page: a page past
/// it (hostile, or not an article) gives no article rather than minutes of
/// work. Real article pages have a few thousand.
pub const MAX_ARTICLE_ELEMENTS: usize = 100_000;

/// Reads the main text of an item's article page for `full_text = true`:
/// what a page source's `content` selector picks, when it is given and picks
/// something, else the readability extraction of `dom_smoothie` (the
/// article's paragraphs, without the site's header, menus and footer).
/// Links and images mean what they mean at `url`, the page's final URL (or
/// its `<base href>`). Sanitized as feed content by `Article::read`.
pub fn read_full_text(selectors: Option<&PageSelectors>, html: &str, url: &Url) -> Article {
    if let Some(selectors) = selectors.filter(|s| s.content.is_some()) {
        let article = extract_article(selectors, html, url);
        if article.content_html.is_some() {
            return article;
        }
    }
    let config = dom_smoothie::Config {
        max_elements_to_parse: MAX_ARTICLE_ELEMENTS,
        ..dom_smoothie::Config::default()
    };
    let parsed = dom_smoothie::Readability::new(html, Some(url.as_str()), Some(config))
        .and_then(|mut readability| readability.parse());
    match parsed {
        Ok(article) => Article::read(Some(&article.content), url, None),
        Err(_) => Article::default(),
    }
}
