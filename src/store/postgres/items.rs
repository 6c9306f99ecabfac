//! Items and their revisions: storing a poll's items with their outbox
//! messages, reading them back, and retention. The rules are
//! `store/items.rs`'s, shared with SQLite; only the SQL is PostgreSQL's.

use super::dedup::{fingerprint_new, judge_edit, judge_new, lock_stories, write_dedup};
use super::leases::fence_publisher;
use super::outbox::{enqueue, order_writers};
use super::sources::ensure_source;
use super::{Postgres, col};
use crate::dedup::DedupRule;
use crate::event::{EventKind, item_event};
use crate::item::{Item, ItemId, SourceRef};
use crate::store::items::{Decision, FirstSeen, StoredVersion, decide, prune_cutoffs, stored_date};
use crate::store::{
    ApplyOutcome, ItemFilter, Retention, Revision, StoreError, from_stored, from_stored_opt,
    is_repeat, narrow, sql_limit, to_stored, truncate,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use std::collections::HashSet;
use tokio_postgres::Row;

/// The columns [`item_from_row`] reads, in order: the item, and when its
/// current version was stored.
pub(super) const ITEM_COLUMNS: &str = "items.id, items.source_id, items.source_name, items.source_url, \
     items.guid, items.url, items.title, items.summary, items.content_html, items.authors, \
     items.categories, items.language, items.published, items.published_from_source, \
     items.updated, items.revision, items.content_hash, \
     (SELECT r.recorded_at FROM item_revisions AS r \
      WHERE r.item_id = items.id AND r.revision = items.revision) AS stored_at";

/// The merged feed's query; `$1` is the limit.
/// A duplicate of another source's item is left out, as on SQLite.
pub(super) fn newest_items_sql() -> String {
    format!(
        "SELECT {ITEM_COLUMNS} FROM items WHERE duplicate_of IS NULL \
         ORDER BY published DESC, id DESC LIMIT $1"
    )
}

impl Postgres {
    pub(super) async fn write_items(
        &self,
        source: &SourceRef,
        items: &[Item],
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        let outcome = apply_in(
            &tx,
            source,
            items,
            now,
            &Retention::default(),
            &DedupRule::default(),
            &self.inner.instance,
        )
        .await?;
        tx.commit().await?;
        if outcome.new + outcome.updated > 0 {
            self.notify_changed();
        }
        Ok(outcome)
    }

    pub(super) async fn read_item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = $1"))
            .await?;
        match conn.query_opt(&stmt, &[&id]).await? {
            Some(row) => Ok(Some(item_from_row(&row)?.0)),
            None => Ok(None),
        }
    }

    pub(super) async fn read_known_ids(
        &self,
        ids: &[ItemId],
    ) -> Result<HashSet<ItemId>, StoreError> {
        let conn = self.conn().await?;
        let asked: Vec<&str> = ids.iter().map(ItemId::as_str).collect();
        let stmt = conn
            .prepare_cached(
                "SELECT id FROM items WHERE id = ANY($1)
                 UNION SELECT id FROM retired_items WHERE id = ANY($1)",
            )
            .await?;
        let found: HashSet<String> = conn
            .query(&stmt, &[&asked])
            .await?
            .iter()
            .map(|row| col(row, 0))
            .collect::<Result<_, _>>()?;
        Ok(ids
            .iter()
            .filter(|id| found.contains(id.as_str()))
            .cloned()
            .collect())
    }

    pub(super) async fn read_revisions(&self, id: &str) -> Result<Vec<Revision>, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT revision, content_hash, recorded_at FROM item_revisions
                 WHERE item_id = $1 ORDER BY revision",
            )
            .await?;
        conn.query(&stmt, &[&id])
            .await?
            .iter()
            .map(|row| {
                Ok(Revision {
                    revision: narrow(col(row, 0)?, "item_revisions", id, "revision")?,
                    content_hash: col(row, 1)?,
                    recorded_at: from_stored(col(row, 2)?, "item_revisions", id, "recorded_at")?,
                })
            })
            .collect()
    }

    /// Applies retention in one transaction; while this store holds the
    /// publisher lease (the replica that runs retention), only while the
    /// lease is still held, checked in the same transaction.
    pub(super) async fn write_prune(
        &self,
        retention: &Retention,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let now = truncate(now);
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        if let Some(held) = self.publisher_held() {
            // Dropping `tx` on the error rolls back: nothing is deleted.
            fence_publisher(&tx, &held, "retention").await?;
        }
        let mut removed = 0;
        let (cutoff, forget_before) = prune_cutoffs(retention.max_age, now);
        if let Some(cutoff) = cutoff {
            // Only the sources that have an old item are ranked; each keeps
            // its newest `min_per_source` whatever their age.
            removed += retire(
                &tx,
                "WITH gone AS (
                     DELETE FROM items WHERE id IN (
                         SELECT id FROM (
                             SELECT id, published, ROW_NUMBER() OVER (
                                 PARTITION BY source_id ORDER BY published DESC, id DESC
                             ) AS rank
                             FROM items
                             WHERE source_id IN (SELECT source_id FROM items WHERE published < $1)
                         ) AS ranked WHERE published < $1 AND rank > $3
                     ) RETURNING id, source_id, last_seen)
                 INSERT INTO retired_items (id, source_id, retired_at, last_seen)
                 SELECT id, source_id, $2, last_seen FROM gone
                 ON CONFLICT (id) DO UPDATE SET retired_at = excluded.retired_at,
                                                last_seen = excluded.last_seen",
                &[
                    &to_stored(cutoff),
                    &to_stored(now),
                    &sql_limit(retention.min_per_source),
                ],
            )
            .await?;
        }
        if retention.max_per_source > 0 {
            removed += retire(
                &tx,
                "WITH gone AS (
                     DELETE FROM items WHERE id IN (
                         SELECT id FROM (
                             SELECT id, ROW_NUMBER() OVER (
                                 PARTITION BY source_id ORDER BY published DESC, id DESC
                             ) AS rank
                             FROM items
                         ) AS ranked WHERE rank > $1
                     ) RETURNING id, source_id, last_seen)
                 INSERT INTO retired_items (id, source_id, retired_at, last_seen)
                 SELECT id, source_id, $2, last_seen FROM gone
                 ON CONFLICT (id) DO UPDATE SET retired_at = excluded.retired_at,
                                                last_seen = excluded.last_seen",
                &[&sql_limit(retention.max_per_source), &to_stored(now)],
            )
            .await?;
        }
        if let Some(forget_before) = forget_before {
            let stmt = tx
                .prepare_cached("DELETE FROM retired_items WHERE last_seen < $1")
                .await?;
            tx.execute(&stmt, &[&to_stored(forget_before)]).await?;
            super::full_text::prune_full_text(&tx, forget_before).await?;
        }
        if removed > 0 {
            changed_in(&tx, &self.inner.instance).await?;
        }
        tx.commit().await?;
        if removed > 0 {
            self.notify_changed();
        }
        Ok(removed)
    }
}

/// Runs one retention statement (delete items, remember their ids) with
/// its parameters; returns how many items went.
async fn retire(
    tx: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<usize, StoreError> {
    let stmt = tx.prepare_cached(sql).await?;
    let n = tx.execute(&stmt, params).await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Tells the other replicas, once this transaction commits, that items
/// changed: a notification for those listening, and one more number taken
/// from `item_changes` for the periodic check of those that may have
/// missed it. `instance` marks the notification as this store's own.
pub(super) async fn changed_in(tx: &impl GenericClient, instance: &str) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached("SELECT nextval('item_changes'), pg_notify($1, $2)")
        .await?;
    tx.execute(&stmt, &[&super::notify::CHANNEL, &instance])
        .await?;
    Ok(())
}

/// The body of `apply_items` and of a successful poll's write, inside the
/// caller's transaction: the new items `retention` finds too old are turned
/// away and new items judged as `dedup` says, as on SQLite. The caller
/// commits, then notifies.
pub(super) async fn apply_in(
    tx: &impl GenericClient,
    source: &SourceRef,
    items: &[Item],
    now: DateTime<Utc>,
    retention: &Retention,
    dedup: &DedupRule,
    instance: &str,
) -> Result<ApplyOutcome, StoreError> {
    let now = truncate(now);
    let mut outcome = ApplyOutcome::default();
    if items.is_empty() {
        // A 304: nothing to store, not even the source's row (the poll's
        // write upserts it), and one round trip fewer.
        return Ok(outcome);
    }
    ensure_source(tx, &source.id, &source.url).await?;
    let mut seen = HashSet::with_capacity(items.len());
    // The outbox rows, written last: `order_writers` lets one transaction
    // at a time write them, from its first row to its commit, so the rows
    // go in at the end of the work, and that lock is held only for the
    // transaction's tail.
    let mut events = Vec::new();
    // What is stored of each listed item first: retention ranks a new item
    // among the source's stored items and the rest of the poll.
    let mut listed = Vec::with_capacity(items.len());
    for item in items {
        if is_repeat(&mut seen, source, item) {
            continue;
        }
        let stored = stored_version(tx, item.id.as_str()).await?;
        if stored.is_none() && is_retired(tx, item.id.as_str(), now).await? {
            outcome.unchanged += 1;
            continue;
        }
        listed.push((item, stored));
    }
    let poll = || {
        listed
            .iter()
            .map(|(item, stored)| (stored_date(item, stored.as_ref()), item.id.as_str()))
    };
    let newest = if retention.min_per_source > 0 && FirstSeen::applies(retention, now, poll()) {
        newest_stored(tx, &source.id, retention.min_per_source).await?
    } else {
        Vec::new()
    };
    let first_seen = FirstSeen::new(retention, now, poll(), newest);
    let turned_away =
        |item: &Item| first_seen.turns_away(item.id.as_str(), stored_date(item, None));
    // Each new item's fingerprint, made once: the keys of those to be
    // judged are locked before the first is judged (see `lock_stories`).
    let fingerprints: Vec<_> = listed
        .iter()
        .map(|(item, stored)| match stored {
            None if !turned_away(item) => fingerprint_new(item, dedup),
            _ => None,
        })
        .collect();
    if dedup.judge {
        lock_stories(tx, fingerprints.iter().flatten()).await?;
    }
    for ((item, stored), fingerprint) in listed.into_iter().zip(fingerprints) {
        if stored.is_none() && turned_away(item) {
            retire_unseen(tx, source, item, now).await?;
            outcome.retired += 1;
            continue;
        }
        match decide(source, item, stored)? {
            Decision::Unchanged => {
                let stmt = tx
                    .prepare_cached("UPDATE items SET last_seen = $2 WHERE id = $1")
                    .await?;
                tx.execute(&stmt, &[&item.id.as_str(), &to_stored(now)])
                    .await?;
                outcome.unchanged += 1;
            }
            Decision::New(stored) => {
                // Judged before its own row exists, against what is stored.
                let verdict = judge_new(tx, source, &stored, fingerprint.as_ref(), dedup).await?;
                write_item(tx, &stored, now).await?;
                write_dedup(tx, &stored.id, fingerprint.as_ref(), verdict.as_ref()).await?;
                insert_revision(tx, &stored, now).await?;
                events.push(item_event(&stored, EventKind::New, now, verdict.as_ref()));
                outcome.new += 1;
            }
            Decision::Updated(stored) => {
                let (fingerprint, verdict) = judge_edit(tx, &stored, dedup).await?;
                write_item(tx, &stored, now).await?;
                write_dedup(tx, &stored.id, fingerprint.as_ref(), verdict.as_ref()).await?;
                insert_revision(tx, &stored, now).await?;
                events.push(item_event(
                    &stored,
                    EventKind::Updated,
                    now,
                    verdict.as_ref(),
                ));
                outcome.updated += 1;
            }
        }
    }
    if !events.is_empty() {
        order_writers(tx).await?;
        for event in &events {
            enqueue(tx, event, now).await?;
        }
    }
    if outcome.new + outcome.updated > 0 {
        changed_in(tx, instance).await?;
    }
    Ok(outcome)
}

/// The newest `n` stored items of `source_id` as `(published, id)`, in the
/// merged feed's order (walking `items_by_source` backwards).
async fn newest_stored(
    tx: &impl GenericClient,
    source_id: &str,
    n: usize,
) -> Result<Vec<(i64, String)>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT published, id FROM items WHERE source_id = $1
             ORDER BY published DESC, id DESC LIMIT $2",
        )
        .await?;
    tx.query(&stmt, &[&source_id, &sql_limit(n)])
        .await?
        .iter()
        .map(|row| Ok((col(row, 0)?, col(row, 1)?)))
        .collect()
}

/// Remembers a new item that retention turned away as retired, seen `now`.
async fn retire_unseen(
    tx: &impl GenericClient,
    source: &SourceRef,
    item: &Item,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO retired_items (id, source_id, retired_at, last_seen) VALUES ($1, $2, $3, $3)
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .await?;
    tx.execute(&stmt, &[&item.id.as_str(), &source.id, &to_stored(now)])
        .await?;
    Ok(())
}

async fn stored_version(
    tx: &impl GenericClient,
    id: &str,
) -> Result<Option<StoredVersion>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT revision, content_hash, published, published_from_source FROM items WHERE id = $1",
        )
        .await?;
    tx.query_opt(&stmt, &[&id])
        .await?
        .map(|row| {
            Ok(StoredVersion {
                revision: col(&row, 0)?,
                content_hash: col(&row, 1)?,
                published: col(&row, 2)?,
                published_from_source: col(&row, 3)?,
            })
        })
        .transpose()
}

async fn is_retired(
    tx: &impl GenericClient,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let stmt = tx
        .prepare_cached("UPDATE retired_items SET last_seen = $2 WHERE id = $1")
        .await?;
    Ok(tx.execute(&stmt, &[&id, &to_stored(now)]).await? > 0)
}

/// Writes `item` as it now is, seen `now`, with its folded text for the filters.
async fn write_item(
    tx: &impl GenericClient,
    item: &Item,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO items (id, source_id, source_name, source_url, guid, url, title, summary,
                                content_html, authors, categories, language, published,
                                published_from_source, updated, revision, content_hash,
                                first_seen, last_seen, title_folded, summary_folded,
                                categories_folded)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                     $18, $18, $19, $20, $21)
             ON CONFLICT (id) DO UPDATE SET
                 source_id = excluded.source_id, source_name = excluded.source_name,
                 source_url = excluded.source_url, guid = excluded.guid, url = excluded.url,
                 title = excluded.title, summary = excluded.summary,
                 content_html = excluded.content_html, authors = excluded.authors,
                 categories = excluded.categories, language = excluded.language,
                 published = excluded.published,
                 published_from_source = excluded.published_from_source,
                 updated = excluded.updated, revision = excluded.revision,
                 content_hash = excluded.content_hash, last_seen = excluded.last_seen,
                 title_folded = excluded.title_folded,
                 summary_folded = excluded.summary_folded,
                 categories_folded = excluded.categories_folded",
        )
        .await?;
    let categories_folded: Vec<String> = item
        .categories
        .iter()
        .map(|c| ItemFilter::fold(c))
        .collect();
    tx.execute(
        &stmt,
        &[
            &item.id.as_str(),
            &item.source.id,
            &item.source.name,
            &item.source.url,
            &item.guid,
            &item.url,
            &item.title,
            &item.summary,
            &item.content_html,
            &serde_json::to_string(&item.authors)?,
            &serde_json::to_string(&item.categories)?,
            &item.language,
            &to_stored(item.published),
            &item.published_from_source,
            &item.updated.map(to_stored),
            &i64::from(item.revision),
            &item.content_hash,
            &to_stored(now),
            &ItemFilter::fold(&item.title),
            &ItemFilter::fold(&item.summary),
            &categories_folded,
        ],
    )
    .await?;
    Ok(())
}

async fn insert_revision(
    tx: &impl GenericClient,
    item: &Item,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO item_revisions (item_id, revision, content_hash, title, url, content_html,
                                         recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &item.id.as_str(),
            &i64::from(item.revision),
            &item.content_hash,
            &item.title,
            &item.url,
            &item.content_html,
            &to_stored(now),
        ],
    )
    .await?;
    Ok(())
}

/// Reads one row selected with [`ITEM_COLUMNS`].
pub(super) fn item_from_row(row: &Row) -> Result<(Item, Option<DateTime<Utc>>), StoreError> {
    let id: String = col(row, 0)?;
    let key = id.as_str();
    let json_list = |index: usize, column: &'static str| -> Result<Vec<String>, StoreError> {
        let text: String = col(row, index)?;
        serde_json::from_str(&text).map_err(|e| StoreError::BadValue {
            table: "items",
            key: key.to_owned(),
            column,
            reason: format!("not a JSON list of strings: {e}"),
        })
    };
    let stored_at = from_stored_opt(col(row, 17)?, "items", key, "stored_at")?;
    let item = Item {
        source: SourceRef {
            id: col(row, 1)?,
            name: col(row, 2)?,
            url: col(row, 3)?,
        },
        guid: col(row, 4)?,
        url: col(row, 5)?,
        title: col(row, 6)?,
        summary: col(row, 7)?,
        content_html: col(row, 8)?,
        authors: json_list(9, "authors")?,
        categories: json_list(10, "categories")?,
        language: col(row, 11)?,
        published: from_stored(col(row, 12)?, "items", key, "published")?,
        published_from_source: col(row, 13)?,
        updated: from_stored_opt(col(row, 14)?, "items", key, "updated")?,
        revision: narrow(col(row, 15)?, "items", key, "revision")?,
        content_hash: col(row, 16)?,
        id: ItemId::from_stored(id),
    };
    Ok((item, stored_at))
}
