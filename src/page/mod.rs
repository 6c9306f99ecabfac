//! Page: entries out of an HTML news page that has no feed, with CSS selectors.
//!
//! A pure stage, like parse and normalize: HTML, the page's URL, the
//! source's `[sources.page]` selectors and `now` in, [`Item`]s out, with no
//! I/O and no clock. The page stage only reads: its selectors find each
//! entry's fields, and normalize's item rules (the key, the title fallback,
//! sanitizing, the date clamp, the content hash) make the items, the same
//! rules as for a feed's entries, so a page item and a feed item look alike
//! to the store, the outbox and the merged feed.
//!
//! - [`select`]: the selectors compiled ([`PageSelectors`]) and what one of
//!   them reads inside an element.
//! - [`extract()`] reads a list page; [`extract_article`] an item's own page,
//!   for `follow = true`; [`read_full_text`] an item's article page for
//!   `full_text = true` (the `content` selector, else readability).
//! - [`date`]: the dates pages write, in `date_format` or as feeds do.
//! - [`judge_yield`] decides when a page "may have stale selectors".
//! - [`decode_html`] turns the bytes into text (BOM, HTTP charset,
//!   `<meta charset>`, the source's `encoding` override).
//! - [`discover`] backs `librarywire discover`: advertised feeds, and a
//!   suggested page config for a page with none.
//!
//! [`Item`]: crate::item::Item

mod article;
mod date;
mod decode;
pub mod discover;
mod extract;
mod select;
mod stale;
#[cfg(test)]
mod tests;

pub use article::{MAX_ARTICLE_ELEMENTS, MAX_ARTICLES_PER_POLL, extract_article, read_full_text};
pub use date::parse_date;
pub use decode::decode_html;
pub use extract::{Extracted, extract};
pub use select::{PageError, PageSelectors};
pub use stale::{YieldVerdict, judge_yield};
