//! What a `full_text = true` source's polls keep per item, as SQLite's
//! `full_text.rs`: written in the poll's transaction, read before the next
//! poll's article fetches and for `/status`.

use super::{Postgres, col};
use crate::item::ItemId;
use crate::store::{
    FullTextAttempt, FullTextCount, FullTextState, StoreError, full_text, to_stored,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use std::collections::HashMap;

/// Writes a poll's article fetches, inside its transaction.
pub(super) async fn record_full_text(
    conn: &impl GenericClient,
    source_id: &str,
    attempts: &[FullTextAttempt],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if attempts.is_empty() {
        return Ok(());
    }
    let fetched = conn
        .prepare_cached(
            "INSERT INTO full_text (item_id, source_id, state, failures, last_error, content_html, updated_at)
             VALUES ($1, $2, 'fetched', 0, NULL, $3, $4)
             ON CONFLICT (item_id) DO UPDATE SET
                 state = 'fetched', last_error = NULL,
                 content_html = excluded.content_html, updated_at = excluded.updated_at",
        )
        .await?;
    let failed = conn
        .prepare_cached(
            "INSERT INTO full_text (item_id, source_id, state, failures, last_error, content_html, updated_at)
             VALUES ($1, $2, $3, 1, $4, NULL, $5)
             ON CONFLICT (item_id) DO UPDATE SET
                 state = excluded.state, failures = full_text.failures + 1,
                 last_error = excluded.last_error, updated_at = excluded.updated_at",
        )
        .await?;
    let now = to_stored(now);
    for attempt in attempts {
        match attempt {
            FullTextAttempt::Fetched {
                item_id,
                content_html,
            } => {
                conn.execute(
                    &fetched,
                    &[&item_id.as_str(), &source_id, content_html, &now],
                )
                .await?;
            }
            FullTextAttempt::Failed {
                item_id,
                reason,
                last,
            } => {
                let state = full_text::failed_state(*last);
                conn.execute(
                    &failed,
                    &[&item_id.as_str(), &source_id, &state, reason, &now],
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Forgets the article state of items the store no longer holds, inside
/// retention's transaction; an item still waiting for its article (not
/// stored yet) is forgotten only once `cutoff` passed since its last try.
pub(super) async fn prune_full_text(
    conn: &impl GenericClient,
    cutoff: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let stmt = conn
        .prepare_cached(
            "DELETE FROM full_text
             WHERE NOT EXISTS (SELECT 1 FROM items WHERE items.id = full_text.item_id)
               AND (state <> 'retrying' OR updated_at < $1)",
        )
        .await?;
    Ok(conn.execute(&stmt, &[&to_stored(cutoff)]).await?)
}

impl Postgres {
    pub(super) async fn read_full_text_states(
        &self,
        ids: &[ItemId],
    ) -> Result<HashMap<ItemId, FullTextState>, StoreError> {
        let conn = self.conn().await?;
        let asked: Vec<&str> = ids.iter().map(ItemId::as_str).collect();
        let stmt = conn
            .prepare_cached(
                "SELECT item_id, state, failures, content_html FROM full_text
                 WHERE item_id = ANY($1)",
            )
            .await?;
        let mut states = HashMap::new();
        for row in conn.query(&stmt, &[&asked]).await? {
            let id: String = col(&row, 0)?;
            let state: String = col(&row, 1)?;
            let read = full_text::state_of(&id, &state, col(&row, 2)?, col(&row, 3)?)?;
            states.insert(ItemId::from_stored(id), read);
        }
        Ok(states)
    }

    pub(super) async fn read_full_text_counts(&self) -> Result<Vec<FullTextCount>, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT source_id, state, COUNT(*) FROM full_text
                 GROUP BY source_id, state ORDER BY source_id",
            )
            .await?;
        let rows = conn.query(&stmt, &[]).await?;
        full_text::counts_of(
            rows.iter()
                .map(|row| Ok((col(row, 0)?, col(row, 1)?, col(row, 2)?))),
        )
    }
}
