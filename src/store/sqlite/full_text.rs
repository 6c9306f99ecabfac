//! What a `full_text = true` source's polls keep per item: whether its
//! article was fetched (and the body the item took), or how often the fetch
//! failed. Written in the poll's transaction; read before the next poll's
//! article fetches and for `/status`.

use super::Sqlite;
use crate::item::ItemId;
use crate::store::{
    FullTextAttempt, FullTextCount, FullTextState, StoreError, full_text, to_stored,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use std::collections::HashMap;

/// Writes a poll's article fetches, inside its transaction.
pub(super) fn record_full_text(
    conn: &Connection,
    source_id: &str,
    attempts: &[FullTextAttempt],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if attempts.is_empty() {
        return Ok(());
    }
    let mut fetched = conn.prepare_cached(
        "INSERT INTO full_text (item_id, source_id, state, failures, last_error, content_html, updated_at)
         VALUES (?1, ?2, 'fetched', 0, NULL, ?3, ?4)
         ON CONFLICT (item_id) DO UPDATE SET
             state = 'fetched', last_error = NULL,
             content_html = excluded.content_html, updated_at = excluded.updated_at",
    )?;
    let mut failed = conn.prepare_cached(
        "INSERT INTO full_text (item_id, source_id, state, failures, last_error, content_html, updated_at)
         VALUES (?1, ?2, ?3, 1, ?4, NULL, ?5)
         ON CONFLICT (item_id) DO UPDATE SET
             state = excluded.state, failures = full_text.failures + 1,
             last_error = excluded.last_error, updated_at = excluded.updated_at",
    )?;
    for attempt in attempts {
        match attempt {
            FullTextAttempt::Fetched {
                item_id,
                content_html,
            } => {
                fetched.execute(params![
                    item_id.as_str(),
                    source_id,
                    content_html.as_deref(),
                    to_stored(now)
                ])?;
            }
            FullTextAttempt::Failed {
                item_id,
                reason,
                last,
            } => {
                failed.execute(params![
                    item_id.as_str(),
                    source_id,
                    full_text::failed_state(*last),
                    reason,
                    to_stored(now)
                ])?;
            }
        }
    }
    Ok(())
}

/// Forgets the article state of items the store no longer holds, inside
/// retention's transaction; an item still waiting for its article (not
/// stored yet) is forgotten only once `cutoff` passed since its last try.
pub(super) fn prune_full_text(
    conn: &Connection,
    cutoff: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM full_text
             WHERE NOT EXISTS (SELECT 1 FROM items WHERE items.id = full_text.item_id)
               AND (state <> 'retrying' OR updated_at < ?1)",
        )?
        .execute([to_stored(cutoff)])?)
}

impl Sqlite {
    pub(super) fn read_full_text_states(
        &self,
        ids: &[ItemId],
    ) -> Result<HashMap<ItemId, FullTextState>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT state, failures, content_html FROM full_text WHERE item_id = ?1",
        )?;
        let mut states = HashMap::new();
        for id in ids {
            let mut rows = stmt.query([id.as_str()])?;
            if let Some(row) = rows.next()? {
                let state: String = row.get(0)?;
                let read = full_text::state_of(id.as_str(), &state, row.get(1)?, row.get(2)?)?;
                states.insert(id.clone(), read);
            }
        }
        Ok(states)
    }

    pub(super) fn read_full_text_counts(&self) -> Result<Vec<FullTextCount>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT source_id, state, COUNT(*) FROM full_text
             GROUP BY source_id, state ORDER BY source_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?;
        full_text::counts_of(rows.map(|row| row.map_err(StoreError::from)))
    }
}
