//! Items and their revisions: storing a poll's items with their outbox
//! messages, reading them back, and retention.

use super::Sqlite;
use super::dedup::{judge_edit, judge_new};
use super::outbox::enqueue;
use super::polls::Fingerprints;
use super::search_index::index_pending;
use super::sources::ensure_source;
use crate::dedup::{DedupRule, Fingerprint, Verdict};
use crate::event::{EventKind, item_event};
use crate::item::{Item, ItemId, SourceRef};
use crate::store::items::{Decision, FirstSeen, StoredVersion, decide, prune_cutoffs, stored_date};
use crate::store::{
    ApplyOutcome, Retention, Revision, StoreError, from_stored, from_stored_opt, is_repeat, narrow,
    sql_limit, to_stored, truncate,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use std::collections::HashSet;

/// The columns [`item_from_row`] reads, in order: the item, and when its
/// current version was stored (its revision's `recorded_at`).
pub(super) const ITEM_COLUMNS: &str = "id, source_id, source_name, source_url, guid, url, title, summary, \
     content_html, authors, categories, language, published, published_from_source, updated, \
     revision, content_hash, \
     (SELECT r.recorded_at FROM item_revisions AS r \
      WHERE r.item_id = items.id AND r.revision = items.revision) AS stored_at";

/// The merged feed's query; `?1` is the limit.
/// A duplicate of another source's item is left out: the merged feed
/// shows each story once, as its first item.
pub(super) fn newest_items_sql() -> String {
    format!(
        "SELECT {ITEM_COLUMNS} FROM items WHERE duplicate_of IS NULL \
         ORDER BY published DESC, id DESC LIMIT ?1"
    )
}

impl Sqlite {
    pub(super) fn write_items(
        &self,
        source: &SourceRef,
        items: &[Item],
        now: DateTime<Utc>,
    ) -> Result<ApplyOutcome, StoreError> {
        let mut conn = self.writer();
        // IMMEDIATE: take the write lock at the start instead of upgrading a
        // read lock later, which another process's writer could refuse with
        // SQLITE_BUSY half-way through the poll.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcome = apply_in(
            &tx,
            source,
            items,
            now,
            &Retention::default(),
            &DedupRule::default(),
            &Fingerprints::new(),
        )?;
        index_pending(&tx)?;
        tx.commit()?;
        drop(conn);
        if outcome.new + outcome.updated > 0 {
            self.notify_changed();
        }
        Ok(outcome)
    }

    pub(super) fn read_item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let conn = self.reader()?;
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?1"))?;
        let mut rows = stmt.query([id])?;
        match rows.next()? {
            Some(row) => Ok(Some(item_from_row(row)?.0)),
            None => Ok(None),
        }
    }

    pub(super) fn read_known_ids(&self, ids: &[ItemId]) -> Result<HashSet<ItemId>, StoreError> {
        let conn = self.reader()?;
        let mut stored = conn.prepare_cached("SELECT 1 FROM items WHERE id = ?1")?;
        let mut retired = conn.prepare_cached("SELECT 1 FROM retired_items WHERE id = ?1")?;
        let mut known = HashSet::new();
        for id in ids {
            if stored.exists([id.as_str()])? || retired.exists([id.as_str()])? {
                known.insert(id.clone());
            }
        }
        Ok(known)
    }

    pub(super) fn read_revisions(&self, id: &str) -> Result<Vec<Revision>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT revision, content_hash, recorded_at FROM item_revisions
             WHERE item_id = ?1 ORDER BY revision",
        )?;
        let mut rows = stmt.query([id])?;
        let mut revisions = Vec::new();
        while let Some(row) = rows.next()? {
            revisions.push(Revision {
                revision: narrow(row.get(0)?, "item_revisions", id, "revision")?,
                content_hash: row.get(1)?,
                recorded_at: from_stored(row.get(2)?, "item_revisions", id, "recorded_at")?,
            });
        }
        Ok(revisions)
    }

    pub(super) fn write_prune(
        &self,
        retention: &Retention,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let now = truncate(now);
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut removed = 0;
        let (cutoff, forget_before) = prune_cutoffs(retention.max_age, now);
        if let Some(cutoff) = cutoff {
            // Only the sources that have an old item are ranked; each keeps
            // its newest `min_per_source` whatever their age.
            let mut delete = tx.prepare_cached(
                "DELETE FROM items WHERE id IN (
                     SELECT id FROM (
                         SELECT id, published, ROW_NUMBER() OVER (
                             PARTITION BY source_id ORDER BY published DESC, id DESC
                         ) AS rank
                         FROM items
                         WHERE source_id IN (SELECT source_id FROM items WHERE published < ?1)
                     ) WHERE published < ?1 AND rank > ?2
                 ) RETURNING id, source_id, last_seen",
            )?;
            removed += retire_deleted(
                &tx,
                &mut delete,
                params![to_stored(cutoff), sql_limit(retention.min_per_source)],
                now,
            )?;
        }
        if retention.max_per_source > 0 {
            let mut delete = tx.prepare_cached(
                "DELETE FROM items WHERE id IN (
                     SELECT id FROM (
                         SELECT id, ROW_NUMBER() OVER (
                             PARTITION BY source_id ORDER BY published DESC, id DESC
                         ) AS rank
                         FROM items
                     ) WHERE rank > ?1
                 ) RETURNING id, source_id, last_seen",
            )?;
            removed += retire_deleted(
                &tx,
                &mut delete,
                params![sql_limit(retention.max_per_source)],
                now,
            )?;
        }
        if let Some(forget_before) = forget_before {
            tx.prepare_cached("DELETE FROM retired_items WHERE last_seen < ?1")?
                .execute([to_stored(forget_before)])?;
            super::full_text::prune_full_text(&tx, forget_before)?;
        }
        index_pending(&tx)?;
        tx.commit()?;
        drop(conn);
        if removed > 0 {
            self.notify_changed();
        }
        Ok(removed)
    }
}

/// The body of [`Store::apply_items`] and of a successful poll's write,
/// inside the caller's transaction: the one place that writes a poll's
/// items, their revisions and their outbox messages, and turns away the new
/// items `retention` finds too old. The caller commits, then notifies.
/// `fingerprints` holds those of the items the caller fingerprinted already
/// (any others that need one get it here).
pub(super) fn apply_in(
    tx: &Connection,
    source: &SourceRef,
    items: &[Item],
    now: DateTime<Utc>,
    retention: &Retention,
    dedup: &DedupRule,
    fingerprints: &Fingerprints,
) -> Result<ApplyOutcome, StoreError> {
    let now = truncate(now);
    let mut outcome = ApplyOutcome::default();
    ensure_source(tx, &source.id, &source.url)?;
    let mut seen = HashSet::with_capacity(items.len());
    // What is stored of each listed item first: retention ranks a new item
    // among the source's stored items and the rest of the poll.
    let mut listed = Vec::with_capacity(items.len());
    for item in items {
        if is_repeat(&mut seen, source, item) {
            continue;
        }
        let stored = stored_version(tx, item.id.as_str())?;
        if stored.is_none() && is_retired(tx, item.id.as_str(), now)? {
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
        newest_stored(tx, &source.id, retention.min_per_source)?
    } else {
        Vec::new()
    };
    let first_seen = FirstSeen::new(retention, now, poll(), newest);
    for (item, stored) in listed {
        if stored.is_none() && first_seen.turns_away(item.id.as_str(), stored_date(item, None)) {
            retire_unseen(tx, source, item, now)?;
            outcome.retired += 1;
            continue;
        }
        match decide(source, item, stored)? {
            Decision::Unchanged => {
                tx.prepare_cached("UPDATE items SET last_seen = ?2 WHERE id = ?1")?
                    .execute(params![item.id.as_str(), to_stored(now)])?;
                outcome.unchanged += 1;
            }
            Decision::New(stored) => {
                // Judged before its own row exists, against what is stored.
                let known = fingerprints.get(&stored.id).cloned();
                let (fingerprint, verdict) = judge_new(tx, source, &stored, dedup, known)?;
                write_item(tx, &stored, now, fingerprint.as_ref(), verdict.as_ref())?;
                insert_revision(tx, &stored, now)?;
                let event = item_event(&stored, EventKind::New, now, verdict.as_ref());
                enqueue(tx, &event, now)?;
                outcome.new += 1;
            }
            Decision::Updated(stored) => {
                let known = fingerprints.get(&stored.id).cloned();
                let (fingerprint, verdict) = judge_edit(tx, &stored, dedup, known)?;
                write_item(tx, &stored, now, fingerprint.as_ref(), verdict.as_ref())?;
                insert_revision(tx, &stored, now)?;
                let event = item_event(&stored, EventKind::Updated, now, verdict.as_ref());
                enqueue(tx, &event, now)?;
                outcome.updated += 1;
            }
        }
    }
    Ok(outcome)
}

/// The newest `n` stored items of `source_id` as `(published, id)`, in the
/// merged feed's order (walking `items_by_source` backwards).
fn newest_stored(
    conn: &Connection,
    source_id: &str,
    n: usize,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT published, id FROM items WHERE source_id = ?1
         ORDER BY published DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![source_id, sql_limit(n)], |row| {
        Ok((row.get(0)?, row.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Remembers a new item that retention turned away as retired, seen `now`,
/// so that it is never stored or published as new while it stays listed.
fn retire_unseen(
    conn: &Connection,
    source: &SourceRef,
    item: &Item,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO retired_items (id, source_id, retired_at, last_seen) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
    )?
    .execute(params![item.id.as_str(), source.id, to_stored(now)])?;
    Ok(())
}

/// Runs a `DELETE … RETURNING id, source_id, last_seen` and remembers each
/// deleted id in `retired_items`. Returns how many rows went.
fn retire_deleted(
    conn: &Connection,
    delete: &mut rusqlite::CachedStatement<'_>,
    params: &[&dyn rusqlite::ToSql],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut deleted: Vec<(String, String, i64)> = Vec::new();
    {
        let mut rows = delete.query(params)?;
        while let Some(row) = rows.next()? {
            deleted.push((row.get(0)?, row.get(1)?, row.get(2)?));
        }
    }
    let mut retire = conn.prepare_cached(
        "INSERT INTO retired_items (id, source_id, retired_at, last_seen) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET retired_at = excluded.retired_at,
                                        last_seen = excluded.last_seen",
    )?;
    for (id, source_id, last_seen) in &deleted {
        retire.execute(params![id, source_id, to_stored(now), last_seen])?;
    }
    Ok(deleted.len())
}

/// The stored version of `id`, if any.
fn stored_version(conn: &Connection, id: &str) -> Result<Option<StoredVersion>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT revision, content_hash, published, published_from_source FROM items WHERE id = ?1",
        )?
        .query_row([id], |row| {
            Ok(StoredVersion {
                revision: row.get(0)?,
                content_hash: row.get(1)?,
                published: row.get(2)?,
                published_from_source: row.get(3)?,
            })
        })
        .optional()?)
}

/// Whether retention deleted `id`; if so, notes that the source still lists it.
fn is_retired(conn: &Connection, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let touched = conn
        .prepare_cached("UPDATE retired_items SET last_seen = ?2 WHERE id = ?1")?
        .execute(params![id, to_stored(now)])?;
    Ok(touched > 0)
}

/// Writes `item` as it now is, seen `now`, with its duplicate keys and
/// verdict (`src/dedup.rs`; none for a source out of dedup), in one write
/// of the row. A new item is first seen `now`; a stored one keeps its
/// first-seen time.
fn write_item(
    conn: &Connection,
    item: &Item,
    now: DateTime<Utc>,
    fingerprint: Option<&Fingerprint>,
    verdict: Option<&Verdict>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO items (id, source_id, source_name, source_url, guid, url, title, summary,
                            content_html, authors, categories, language, published,
                            published_from_source, updated, revision, content_hash,
                            first_seen, last_seen, dedup_link, dedup_guid, dedup_title,
                            dedup_signature, duplicate_of, duplicate_source, duplicate_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)
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
             dedup_link = excluded.dedup_link, dedup_guid = excluded.dedup_guid,
             dedup_title = excluded.dedup_title, dedup_signature = excluded.dedup_signature,
             duplicate_of = excluded.duplicate_of, duplicate_source = excluded.duplicate_source,
             duplicate_reason = excluded.duplicate_reason",
    )?
    .execute(params![
        item.id.as_str(),
        item.source.id,
        item.source.name,
        item.source.url,
        item.guid,
        item.url,
        item.title,
        item.summary,
        item.content_html,
        serde_json::to_string(&item.authors)?,
        serde_json::to_string(&item.categories)?,
        item.language,
        to_stored(item.published),
        item.published_from_source,
        item.updated.map(to_stored),
        item.revision,
        item.content_hash,
        to_stored(now),
        fingerprint.and_then(|f| f.link.as_deref()),
        fingerprint.and_then(|f| f.guid_link.as_deref()),
        fingerprint.and_then(|f| f.title.as_deref()),
        fingerprint.and_then(|f| f.signature.as_deref()),
        verdict.map(|v| v.of.as_str()),
        verdict.map(|v| v.of_source.as_str()),
        verdict.map(|v| v.reason.as_str()),
    ])?;
    Ok(())
}

/// Records the current version of `item` in its history.
fn insert_revision(conn: &Connection, item: &Item, now: DateTime<Utc>) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO item_revisions (item_id, revision, content_hash, title, url, content_html,
                                     recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        item.id.as_str(),
        item.revision,
        item.content_hash,
        item.title,
        item.url,
        item.content_html,
        to_stored(now),
    ])?;
    Ok(())
}

/// Reads one row selected with [`ITEM_COLUMNS`]: the item, and when its
/// version was stored.
pub(super) fn item_from_row(row: &Row<'_>) -> Result<(Item, Option<DateTime<Utc>>), StoreError> {
    let id: String = row.get(0)?;
    let key = id.as_str();
    let json_list = |index: usize, column: &'static str| -> Result<Vec<String>, StoreError> {
        let text: String = row.get(index)?;
        serde_json::from_str(&text).map_err(|e| StoreError::BadValue {
            table: "items",
            key: key.to_owned(),
            column,
            reason: format!("not a JSON list of strings: {e}"),
        })
    };
    let stored_at = from_stored_opt(row.get(17)?, "items", key, "stored_at")?;
    let item = Item {
        source: SourceRef {
            id: row.get(1)?,
            name: row.get(2)?,
            url: row.get(3)?,
        },
        guid: row.get(4)?,
        url: row.get(5)?,
        title: row.get(6)?,
        summary: row.get(7)?,
        content_html: row.get(8)?,
        authors: json_list(9, "authors")?,
        categories: json_list(10, "categories")?,
        language: row.get(11)?,
        published: from_stored(row.get(12)?, "items", key, "published")?,
        published_from_source: row.get(13)?,
        updated: from_stored_opt(row.get(14)?, "items", key, "updated")?,
        revision: narrow(row.get(15)?, "items", key, "revision")?,
        content_hash: row.get(16)?,
        id: ItemId::from_stored(id),
    };
    Ok((item, stored_at))
}
