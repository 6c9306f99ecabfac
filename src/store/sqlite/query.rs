//! The feeds' filtered reads on SQLite (see `store/query.rs` for the rules).
//!
//! Every query walks an index in the feed's order (`published DESC, id
//! DESC`) and stops at the `LIMIT`:
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
//! SQLite's `LIKE` and `lower()` know case only in ASCII, so
//! [`register_functions`] gives the reader connections `lw_fold(text)` and
//! `lw_contains(text, folded)`, and every word is tested with `lw_contains`
//! even when the index found it: the index narrows the rows, but the rule
//! is [`ItemFilter::fold`].

use super::dedup::also_in;
use super::items::{ITEM_COLUMNS, item_from_row, newest_items_sql};
use super::{Sqlite, within_budget};
use crate::store::query::{FEW_MATCHES, INDEXED_WORD_CHARS, contains_folded};
use crate::store::{FILTER_BUDGET, FeedItems, ItemFilter, StoreError, sql_limit, to_stored};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;
use rusqlite::{Connection, Rows};

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

/// How a filtered read uses the full-text index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Search {
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
pub(super) fn match_expression(words: &[String]) -> Option<String> {
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

impl Sqlite {
    /// The body of [`Store::feed`](crate::store::Store::feed).
    pub(super) fn read_feed(
        &self,
        filter: &ItemFilter,
        limit: usize,
    ) -> Result<FeedItems, StoreError> {
        let mut conn = self.reader()?;
        let mut feed = if filter.is_empty() {
            let mut stmt = conn.prepare_cached(&newest_items_sql())?;
            feed_items(stmt.query([sql_limit(limit)])?)?
        } else {
            within_budget(&mut conn, FILTER_BUDGET, |conn| {
                let search = search_for(conn, filter)?;
                let (sql, params) = filtered_sql(filter, limit, &search);
                let mut stmt = conn.prepare(&sql)?;
                feed_items(stmt.query(rusqlite::params_from_iter(params))?)
            })?
        };
        feed.also_in = also_in(&conn, feed.items.iter().map(|item| item.id.clone()))?;
        Ok(feed)
    }

    pub(super) fn read_has_source(&self, id: &str) -> Result<bool, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM sources WHERE id = ?1)
                 OR EXISTS (SELECT 1 FROM items WHERE source_id = ?1)",
        )?;
        Ok(stmt.query_row([id], |row| row.get(0))?)
    }
}

/// Reads the rows of a feed query.
fn feed_items(mut rows: Rows<'_>) -> Result<FeedItems, StoreError> {
    let mut feed = FeedItems::default();
    while let Some(row) = rows.next()? {
        let (item, stored_at) = item_from_row(row)?;
        feed.items.push(item);
        feed.stored_at = feed.stored_at.max(stored_at);
    }
    Ok(feed)
}

/// How `filter`'s words use the full-text index: counts its matches, up to
/// [`FEW_MATCHES`].
pub(super) fn search_for(conn: &Connection, filter: &ItemFilter) -> Result<Search, StoreError> {
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
pub(super) fn filtered_sql(
    filter: &ItemFilter,
    limit: usize,
    search: &Search,
) -> (String, Vec<Value>) {
    let mut params = vec![Value::Integer(sql_limit(limit))];
    // `?1` is the limit; the conditions' parameters follow.
    let mut conditions = Vec::new();
    if let Some(before) = &filter.before {
        // A row value: SQLite reads it as a range of the (published, id)
        // index the walk follows, so the walk starts at the cursor.
        params.push(Value::Integer(to_stored(before.published)));
        params.push(Value::Text(before.id.clone()));
        let n = params.len();
        conditions.push(format!("(items.published, items.id) < (?{}, ?{n})", n - 1));
    }
    if !filter.all_duplicates {
        if filter.sources.is_empty() {
            conditions.push("items.duplicate_of IS NULL".to_owned());
        } else {
            let mut ids = Vec::new();
            for source in &filter.sources {
                params.push(Value::Text(source.clone()));
                ids.push(format!("?{}", params.len()));
            }
            conditions.push(format!(
                "(items.duplicate_of IS NULL OR items.duplicate_source NOT IN ({}))",
                ids.join(", ")
            ));
        }
    }
    if conditions.is_empty() && filter.category.is_none() && filter.words.is_empty() {
        // `?duplicates=all` alone: every item.
        conditions.push("TRUE".to_owned());
    }
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
