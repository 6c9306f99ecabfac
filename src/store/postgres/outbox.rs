//! The outbox: messages written in the same transaction as the item they
//! announce, read and deleted by the publisher once the broker confirmed
//! them. A replica deletes only while it holds the publisher lease.

use super::leases::fence_publisher;
use super::{Postgres, col};
use crate::event::OutboundEvent;
use crate::store::{
    OutboxMessage, StoreError, from_stored, from_stored_opt, narrow, sql_limit, to_stored,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

impl Postgres {
    pub(super) async fn read_outbox(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached(
                "SELECT seq, event_id, routing_key, body, created_at FROM outbox
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .await?;
        conn.query(&stmt, &[&after_seq, &sql_limit(limit)])
            .await?
            .iter()
            .map(|row| {
                let seq: i64 = col(row, 0)?;
                Ok(OutboxMessage {
                    seq,
                    event_id: col(row, 1)?,
                    routing_key: col(row, 2)?,
                    body: col(row, 3)?,
                    created_at: from_stored(
                        col(row, 4)?,
                        "outbox",
                        &seq.to_string(),
                        "created_at",
                    )?,
                })
            })
            .collect()
    }

    /// Deletes confirmed rows; under the publisher lease this store holds,
    /// checked in the same transaction, when it holds one (a replica always
    /// does before it publishes; tools and tests need not).
    pub(super) async fn delete_confirmed(&self, seqs: &[i64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        if let Some(held) = self.publisher_held() {
            fence_publisher(&tx, &held, "the outbox").await?;
        }
        let stmt = tx
            .prepare_cached("DELETE FROM outbox WHERE seq = ANY($1)")
            .await?;
        tx.execute(&stmt, &[&seqs]).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn read_outbox_depth(
        &self,
    ) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
        let conn = self.conn().await?;
        let stmt = conn
            .prepare_cached("SELECT COUNT(*), MIN(created_at) FROM outbox")
            .await?;
        let row = conn.query_one(&stmt, &[]).await?;
        Ok((
            narrow(col(&row, 0)?, "outbox", "*", "count")?,
            from_stored_opt(col(&row, 1)?, "outbox", "*", "created_at")?,
        ))
    }
}

/// The advisory lock that orders the outbox's writers ("lwoutbox" in ASCII).
const WRITERS_LOCK: i64 = 0x6c77_6f75_7462_6f78;

/// Queues `events`, in their order, inside the caller's transaction, after
/// taking the lock that lets one transaction at a time write outbox rows,
/// held until the transaction ends. Both go to the server at once: the
/// statements are prepared first, so the lock's request is sent first, and
/// the server runs a connection's requests in the order they came. The
/// rows take their seqs in the order of the list.
///
/// The publisher reads the outbox in pages, `seq > the last seq it read`.
/// Seqs are handed out when a row is inserted, but rows become visible when
/// their transaction commits: two writers at once (several replicas, or one
/// replica's concurrent polls) could commit seq 11 before seq 10, and a
/// publisher that read 11 would never read 10. Under this lock the seqs are
/// handed out in commit order, as SQLite's one writer hands them out. A
/// transaction holds it only from its first outbox row to its commit.
pub(super) async fn enqueue_all(
    tx: &impl GenericClient,
    events: &[OutboundEvent],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let lock = tx
        .prepare_cached("SELECT pg_advisory_xact_lock($1)")
        .await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO outbox (event_id, routing_key, body, created_at)
             SELECT event_id, routing_key, body, $4
             FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY
                  AS t(event_id, routing_key, body, n)
             ORDER BY n",
        )
        .await?;
    let event_ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    let routing_keys: Vec<&str> = events.iter().map(|e| e.routing_key.as_str()).collect();
    let bodies: Vec<&[u8]> = events.iter().map(|e| e.body.as_slice()).collect();
    let now = to_stored(now);
    let rows: [&(dyn ToSql + Sync); 4] = [&event_ids, &routing_keys, &bodies, &now];
    tokio::try_join!(
        tx.execute(&lock, &[&WRITERS_LOCK]),
        tx.execute(&insert, &rows)
    )?;
    Ok(())
}
