//! Filtered reads of the items, for the feed endpoints' `?source=`,
//! `?category=` and `?q=` filters.
//!
//! Every query walks an index in the feed's order (`published DESC, id
//! DESC`) and stops at the `LIMIT`, so its cost is bounded by how far back
//! the matches are, never by sorting the whole table:
//!
//! - no filter: `items_by_published`, read backwards, `limit` rows;
//! - `source`: one subquery per source over `items_by_source`, each with the
//!   limit, merged and cut again (a handful of sorted rows);
//! - `category` and `q`: tested row by row along the same walk. A rare
//!   category or word may walk far back; that is the price of not keeping a
//!   separate category table or an FTS5 index in step with every write.
//!
//! Matching is case-insensitive for all of Unicode, not only ASCII as
//! SQLite's `LIKE` and `lower()` are: [`register_functions`] gives the
//! reader connection `lw_fold(text)` and `lw_contains(text, folded)`.

use super::items::{ITEM_COLUMNS, item_from_row};
use super::{Store, StoreError, sql_limit};
use crate::item::Item;
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;

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
}

impl ItemFilter {
    /// Whether the filter lets every item through.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.category.is_none() && self.words.is_empty()
    }

    /// The case folding used for categories and words.
    pub fn fold(text: &str) -> String {
        text.to_lowercase()
    }
}

/// Adds the matching functions to `conn`. They are pure functions of their
/// arguments, so SQLite may call them anywhere in a query.
pub(super) fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function("lw_fold", 1, flags, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|t| ItemFilter::fold(&t)))
    })?;
    conn.create_scalar_function("lw_contains", 2, flags, |ctx| {
        let haystack = ctx.get_raw(0).as_str_or_null().unwrap_or(None);
        let needle = ctx.get_raw(1).as_str_or_null().unwrap_or(None);
        Ok(match (haystack, needle) {
            (Some(haystack), Some(needle)) => contains_folded(haystack, needle),
            _ => false,
        })
    })?;
    Ok(())
}

/// Whether `haystack`, folded, contains `needle` (already folded). An ASCII
/// haystack is compared without allocating a folded copy.
fn contains_folded(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() {
        if !needle.is_ascii() {
            return false;
        }
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    ItemFilter::fold(haystack).contains(needle)
}

impl Store {
    /// The newest `limit` items that pass `filter`, newest first, in the same
    /// order as [`Store::newest_items`].
    pub fn filtered_items(
        &self,
        filter: &ItemFilter,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        if filter.is_empty() {
            return self.newest_items(limit);
        }
        let (sql, params) = filtered_sql(filter, limit);
        let conn = self.reader();
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut items = Vec::new();
        while let Some(row) = rows.next()? {
            items.push(item_from_row(row)?);
        }
        Ok(items)
    }

    /// Whether the store knows source `id`: it has polled it, or holds items of it.
    pub fn has_source(&self, id: &str) -> Result<bool, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sources WHERE id = ?1)
                 OR EXISTS (SELECT 1 FROM items WHERE source_id = ?1)",
        )?;
        Ok(stmt.query_row([id], |row| row.get(0))?)
    }
}

/// The query for a non-empty `filter` and its parameters.
fn filtered_sql(filter: &ItemFilter, limit: usize) -> (String, Vec<Value>) {
    let mut params = vec![Value::Integer(sql_limit(limit))];
    // `?1` is the limit; the conditions' parameters follow.
    let mut conditions = Vec::new();
    if let Some(category) = &filter.category {
        params.push(Value::Text(ItemFilter::fold(category)));
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM json_each(items.categories) AS c WHERE lw_fold(c.value) = ?{})",
            params.len()
        ));
    }
    for word in &filter.words {
        params.push(Value::Text(ItemFilter::fold(word)));
        let n = params.len();
        conditions.push(format!(
            "(lw_contains(title, ?{n}) OR lw_contains(summary, ?{n}))"
        ));
    }
    let order = "ORDER BY published DESC, id DESC LIMIT ?1";
    if filter.sources.is_empty() {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE {} {order}",
            conditions.join(" AND ")
        );
        return (sql, params);
    }
    let mut parts = Vec::with_capacity(filter.sources.len());
    for source in &filter.sources {
        params.push(Value::Text(source.clone()));
        let mut condition = format!("source_id = ?{}", params.len());
        for c in &conditions {
            condition.push_str(" AND ");
            condition.push_str(c);
        }
        parts.push(format!(
            "SELECT * FROM (SELECT {ITEM_COLUMNS} FROM items WHERE {condition} {order})"
        ));
    }
    let sql = format!("SELECT * FROM ({}) {order}", parts.join(" UNION ALL "));
    (sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{ItemId, SourceRef};
    use chrono::{DateTime, TimeDelta, TimeZone, Utc};

    fn source(id: &str) -> SourceRef {
        SourceRef {
            id: id.into(),
            name: format!("Source {id}"),
            url: format!("https://{id}.example.org/feed"),
        }
    }

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    fn item(source: &SourceRef, key: &str, title: &str, categories: &[&str], minute: i64) -> Item {
        let mut item = Item {
            id: ItemId::derive(&source.id, key),
            source: source.clone(),
            guid: key.into(),
            url: Some(format!("https://example.org/{key}")),
            title: title.into(),
            summary: format!("Summary of {key}"),
            content_html: None,
            authors: vec![],
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
            language: None,
            published: at(minute),
            updated: None,
            revision: 1,
            published_from_source: true,
            content_hash: String::new(),
        };
        item.content_hash = item.compute_content_hash();
        item
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let (a, b) = (source("a"), source("b"));
        store
            .apply_items(
                &a,
                &[
                    item(&a, "a1", "Reading room opens", &["Events"], 1),
                    item(&a, "a2", "ÉTÉ à la bibliothèque", &["Été", "News"], 3),
                    item(&a, "a3", "Budget report", &["Reports"], 5),
                ],
                at(10),
            )
            .unwrap();
        store
            .apply_items(
                &b,
                &[
                    item(&b, "b1", "Open access week", &["events"], 2),
                    item(&b, "b2", "New reading lists", &["News"], 4),
                ],
                at(10),
            )
            .unwrap();
        (dir, store)
    }

    fn keys(items: &[Item]) -> Vec<&str> {
        items.iter().map(|i| i.guid.as_str()).collect()
    }

    #[test]
    fn each_filter_keeps_exactly_the_matching_items_newest_first() {
        let (_dir, store) = store();
        let by = |filter: ItemFilter, limit| store.filtered_items(&filter, limit).unwrap();
        let all = by(ItemFilter::default(), 10);
        assert_eq!(keys(&all), ["a3", "b2", "a2", "b1", "a1"]);

        let sources = |ids: &[&str]| ItemFilter {
            sources: ids.iter().map(|s| (*s).to_owned()).collect(),
            ..ItemFilter::default()
        };
        assert_eq!(keys(&by(sources(&["b"]), 10)), ["b2", "b1"]);
        assert_eq!(
            keys(&by(sources(&["a", "b"]), 10)),
            ["a3", "b2", "a2", "b1", "a1"]
        );
        assert_eq!(keys(&by(sources(&["a", "b"]), 2)), ["a3", "b2"]);
        assert!(by(sources(&["nobody"]), 10).is_empty());

        let category = |c: &str| ItemFilter {
            category: Some(c.into()),
            ..ItemFilter::default()
        };
        assert_eq!(keys(&by(category("EVENTS"), 10)), ["b1", "a1"]);
        assert_eq!(keys(&by(category("éTÉ"), 10)), ["a2"]);
        // A category is matched whole, not as a substring.
        assert!(by(category("Event"), 10).is_empty());

        let words = |w: &[&str]| ItemFilter {
            words: w.iter().map(|s| (*s).to_owned()).collect(),
            ..ItemFilter::default()
        };
        assert_eq!(keys(&by(words(&["READING"]), 10)), ["b2", "a1"]);
        assert_eq!(keys(&by(words(&["reading", "room"]), 10)), ["a1"]);
        // In the summary, and across all of Unicode.
        assert_eq!(keys(&by(words(&["summary", "b1"]), 10)), ["b1"]);
        assert_eq!(keys(&by(words(&["été"]), 10)), ["a2"]);
        assert!(by(words(&["reading", "budget"]), 10).is_empty());

        let mixed = ItemFilter {
            sources: vec!["a".into(), "b".into()],
            category: Some("news".into()),
            words: vec!["reading".into()],
        };
        assert_eq!(keys(&by(mixed, 10)), ["b2"]);
    }

    #[test]
    fn has_source_knows_polled_sources_only() {
        let (_dir, store) = store();
        assert!(store.has_source("a").unwrap());
        assert!(!store.has_source("c").unwrap());
    }

    /// The plan walks an index in feed order; a `USE TEMP B-TREE FOR ORDER
    /// BY` over the items table would mean sorting every matching row.
    #[test]
    fn filtered_queries_walk_an_index_instead_of_sorting() {
        let (_dir, store) = store();
        let filters = [
            ItemFilter {
                category: Some("news".into()),
                words: vec!["x".into()],
                ..ItemFilter::default()
            },
            ItemFilter {
                sources: vec!["a".into(), "b".into()],
                category: Some("news".into()),
                ..ItemFilter::default()
            },
        ];
        let conn = store.reader();
        for filter in filters {
            let (sql, params) = filtered_sql(&filter, 10);
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(params), |row| row.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let plan = plan.join("\n");
            assert!(
                plan.contains("USING INDEX items_by_"),
                "{filter:?}:\n{plan}"
            );
            let scans_items = plan
                .lines()
                .any(|l| l.contains("SCAN items") && !l.contains("USING INDEX"));
            assert!(!scans_items, "{filter:?}:\n{plan}");
            // Merging the per-source subqueries may sort their rows, at
            // most `limit` each; nothing sorts rows read from items.
            let lines: Vec<&str> = plan.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.contains("TEMP B-TREE") {
                    let after = i.checked_sub(1).map(|j| lines[j]).unwrap_or("");
                    assert!(after.starts_with("SCAN (subquery"), "{filter:?}:\n{plan}");
                }
            }
        }
    }
}
