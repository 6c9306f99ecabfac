//! The outbox: messages written in the same transaction as the item they
//! announce, read and deleted by the publisher once the broker confirmed them.

use super::Sqlite;
use crate::event::OutboundEvent;
use crate::store::{
    OutboxMessage, StoreError, from_stored, from_stored_opt, narrow, sql_limit, to_stored,
};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, TransactionBehavior, params};

impl Sqlite {
    pub(super) fn read_outbox(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT seq, event_id, routing_key, body, created_at FROM outbox
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![after_seq, sql_limit(limit)])?;
        let mut messages = Vec::new();
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            messages.push(OutboxMessage {
                seq,
                event_id: row.get(1)?,
                routing_key: row.get(2)?,
                body: row.get(3)?,
                created_at: from_stored(row.get(4)?, "outbox", &seq.to_string(), "created_at")?,
            });
        }
        Ok(messages)
    }

    pub(super) fn delete_confirmed(&self, seqs: &[i64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer();
        // One transaction for the batch: one commit instead of one per message.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut delete = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
            for seq in seqs {
                delete.execute([seq])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn read_outbox_depth(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let conn = self.reader()?;
        let (count, oldest): (i64, Option<i64>) = conn
            .prepare_cached("SELECT COUNT(*), MIN(created_at) FROM outbox")?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok((
            narrow(count, "outbox", "*", "count")?,
            from_stored_opt(oldest, "outbox", "*", "created_at")?,
        ))
    }
}

/// Queues `event` inside the caller's transaction.
pub(super) fn enqueue(
    conn: &Connection,
    event: &OutboundEvent,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO outbox (event_id, routing_key, body, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        event.event_id,
        event.routing_key,
        event.body,
        to_stored(now)
    ])?;
    Ok(())
}
