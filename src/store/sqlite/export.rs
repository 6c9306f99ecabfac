//! `migrate-store`'s reading side: the whole file, as one snapshot, in
//! batches of stored rows (see `store/transfer.rs`).

use super::Sqlite;
use crate::store::StoreError;
use crate::store::transfer::{
    BATCH, Batch, DedupColumns, FullTextRow, ItemRow, OutboxRow, OutcomeRow, RetiredRow,
    RevisionRow, SourceRow,
};
use rusqlite::{Connection, Row, params};
use tokio::sync::mpsc::Sender;

impl Sqlite {
    /// Sends every row of the store to `out`, one table after another, from
    /// one read transaction. Blocks: run it on the blocking pool. Stops with
    /// an error when the receiver is gone.
    pub(in crate::store) fn export(&self, out: &Sender<Batch>) -> Result<(), StoreError> {
        let mut conn = self.reader()?;
        // One transaction: every table is read as of the same moment.
        let tx = conn.transaction()?;
        send(out, Batch::Sources(all(&tx, SOURCES, source_row)?))?;
        keyset(
            &tx,
            ITEMS,
            item_row,
            |row| row.id.clone(),
            |b| send(out, Batch::Items(b)),
        )?;
        let mut after = (String::new(), 0i64);
        loop {
            let mut stmt = tx.prepare_cached(REVISIONS)?;
            let batch = stmt
                .query_map(params![after.0, after.1, BATCH as i64], revision_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let Some(last) = batch.last() else { break };
            after = (last.item_id.clone(), last.revision);
            send(out, Batch::Revisions(batch))?;
        }
        keyset(
            &tx,
            RETIRED,
            retired_row,
            |row| row.id.clone(),
            |b| send(out, Batch::Retired(b)),
        )?;
        keyset(
            &tx,
            FULL_TEXT,
            full_text_row,
            |row| row.item_id.clone(),
            |b| send(out, Batch::FullText(b)),
        )?;
        let mut after = i64::MIN;
        loop {
            let mut stmt = tx.prepare_cached(OUTBOX)?;
            let batch = stmt
                .query_map(params![after, BATCH as i64], outbox_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let Some(last) = batch.last() else { break };
            after = last.seq;
            send(out, Batch::Outbox(batch))?;
        }
        let mut after = i64::MIN;
        loop {
            let mut stmt = tx.prepare_cached(OUTCOMES)?;
            let mut rows = stmt.query(params![after, BATCH as i64])?;
            let mut batch = Vec::new();
            while let Some(row) = rows.next()? {
                after = row.get(0)?;
                batch.push(OutcomeRow {
                    at: row.get(1)?,
                    source_id: row.get(2)?,
                    outcome: row.get(3)?,
                });
            }
            if batch.is_empty() {
                break;
            }
            send(out, Batch::FetchOutcomes(batch))?;
        }
        // AUTOINCREMENT's counter: higher than any row left when the
        // newest ones were drained.
        let highest: Option<i64> = tx
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
                [],
                |row| row.get(0),
            )
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        send(out, Batch::OutboxHighest(highest.unwrap_or(0)))?;
        Ok(())
    }
}

const SOURCES: &str = "SELECT id, url, etag, last_modified, permanent_url, last_attempt,
    last_success, last_error, consecutive_failures, failing_since, gone, next_poll,
    page_baseline, warning, not_followed FROM sources ORDER BY id";

const ITEMS: &str = "SELECT id, source_id, source_name, source_url, guid, url, title, summary,
    content_html, authors, categories, language, published, published_from_source, updated,
    first_seen, last_seen, revision, content_hash, dedup_link, dedup_guid, dedup_title,
    dedup_signature, duplicate_of, duplicate_source, duplicate_reason
    FROM items WHERE id > ?1 ORDER BY id LIMIT ?2";

const REVISIONS: &str = "SELECT item_id, revision, content_hash, title, url, content_html,
    recorded_at FROM item_revisions WHERE (item_id, revision) > (?1, ?2)
    ORDER BY item_id, revision LIMIT ?3";

const RETIRED: &str = "SELECT id, source_id, retired_at, last_seen FROM retired_items
    WHERE id > ?1 ORDER BY id LIMIT ?2";

const FULL_TEXT: &str = "SELECT item_id, source_id, state, failures, last_error, content_html,
    updated_at FROM full_text WHERE item_id > ?1 ORDER BY item_id LIMIT ?2";

const OUTBOX: &str = "SELECT seq, event_id, routing_key, body, created_at FROM outbox
    WHERE seq > ?1 ORDER BY seq LIMIT ?2";

const OUTCOMES: &str = "SELECT rowid, at, source_id, outcome FROM fetch_outcomes
    WHERE rowid > ?1 ORDER BY rowid LIMIT ?2";

fn send(out: &Sender<Batch>, batch: Batch) -> Result<(), StoreError> {
    out.blocking_send(batch).map_err(|_| StoreError::BadValue {
        table: "migrate-store",
        key: String::new(),
        column: "batch",
        reason: "the target stopped taking rows".to_owned(),
    })
}

/// Every row of `sql` (no parameters).
fn all<T>(
    conn: &Connection,
    sql: &str,
    read: fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.query_map([], read)?.collect::<Result<Vec<_>, _>>()?)
}

/// The rows of `sql` (`key > ?1 … LIMIT ?2`), batch after batch, to `each`.
fn keyset<T>(
    conn: &Connection,
    sql: &str,
    read: fn(&Row<'_>) -> rusqlite::Result<T>,
    key: fn(&T) -> String,
    mut each: impl FnMut(Vec<T>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut after = String::new();
    loop {
        let mut stmt = conn.prepare_cached(sql)?;
        let batch = stmt
            .query_map(params![after, BATCH as i64], read)?
            .collect::<Result<Vec<_>, _>>()?;
        let Some(last) = batch.last() else {
            return Ok(());
        };
        after = key(last);
        each(batch)?;
    }
}

fn source_row(row: &Row<'_>) -> rusqlite::Result<SourceRow> {
    Ok(SourceRow {
        id: row.get(0)?,
        url: row.get(1)?,
        etag: row.get(2)?,
        last_modified: row.get(3)?,
        permanent_url: row.get(4)?,
        last_attempt: row.get(5)?,
        last_success: row.get(6)?,
        last_error: row.get(7)?,
        consecutive_failures: row.get(8)?,
        failing_since: row.get(9)?,
        gone: row.get(10)?,
        next_poll: row.get(11)?,
        page_baseline: row.get(12)?,
        warning: row.get(13)?,
        not_followed: row.get(14)?,
    })
}

fn item_row(row: &Row<'_>) -> rusqlite::Result<ItemRow> {
    Ok(ItemRow {
        id: row.get(0)?,
        source_id: row.get(1)?,
        source_name: row.get(2)?,
        source_url: row.get(3)?,
        guid: row.get(4)?,
        url: row.get(5)?,
        title: row.get(6)?,
        summary: row.get(7)?,
        content_html: row.get(8)?,
        authors: row.get(9)?,
        categories: row.get(10)?,
        language: row.get(11)?,
        published: row.get(12)?,
        published_from_source: row.get(13)?,
        updated: row.get(14)?,
        first_seen: row.get(15)?,
        last_seen: row.get(16)?,
        revision: row.get(17)?,
        content_hash: row.get(18)?,
        dedup: DedupColumns {
            link: row.get(19)?,
            guid: row.get(20)?,
            title: row.get(21)?,
            signature: row.get(22)?,
            duplicate_of: row.get(23)?,
            duplicate_source: row.get(24)?,
            duplicate_reason: row.get(25)?,
        },
    })
}

fn revision_row(row: &Row<'_>) -> rusqlite::Result<RevisionRow> {
    Ok(RevisionRow {
        item_id: row.get(0)?,
        revision: row.get(1)?,
        content_hash: row.get(2)?,
        title: row.get(3)?,
        url: row.get(4)?,
        content_html: row.get(5)?,
        recorded_at: row.get(6)?,
    })
}

fn retired_row(row: &Row<'_>) -> rusqlite::Result<RetiredRow> {
    Ok(RetiredRow {
        id: row.get(0)?,
        source_id: row.get(1)?,
        retired_at: row.get(2)?,
        last_seen: row.get(3)?,
    })
}

fn outbox_row(row: &Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        seq: row.get(0)?,
        event_id: row.get(1)?,
        routing_key: row.get(2)?,
        body: row.get(3)?,
        created_at: row.get(4)?,
    })
}

fn full_text_row(row: &Row<'_>) -> rusqlite::Result<FullTextRow> {
    Ok(FullTextRow {
        item_id: row.get(0)?,
        source_id: row.get(1)?,
        state: row.get(2)?,
        failures: row.get(3)?,
        last_error: row.get(4)?,
        content_html: row.get(5)?,
        updated_at: row.get(6)?,
    })
}
