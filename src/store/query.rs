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
//! - `category`: tested row by row along the same walk;
//! - `q`: looked up first in `items_fts`, the trigram full-text index of
//!   titles and summaries (migration step 3), for its words of three
//!   characters or more. When they match fewer than [`FEW_MATCHES`] items,
//!   those are read by rowid and sorted (at most that many rows); when they
//!   match more, the walk above tests each row against the matches, which
//!   are then dense enough to fill a feed soon. Words too short for the
//!   index are tested row by row along the walk.
//!
//! Every filtered read runs within [`FILTER_BUDGET`]: past it, SQLite stops
//! it and the caller gets [`StoreError::TimeBudget`].
//!
//! Matching is case-insensitive for all of Unicode, not only ASCII as
//! SQLite's `LIKE` and `lower()` are: [`register_functions`] gives the
//! reader connections `lw_fold(text)` and `lw_contains(text, folded)`, and
//! every word is tested with `lw_contains` even when the index found it, so
//! the index narrows the rows but the rule is this one.

use super::items::{ITEM_COLUMNS, item_from_row};
use super::{FILTER_BUDGET, Store, StoreError, sql_limit, within_budget};
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

/// Below this many items matching the `?q=` words in the full-text index,
/// the matches are read and sorted; from it on, the feed's index is walked.
const FEW_MATCHES: i64 = 2000;

/// The shortest word the trigram index can look up, in characters.
const INDEXED_WORD_CHARS: usize = 3;

/// How a filtered read uses the full-text index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Search {
    /// No word the index can look up: every word is tested along the walk.
    Walk,
    /// Fewer than [`FEW_MATCHES`] items match this expression: read them.
    Few(String),
    /// Many items match this expression: walk, testing rows against them.
    Many(String),
}

/// At most this many trigrams of one word are looked up: any of its
/// trigrams narrows the rows, and the rows found are tested exactly anyway.
const TRIGRAMS_PER_WORD: usize = 12;

/// The FTS5 query for the indexable words of `words`: every trigram of each
/// (up to [`TRIGRAMS_PER_WORD`]), quoted, all of them required. The index
/// knows which items hold a trigram, not where (`detail = none`), so this
/// finds every item that contains the words, and some that only hold their
/// trigrams apart; `lw_contains` then keeps the first.
fn match_expression(words: &[String]) -> Option<String> {
    let mut trigrams: Vec<String> = Vec::new();
    for word in words {
        let chars: Vec<char> = word.chars().collect();
        let mut of_word = 0;
        for window in chars.windows(INDEXED_WORD_CHARS) {
            let trigram: String = window.iter().collect();
            let quoted = format!("\"{}\"", trigram.replace('"', "\"\""));
            if of_word < TRIGRAMS_PER_WORD && !trigrams.contains(&quoted) {
                trigrams.push(quoted);
                of_word += 1;
            }
        }
    }
    (!trigrams.is_empty()).then(|| trigrams.join(" AND "))
}

impl Store {
    /// The newest `limit` items that pass `filter`, newest first, in the same
    /// order as [`Store::newest_items`]. Stopped with
    /// [`StoreError::TimeBudget`] after [`FILTER_BUDGET`].
    pub fn filtered_items(
        &self,
        filter: &ItemFilter,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        if filter.is_empty() {
            return self.newest_items(limit);
        }
        let mut conn = self.reader()?;
        within_budget(&mut conn, FILTER_BUDGET, |conn| {
            let search = search_for(conn, filter)?;
            let (sql, params) = filtered_sql(filter, limit, &search);
            let mut stmt = conn.prepare(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
            let mut items = Vec::new();
            while let Some(row) = rows.next()? {
                items.push(item_from_row(row)?);
            }
            Ok(items)
        })
    }

    /// Whether the store knows source `id`: it has polled it, or holds items of it.
    pub fn has_source(&self, id: &str) -> Result<bool, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sources WHERE id = ?1)
                 OR EXISTS (SELECT 1 FROM items WHERE source_id = ?1)",
        )?;
        Ok(stmt.query_row([id], |row| row.get(0))?)
    }
}

/// How `filter`'s words use the full-text index: counts its matches, up to
/// [`FEW_MATCHES`].
fn search_for(conn: &Connection, filter: &ItemFilter) -> Result<Search, StoreError> {
    let Some(expression) = match_expression(&filter.words) else {
        return Ok(Search::Walk);
    };
    let matches: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM items_fts WHERE items_fts MATCH ?1 LIMIT ?2)",
        )?
        .query_row(rusqlite::params![expression, FEW_MATCHES], |row| row.get(0))?;
    Ok(if matches < FEW_MATCHES {
        Search::Few(expression)
    } else {
        Search::Many(expression)
    })
}

/// The query for a non-empty `filter` and its parameters.
fn filtered_sql(filter: &ItemFilter, limit: usize, search: &Search) -> (String, Vec<Value>) {
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
    if let Search::Few(expression) = search {
        // Driven by the index: its few matches, by rowid (CROSS JOIN keeps
        // that order of the loops), then sorted.
        params.push(Value::Text(expression.clone()));
        let matched = params.len();
        if !filter.sources.is_empty() {
            let mut ids = Vec::new();
            for source in &filter.sources {
                params.push(Value::Text(source.clone()));
                ids.push(format!("?{}", params.len()));
            }
            conditions.push(format!("items.source_id IN ({})", ids.join(", ")));
        }
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM (SELECT rowid AS matched FROM items_fts WHERE items_fts MATCH ?{matched}) \
             CROSS JOIN items ON items.rowid = matched WHERE {} {order}",
            conditions.join(" AND ")
        );
        return (sql, params);
    }
    // With many matches, the walk must stay a walk: SQLite would rather
    // look the matches up by rowid and sort them all.
    let (merged, per_source) = if let Search::Many(expression) = search {
        params.push(Value::Text(expression.clone()));
        conditions.push(format!(
            "items.rowid IN (SELECT rowid FROM items_fts WHERE items_fts MATCH ?{})",
            params.len()
        ));
        (
            "items INDEXED BY items_by_published",
            "items INDEXED BY items_by_source",
        )
    } else {
        ("items", "items")
    };
    if filter.sources.is_empty() {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM {merged} WHERE {} {order}",
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
            "SELECT * FROM (SELECT {ITEM_COLUMNS} FROM {per_source} WHERE {condition} {order})"
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

    /// Every word in the title or the summary, as substrings, through each
    /// way of using the full-text index: the same items as testing every
    /// row, with the index consulted or not.
    #[test]
    fn each_use_of_the_index_finds_what_testing_every_row_finds() {
        let (_dir, store) = store();
        let a = source("a");
        // Enough items with one common word for the walk over the index.
        let many: Vec<Item> = (0..super::FEW_MATCHES + 50)
            .map(|n| {
                item(
                    &a,
                    &format!("m{n}"),
                    &format!("Opening hours {n}"),
                    &[],
                    20 + n,
                )
            })
            .collect();
        store.apply_items(&a, &many, at(10)).unwrap();
        let conn = store.reader().unwrap();
        let run = |filter: &ItemFilter, search: &Search| {
            let (sql, params) = filtered_sql(filter, 30, search);
            let mut stmt = conn.prepare(&sql).unwrap();
            let mut rows = stmt.query(rusqlite::params_from_iter(params)).unwrap();
            let mut keys = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                keys.push(item_from_row(row).unwrap().guid);
            }
            keys
        };
        for (words, sources) in [
            (vec!["reading"], vec![]),
            (vec!["ading", "room"], vec![]),
            (vec!["été"], vec![]),
            (vec!["opening"], vec![]),
            (vec!["opening", "hours", "20"], vec![]),
            (vec!["hours"], vec!["a", "b"]),
            (vec!["summary"], vec!["b"]),
        ] {
            let filter = ItemFilter {
                words: words.iter().map(|w| ItemFilter::fold(w)).collect(),
                sources: sources.iter().map(|s| (*s).to_owned()).collect(),
                ..ItemFilter::default()
            };
            let expected = run(&filter, &Search::Walk);
            let expression = match_expression(&filter.words).unwrap();
            for search in [Search::Few(expression.clone()), Search::Many(expression)] {
                assert_eq!(
                    run(&filter, &search),
                    expected,
                    "{words:?} {sources:?} {search:?}"
                );
            }
            let chosen = store.filtered_items(&filter, 30).unwrap();
            assert_eq!(keys(&chosen), expected, "{words:?} {sources:?}");
        }
        let common = ItemFilter {
            words: vec!["opening".into()],
            ..ItemFilter::default()
        };
        assert!(matches!(
            search_for(&conn, &common).unwrap(),
            Search::Many(_)
        ));
        let rare = ItemFilter {
            words: vec!["budget".into()],
            ..ItemFilter::default()
        };
        assert!(matches!(search_for(&conn, &rare).unwrap(), Search::Few(_)));
        let short = ItemFilter {
            words: vec!["b1".into()],
            ..ItemFilter::default()
        };
        assert_eq!(search_for(&conn, &short).unwrap(), Search::Walk);
    }

    /// The index follows every write of a title or summary in its
    /// transaction: a new revision's words are found and its old ones are
    /// not, and a pruned item is gone from it.
    #[test]
    fn the_index_follows_revisions_and_retention() {
        let (_dir, store) = store();
        let a = source("a");
        let words = |w: &str| ItemFilter {
            words: vec![w.into()],
            ..ItemFilter::default()
        };
        let found = |w: &str| keys(&store.filtered_items(&words(w), 10).unwrap()).join(",");
        assert_eq!(found("budget"), "a3");
        store
            .apply_items(
                &a,
                &[item(&a, "a3", "Annual accounts", &["Reports"], 5)],
                at(11),
            )
            .unwrap();
        assert_eq!(found("accounts"), "a3", "the new title is indexed");
        assert_eq!(found("budget"), "", "the old one is not");
        let fts_rows = |w: &str| -> i64 {
            store
                .reader()
                .unwrap()
                .query_row(
                    "SELECT COUNT(*) FROM items_fts WHERE items_fts MATCH ?1",
                    [match_expression(&[w.to_owned()]).unwrap()],
                    |row| row.get(0),
                )
                .unwrap()
        };
        assert_eq!(fts_rows("budget"), 0);
        store.prune(std::time::Duration::ZERO, 1, at(20)).unwrap();
        // One item kept per source: a3 and b2; a1 and a2 went.
        assert_eq!(fts_rows("room"), 0, "a pruned item leaves the index");
        assert_eq!(fts_rows("bibliothèque"), 0);
        assert_eq!(fts_rows("accounts"), 1, "a kept one stays");
        assert_eq!(found("reading"), "b2");
    }

    /// A read past its budget is stopped, says so, and leaves the
    /// connection as it was.
    #[test]
    fn a_read_past_its_budget_is_stopped() {
        let (_dir, store) = store();
        let mut conn = store.reader().unwrap();
        // Seconds of work: far past the budget, but it ends without one.
        let endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000000) \
                       SELECT COUNT(*) FROM n";
        let budget = std::time::Duration::from_millis(100);
        let started = std::time::Instant::now();
        let stopped = super::within_budget(&mut conn, budget, |conn| {
            Ok(conn.query_row(endless, [], |row| row.get::<_, i64>(0))?)
        });
        assert!(
            matches!(stopped, Err(StoreError::TimeBudget { budget: b }) if b == budget),
            "{stopped:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        let after: i64 = conn
            .query_row("SELECT 2 + 2", [], |row| row.get(0))
            .unwrap();
        assert_eq!(
            after, 4,
            "the connection reads again, with no budget left on it"
        );
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
        let conn = store.reader().unwrap();
        for filter in filters {
            let (sql, params) = filtered_sql(&filter, 10, &Search::Walk);
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
