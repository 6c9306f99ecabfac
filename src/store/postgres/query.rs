//! The feeds' filtered reads on PostgreSQL (see `store/query.rs` for the
//! rules).
//!
//! The items carry their title, summary and categories folded by the
//! store (`ItemFilter::fold`, in Rust), so matching is the same as on
//! SQLite whatever the database's locale: a category is `= ANY` of the
//! folded list, a word a `LIKE '%word%'` (its `%`, `_` and `\` escaped) on
//! the folded title or summary, which is exactly "contains". A pg_trgm GIN
//! index over the folded text serves the words; the planner takes it when
//! the words are rare and walks `items_by_published` in feed order,
//! testing rows, when they are common.
//!
//! No filter reads `items_by_published` backwards and stops at the limit;
//! `?source=` is one subquery per source over `items_by_source`, each with
//! the limit, merged and cut again, as on SQLite.
//!
//! A filtered read runs in a read-only transaction with a
//! `statement_timeout` of [`FILTER_BUDGET`]: past it, PostgreSQL cancels it
//! and the caller gets [`StoreError::TimeBudget`].

use super::dedup::also_in;
use super::items::{ITEM_COLUMNS, item_from_row, newest_items_sql};
use super::{Postgres, col};
use crate::store::{FILTER_BUDGET, FeedItems, ItemFilter, StoreError, sql_limit, to_stored};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

/// One parameter of a filtered query.
pub(super) enum Param {
    Int(i64),
    Text(String),
}

impl Param {
    pub(super) fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Int(n) => n,
            Param::Text(t) => t,
        }
    }
}

/// `word` as a `LIKE` pattern that matches any text containing it.
fn contains_pattern(word: &str) -> String {
    let mut pattern = String::with_capacity(word.len() + 2);
    pattern.push('%');
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Postgres {
    pub(super) async fn read_feed(
        &self,
        filter: &ItemFilter,
        limit: usize,
    ) -> Result<FeedItems, StoreError> {
        let mut conn = self.conn().await?;
        let mut feed = if filter.is_empty() {
            let stmt = conn.prepare_cached(&newest_items_sql()).await?;
            feed_items(&conn.query(&stmt, &[&sql_limit(limit)]).await?)?
        } else {
            self.read_filtered(&mut conn, filter, limit).await?
        };
        let ids: Vec<&str> = feed.items.iter().map(|item| item.id.as_str()).collect();
        feed.also_in = also_in(&conn, &ids).await?;
        Ok(feed)
    }

    async fn read_filtered(
        &self,
        conn: &mut deadpool_postgres::Object,
        filter: &ItemFilter,
        limit: usize,
    ) -> Result<FeedItems, StoreError> {
        let (sql, params) = filtered_sql(filter, limit);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(Param::as_sql).collect();
        let tx = conn.build_transaction().read_only(true).start().await?;
        tx.batch_execute(&format!(
            "SET LOCAL statement_timeout = {}",
            FILTER_BUDGET.as_millis()
        ))
        .await?;
        let rows = match tx.query(&sql, &refs).await {
            Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => {
                return Err(StoreError::TimeBudget {
                    budget: FILTER_BUDGET,
                });
            }
            other => other?,
        };
        tx.commit().await?;
        feed_items(&rows)
    }

    pub(super) async fn read_has_source(&self, id: &str) -> Result<bool, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM sources WHERE id = $1)
                     OR EXISTS (SELECT 1 FROM items WHERE source_id = $1)",
            )
            .await?;
        col(&conn.query_one(&stmt, &[&id]).await?, 0)
    }
}

fn feed_items(rows: &[Row]) -> Result<FeedItems, StoreError> {
    let mut feed = FeedItems::default();
    for row in rows {
        let (item, stored_at) = item_from_row(row)?;
        feed.items.push(item);
        feed.stored_at = feed.stored_at.max(stored_at);
    }
    Ok(feed)
}

/// The query for a non-empty `filter` and its parameters; `$1` is the limit.
pub(super) fn filtered_sql(filter: &ItemFilter, limit: usize) -> (String, Vec<Param>) {
    let mut params = vec![Param::Int(sql_limit(limit))];
    let mut conditions = Vec::new();
    if let Some(before) = &filter.before {
        // A row comparison: a range of the (published, id) index the walk
        // follows, so the walk starts at the cursor.
        params.push(Param::Int(to_stored(before.published)));
        params.push(Param::Text(before.id.clone()));
        let n = params.len();
        conditions.push(format!("(items.published, items.id) < (${}, ${n})", n - 1));
    }
    if !filter.all_duplicates {
        if filter.sources.is_empty() {
            conditions.push("items.duplicate_of IS NULL".to_owned());
        } else {
            let mut ids = Vec::new();
            for source in &filter.sources {
                params.push(Param::Text(source.clone()));
                ids.push(format!("${}", params.len()));
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
        params.push(Param::Text(ItemFilter::fold(category)));
        conditions.push(format!("${} = ANY(items.categories_folded)", params.len()));
    }
    for word in &filter.words {
        params.push(Param::Text(contains_pattern(&ItemFilter::fold(word))));
        let n = params.len();
        conditions.push(format!(
            "(items.title_folded LIKE ${n} OR items.summary_folded LIKE ${n})"
        ));
    }
    let order = "ORDER BY published DESC, id DESC LIMIT $1";
    if filter.sources.is_empty() {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE {} {order}",
            conditions.join(" AND ")
        );
        return (sql, params);
    }
    let mut parts = Vec::with_capacity(filter.sources.len());
    for source in &filter.sources {
        params.push(Param::Text(source.clone()));
        let mut condition = format!("items.source_id = ${}", params.len());
        for c in &conditions {
            condition.push_str(" AND ");
            condition.push_str(c);
        }
        parts.push(format!(
            "(SELECT {ITEM_COLUMNS} FROM items WHERE {condition} {order})"
        ));
    }
    let sql = format!(
        "SELECT * FROM ({}) AS merged {order}",
        parts.join(" UNION ALL ")
    );
    (sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_matched_as_itself_with_like_wildcards_escaped() {
        assert_eq!(contains_pattern("50%"), "%50\\%%");
        assert_eq!(contains_pattern("a_b\\c"), "%a\\_b\\\\c%");
        assert_eq!(contains_pattern("été"), "%été%");
    }
}
