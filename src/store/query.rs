//! The feeds' filters (`?source=`, `?category=`, `?q=`) and the matching
//! rules both backends follow.
//!
//! Every filtered read walks the items in the feed's order (`published
//! DESC, id DESC`) along an index and stops at the limit, so its cost is
//! bounded by how far back the matches are, never by sorting the whole
//! table; `?q=` words first go to a full-text index of titles and
//! summaries (SQLite: an FTS5 trigram table; PostgreSQL: `pg_trgm`), and
//! when that finds fewer than [`FEW_MATCHES`] items, those are read and
//! sorted instead. Each backend's `query.rs` has its SQL.
//!
//! Matching is case-insensitive for all of Unicode, not only ASCII:
//! categories and words are compared after [`ItemFilter::fold`], Rust's
//! own lowercasing, whatever the database's collation thinks of case.

/// Which items a feed shows. The empty filter shows every item.
///
/// The `category` and `words` are matched case-insensitively; [`ItemFilter::fold`]
/// is the folding used on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ItemFilter {
    /// Only items of these source ids; empty means every source.
    pub sources: Vec<String>,
    /// Only items with this category (one of the item's categories, equal
    /// after folding).
    pub category: Option<String>,
    /// Only items whose title or summary contains every one of these words
    /// (substrings, after folding).
    pub words: Vec<String>,
    /// Every item, duplicates included (`?duplicates=all`). By default a
    /// duplicate is left out when the item it duplicates can be in the
    /// same feed: always in a feed of every source, and when the original's
    /// source is one of `sources` (so a per-source feed shows all of its
    /// source's items: none duplicates its own source).
    pub all_duplicates: bool,
    /// Only items older than this one in the feed's order (`published
    /// DESC, id DESC`): the keyset cursor of the HTML page's `?before=`.
    /// The walk starts at the cursor along the same index, so an older page
    /// costs what the first does: never an `OFFSET`.
    pub before: Option<Cursor>,
}

/// A place in the feed's order: the item read last, by its date and id.
/// Items are ordered by `published` then `id`, both descending, so the pair
/// names one place even when many items share a date.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The item's date, as the feed sorts by it (whole microseconds, as
    /// stored).
    pub published: chrono::DateTime<chrono::Utc>,
    /// The item's id, the tie break.
    pub id: String,
}

impl ItemFilter {
    /// Whether the filter lets every item through.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
            && self.category.is_none()
            && self.words.is_empty()
            && !self.all_duplicates
            && self.before.is_none()
    }

    /// The case folding used for categories and words.
    pub fn fold(text: &str) -> String {
        text.to_lowercase()
    }
}

/// Whether `haystack`, folded, contains `needle` (already folded). An ASCII
/// haystack is compared without allocating a folded copy.
pub(super) fn contains_folded(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() {
        if !needle.is_ascii() {
            return false;
        }
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    ItemFilter::fold(haystack).contains(needle)
}

/// Below this many items matching the `?q=` words in the full-text index,
/// the matches are read and sorted; from it on, the feed's index is walked.
pub(super) const FEW_MATCHES: i64 = 2000;

/// The shortest word a trigram index can look up, in characters.
pub(super) const INDEXED_WORD_CHARS: usize = 3;
