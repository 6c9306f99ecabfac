//! Items and their revisions: storing a poll's items with their outbox
//! messages, reading them back, and retention. The rules are
//! `store/items.rs`'s, shared with SQLite; only the SQL is PostgreSQL's.

use super::dedup::{fingerprint_new, judge_edit, judge_new, lock_stories};
use super::leases::fence_publisher;
use super::outbox::enqueue_all;
use super::sources::ensure_source;
use super::{Postgres, col};
use crate::dedup::{DedupRule, Fingerprint, Verdict};
use crate::event::{EventKind, item_event};
use crate::item::{Item, ItemId, SourceRef};
use crate::store::items::{Decision, FirstSeen, StoredVersion, decide, prune_cutoffs, stored_date};
use crate::store::{
    ApplyOutcome, ItemFilter, Retention, Revision, StoreError, from_stored, from_stored_opt,
    is_repeat, narrow, sql_limit, to_stored, truncate,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use std::collections::{HashMap, HashSet};
use tokio_postgres::{Row, Statement};

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
///
/// A poll's items go to the server in a few statements, whatever their
/// number: one read of what is stored of them all, one of which of the
/// rest were retired, and one write per table (each a multi-row statement
/// over arrays, `unnest`). Each statement is a round trip, and the
/// database server's work per statement, not per row, was most of a
/// first cycle's cost when each item took six of them.
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
    let mut seen = HashSet::with_capacity(items.len());
    let polled: Vec<&Item> = items
        .iter()
        .filter(|&item| !is_repeat(&mut seen, source, item))
        .collect();
    let ids: Vec<&str> = polled.iter().map(|item| item.id.as_str()).collect();
    // The source's row (the items' foreign key) and the read of the items
    // touch nothing of each other: one round trip for both.
    let ((), mut stored) = tokio::try_join!(
        ensure_source(tx, &source.id, &source.url),
        stored_versions(tx, &ids),
    )?;
    let unstored: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    let retired = seen_retired(tx, &unstored, now).await?;
    // What is stored of each listed item first: retention ranks a new item
    // among the source's stored items and the rest of the poll.
    let mut listed = Vec::with_capacity(polled.len());
    for item in polled {
        let stored = stored.remove(item.id.as_str());
        if stored.is_none() && retired.contains(item.id.as_str()) {
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
    let mut unchanged = Vec::new();
    let mut unseen = Vec::new();
    let mut changed = Vec::new();
    for ((item, stored), fingerprint) in listed.into_iter().zip(fingerprints) {
        if stored.is_none() && turned_away(item) {
            unseen.push(item.id.as_str());
            continue;
        }
        match decide(source, item, stored)? {
            Decision::Unchanged => unchanged.push(item.id.as_str()),
            Decision::New(stored) => changed.push((stored, EventKind::New, fingerprint)),
            Decision::Updated(stored) => changed.push((stored, EventKind::Updated, None)),
        }
    }
    outcome.unchanged += unchanged.len();
    outcome.retired += unseen.len();
    // Each judged against what is stored, before its own row exists. A
    // judgement reads only other sources' items, never this poll's, so the
    // lookups of all of them go to the server at once.
    let judged = futures_util::future::try_join_all(changed.into_iter().map(
        |(item, kind, fingerprint)| async move {
            let (fingerprint, verdict) = match kind {
                EventKind::New => {
                    let verdict = judge_new(tx, source, &item, fingerprint.as_ref(), dedup).await?;
                    (fingerprint, verdict)
                }
                EventKind::Updated => judge_edit(tx, &item, dedup).await?,
            };
            Ok::<_, StoreError>(Written {
                item,
                kind,
                fingerprint,
                verdict,
            })
        },
    ))
    .await?;
    // The statements the revisions' foreign key orders after the items'
    // are prepared first, so that their requests go out in this order:
    // tokio-postgres pipelines the requests of futures polled together,
    // each sent when its future is first polled, and the server runs them
    // in the order they came.
    let upsert = tx.prepare_cached(UPSERT_ITEMS).await?;
    let revisions = tx.prepare_cached(INSERT_REVISIONS).await?;
    tokio::try_join!(
        touch(tx, &unchanged, now),
        retire_unseen(tx, &source.id, &unseen, now),
        upsert_items(tx, &upsert, &judged, now),
        insert_revisions(tx, &revisions, &judged, now),
    )?;
    if judged.is_empty() {
        return Ok(outcome);
    }
    let events: Vec<_> = judged
        .iter()
        .map(|w| item_event(&w.item, w.kind, now, w.verdict.as_ref()))
        .collect();
    for w in &judged {
        match w.kind {
            EventKind::New => outcome.new += 1,
            EventKind::Updated => outcome.updated += 1,
        }
    }
    // The outbox rows last: `enqueue_all` lets one transaction at a time
    // write them, from its first row to its commit, so the rows go in at
    // the end of the work, and that lock is held only for the
    // transaction's tail.
    tokio::try_join!(enqueue_all(tx, &events, now), changed_in(tx, instance))?;
    Ok(outcome)
}

/// A new or changed item of a poll, judged, as it is written.
struct Written {
    item: Item,
    kind: EventKind,
    fingerprint: Option<Fingerprint>,
    verdict: Option<Verdict>,
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

/// Remembers the new items `ids` of `source_id` that retention turned away
/// as retired, seen `now`.
async fn retire_unseen(
    tx: &impl GenericClient,
    source_id: &str,
    ids: &[&str],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO retired_items (id, source_id, retired_at, last_seen)
             SELECT id, $2, $3, $3 FROM unnest($1::text[]) AS t(id)
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .await?;
    tx.execute(&stmt, &[&ids, &source_id, &to_stored(now)])
        .await?;
    Ok(())
}

/// What is stored of each of `ids`, by id; the ids not stored are not in it.
async fn stored_versions(
    tx: &impl GenericClient,
    ids: &[&str],
) -> Result<HashMap<String, StoredVersion>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT id, revision, content_hash, published, published_from_source
             FROM items WHERE id = ANY($1)",
        )
        .await?;
    tx.query(&stmt, &[&ids])
        .await?
        .iter()
        .map(|row| {
            Ok((
                col(row, 0)?,
                StoredVersion {
                    revision: col(row, 1)?,
                    content_hash: col(row, 2)?,
                    published: col(row, 3)?,
                    published_from_source: col(row, 4)?,
                },
            ))
        })
        .collect()
}

/// Which of `ids` are retired; those get `now` as their last sight.
async fn seen_retired(
    tx: &impl GenericClient,
    ids: &[&str],
    now: DateTime<Utc>,
) -> Result<HashSet<String>, StoreError> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let stmt = tx
        .prepare_cached("UPDATE retired_items SET last_seen = $2 WHERE id = ANY($1) RETURNING id")
        .await?;
    tx.query(&stmt, &[&ids, &to_stored(now)])
        .await?
        .iter()
        .map(|row| col(row, 0))
        .collect()
}

/// Gives the stored, unchanged items `ids` `now` as their last sight.
async fn touch(
    tx: &impl GenericClient,
    ids: &[&str],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached("UPDATE items SET last_seen = $2 WHERE id = ANY($1)")
        .await?;
    tx.execute(&stmt, &[&ids, &to_stored(now)]).await?;
    Ok(())
}

/// The statement of [`upsert_items`].
const UPSERT_ITEMS: &str =
    "INSERT INTO items (id, source_id, source_name, source_url, guid, url, title, summary,
                        content_html, authors, categories, language, published,
                        published_from_source, updated, revision, content_hash,
                        first_seen, last_seen, title_folded, summary_folded,
                        categories_folded, dedup_link, dedup_guid, dedup_title,
                        dedup_signature, duplicate_of, duplicate_source, duplicate_reason)
     SELECT id, source_id, source_name, source_url, guid, url, title, summary,
            content_html, authors, categories, language, published,
            published_from_source, updated, revision, content_hash, $28, $28,
            title_folded, summary_folded,
            ARRAY(SELECT jsonb_array_elements_text(categories_folded::jsonb)),
            dedup_link, dedup_guid, dedup_title, dedup_signature, duplicate_of,
            duplicate_source, duplicate_reason
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                 $11::text[], $12::text[], $13::int8[], $14::bool[], $15::int8[],
                 $16::int8[], $17::text[], $18::text[], $19::text[], $20::text[],
                 $21::text[], $22::text[], $23::text[], $24::bytea[], $25::text[],
                 $26::text[], $27::text[])
          AS t(id, source_id, source_name, source_url, guid, url, title, summary,
               content_html, authors, categories, language, published,
               published_from_source, updated, revision, content_hash, title_folded,
               summary_folded, categories_folded, dedup_link, dedup_guid, dedup_title,
               dedup_signature, duplicate_of, duplicate_source, duplicate_reason)
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
         categories_folded = excluded.categories_folded,
         dedup_link = excluded.dedup_link, dedup_guid = excluded.dedup_guid,
         dedup_title = excluded.dedup_title, dedup_signature = excluded.dedup_signature,
         duplicate_of = excluded.duplicate_of,
         duplicate_source = excluded.duplicate_source,
         duplicate_reason = excluded.duplicate_reason";

/// Writes each item as it now is, seen `now`, with its folded text for the
/// filters and its duplicate keys and verdict, in one statement. The ids
/// are distinct (a poll's repeats are skipped), as one `ON CONFLICT DO
/// UPDATE` needs. A list column (`categories_folded`) cannot be one array
/// of a multi-row `unnest`, so each item's goes as a JSON list.
async fn upsert_items(
    tx: &impl GenericClient,
    stmt: &Statement,
    written: &[Written],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if written.is_empty() {
        return Ok(());
    }
    let items = || written.iter().map(|w| &w.item);
    let text = |f: fn(&Item) -> &str| items().map(f).collect::<Vec<_>>();
    let opt = |f: fn(&Item) -> Option<&str>| items().map(f).collect::<Vec<_>>();
    let json = |f: fn(&Item) -> &[String]| {
        items()
            .map(|item| serde_json::to_string(f(item)))
            .collect::<Result<Vec<_>, _>>()
    };
    let fingerprint = |f: fn(&Fingerprint) -> Option<&str>| {
        written
            .iter()
            .map(|w| w.fingerprint.as_ref().and_then(f))
            .collect::<Vec<_>>()
    };
    let verdict = |f: fn(&Verdict) -> &str| {
        written
            .iter()
            .map(|w| w.verdict.as_ref().map(f))
            .collect::<Vec<_>>()
    };
    let categories_folded = items()
        .map(|item| {
            let folded: Vec<String> = item
                .categories
                .iter()
                .map(|c| ItemFilter::fold(c))
                .collect();
            serde_json::to_string(&folded)
        })
        .collect::<Result<Vec<_>, _>>()?;
    tx.execute(
        stmt,
        &[
            &text(|i| i.id.as_str()),
            &text(|i| &i.source.id),
            &text(|i| &i.source.name),
            &text(|i| &i.source.url),
            &text(|i| &i.guid),
            &opt(|i| i.url.as_deref()),
            &text(|i| &i.title),
            &text(|i| &i.summary),
            &opt(|i| i.content_html.as_deref()),
            &json(|i| &i.authors)?,
            &json(|i| &i.categories)?,
            &opt(|i| i.language.as_deref()),
            &items().map(|i| to_stored(i.published)).collect::<Vec<_>>(),
            &items().map(|i| i.published_from_source).collect::<Vec<_>>(),
            &items()
                .map(|i| i.updated.map(to_stored))
                .collect::<Vec<_>>(),
            &items().map(|i| i64::from(i.revision)).collect::<Vec<_>>(),
            &text(|i| &i.content_hash),
            &items()
                .map(|i| ItemFilter::fold(&i.title))
                .collect::<Vec<_>>(),
            &items()
                .map(|i| ItemFilter::fold(&i.summary))
                .collect::<Vec<_>>(),
            &categories_folded,
            &fingerprint(|f| f.link.as_deref()),
            &fingerprint(|f| f.guid_link.as_deref()),
            &fingerprint(|f| f.title.as_deref()),
            &written
                .iter()
                .map(|w| w.fingerprint.as_ref().and_then(|f| f.signature.as_deref()))
                .collect::<Vec<_>>(),
            &verdict(|v| v.of.as_str()),
            &verdict(|v| &v.of_source),
            &verdict(|v| &v.reason),
            &to_stored(now),
        ],
    )
    .await?;
    Ok(())
}

/// The statement of [`insert_revisions`].
const INSERT_REVISIONS: &str =
    "INSERT INTO item_revisions (item_id, revision, content_hash, title, url, content_html,
                                 recorded_at)
     SELECT item_id, revision, content_hash, title, url, content_html, $7
     FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[])
          AS t(item_id, revision, content_hash, title, url, content_html)";

/// Each written item's new revision, recorded `now`, in one statement.
async fn insert_revisions(
    tx: &impl GenericClient,
    stmt: &Statement,
    written: &[Written],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if written.is_empty() {
        return Ok(());
    }
    let items = || written.iter().map(|w| &w.item);
    tx.execute(
        stmt,
        &[
            &items().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            &items().map(|i| i64::from(i.revision)).collect::<Vec<_>>(),
            &items().map(|i| i.content_hash.as_str()).collect::<Vec<_>>(),
            &items().map(|i| i.title.as_str()).collect::<Vec<_>>(),
            &items().map(|i| i.url.as_deref()).collect::<Vec<_>>(),
            &items()
                .map(|i| i.content_html.as_deref())
                .collect::<Vec<_>>(),
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
