//! A finished poll, written whole, in one transaction: and only while the
//! lease it ran under is still held (checked with the source's row locked
//! until the commit), which the write then gives back.
//!
//! The lease is checked after the items are written, not before: the row
//! lock is then held only for the transaction's short tail, so that the
//! source's lease renewals (and other replicas' claims) do not wait behind
//! the whole write. A stale writer's items roll back with the refusal.
//!
//! The tail (the poll's row in the source's history, the fence, which gives
//! the lease back in the statement that checks it, and the source's new
//! state) is a few statements whose order does not matter: a refused fence
//! rolls them all back. They go to the server together, in one round trip
//! (tokio-postgres pipelines the requests of futures polled at once): the
//! tail, then `COMMIT`, after the items' few round trips (whatever their
//! number, see `apply_in`) and the `BEGIN`. A poll that stored no item and
//! no outbox row (a 304, a feed with nothing new, a failure) commits
//! without waiting for its WAL flush, see [`commit_quietly`].
//!
//! A leased poll that has nothing to store but the source's new state (a
//! 304, or a feed with no items) is one statement instead, so one round
//! trip: [`write_quiet_poll`]'s fence, state, history row and prune, in
//! the implicit transaction of that statement.

use super::full_text::record_full_text;
use super::items::apply_in;
use super::leases::{fence_and_release_source, source_lease_lost};
use super::sources::{mark_gone, record_failure, record_page_yield, record_success};
use super::{DB_NOW, Postgres, col};
use crate::fetch::FetchState;
use crate::store::{
    FETCH_OUTCOMES_KEPT, Lease, PollOutcome, PollRecord, PollRecorded, PollResult, StoreError,
    to_stored,
};
use deadpool_postgres::GenericClient;

impl Postgres {
    pub(super) async fn write_poll(&self, record: &PollRecord) -> Result<PollRecorded, StoreError> {
        let id = record.source.id.as_str();
        let mut conn = self.conn().await?;
        if let (
            Some(lease),
            PollOutcome::Success {
                state,
                items,
                page_yield: None,
                full_text,
            },
        ) = (&record.lease, &record.outcome)
            && items.is_empty()
            && full_text.is_empty()
        {
            write_quiet_poll(&conn, record, lease, state).await?;
            return Ok(PollRecorded::default());
        }
        let tx = conn.transaction().await?;
        // Dropping `tx` on the fence's error rolls back: a stale writer
        // writes nothing.
        let fence = async || match &record.lease {
            Some(lease) => fence_and_release_source(&tx, id, lease).await,
            None => Ok(()),
        };
        // In the tail, ahead of the fence that locks the source's row: the
        // outcome's rows are this source's own and lock nothing another
        // writer waits on, and a refused write rolls them back with the
        // rest.
        let outcome_row = super::history::record_outcome(
            &tx,
            id,
            record.finished,
            PollResult::of(&record.outcome),
        );
        let recorded = match &record.outcome {
            PollOutcome::Success {
                state,
                items,
                page_yield,
                full_text,
            } => {
                let applied = apply_in(
                    &tx,
                    &record.source,
                    items,
                    record.started,
                    &record.retention,
                    &record.dedup,
                    &self.inner.instance,
                )
                .await?;
                let page_yield = async || match page_yield {
                    Some(page_yield) => record_page_yield(&tx, id, &record.url, page_yield).await,
                    None => Ok(()),
                };
                tokio::try_join!(
                    outcome_row,
                    fence(),
                    commit_quietly(&tx, applied.new + applied.updated == 0),
                    page_yield(),
                    record_full_text(&tx, id, full_text, record.started),
                    record_success(
                        &tx,
                        id,
                        &record.url,
                        state,
                        record.next_poll,
                        record.finished,
                    ),
                )?;
                PollRecorded {
                    applied,
                    ..PollRecorded::default()
                }
            }
            PollOutcome::Failure { reason, gone } => {
                let ((), (), (), (failures, since)) = tokio::try_join!(
                    outcome_row,
                    fence(),
                    commit_quietly(&tx, true),
                    record_failure(
                        &tx,
                        id,
                        &record.url,
                        reason,
                        record.next_poll,
                        record.finished,
                    ),
                )?;
                if *gone {
                    mark_gone(&tx, id).await?;
                }
                PollRecorded {
                    consecutive_failures: failures,
                    failing_since: Some(since),
                    ..PollRecorded::default()
                }
            }
        };
        tx.commit().await?;
        if recorded.applied.new + recorded.applied.updated > 0 {
            self.notify_changed();
        }
        Ok(recorded)
    }
}

/// Writes the poll `record` under `lease` that stores nothing but the
/// source's new fetch `state` (and its row in the history), in one
/// statement: the fence (which gives the lease back) and the new state in
/// one update of the source's row, the history row and its prune only when
/// that update found the lease held, and `synchronous_commit` off for the
/// statement's own transaction, as [`commit_quietly`] and the claim
/// (`leases.rs`) do. A stale lease writes nothing.
async fn write_quiet_poll(
    conn: &impl GenericClient,
    record: &PollRecord,
    lease: &Lease,
    state: &FetchState,
) -> Result<(), StoreError> {
    let id = record.source.id.as_str();
    let stmt = conn
        .prepare_cached(&format!(
            "WITH fenced AS (
                 UPDATE sources SET
                     lease_until = {DB_NOW},
                     url = $4,
                     etag = $5,
                     last_modified = $6,
                     permanent_url = $7,
                     last_attempt = $8,
                     last_success = $8,
                     last_error = NULL,
                     consecutive_failures = 0,
                     failing_since = NULL,
                     gone = FALSE,
                     next_poll = $9
                 WHERE id = $1 AND lease_holder = $2 AND lease_epoch = $3
                   AND lease_until > {DB_NOW}
                 RETURNING id
             ), outcome AS (
                 INSERT INTO fetch_outcomes (at, source_id, outcome)
                 SELECT $10, id, $11 FROM fenced
             ), pruned AS (
                 DELETE FROM fetch_outcomes
                 WHERE source_id = $1 AND at < $12 AND EXISTS (SELECT 1 FROM fenced)
             )
             SELECT EXISTS (SELECT 1 FROM fenced),
                    set_config('synchronous_commit', 'off', true)"
        ))
        .await?;
    let (at, before) = (
        to_stored(record.finished),
        to_stored(record.finished - FETCH_OUTCOMES_KEPT),
    );
    let row = conn
        .query_one(
            &stmt,
            &[
                &id,
                &lease.holder,
                &lease.epoch,
                &record.url,
                &state.etag,
                &state.last_modified,
                &state.permanent_url,
                &at,
                &to_stored(record.next_poll),
                &at,
                &PollResult::of(&record.outcome).as_str(),
                &before,
            ],
        )
        .await?;
    if col::<bool>(&row, 0)? {
        Ok(())
    } else {
        Err(source_lease_lost(id, lease))
    }
}

/// When `quiet` (the transaction stores no item and no outbox row), lets
/// the caller's transaction commit without waiting for its WAL to reach the
/// disk (`synchronous_commit = off` for this transaction only).
///
/// Such a commit is visible to every other session at once, as any other;
/// only a crash of the database server within a moment of it (three times
/// `wal_writer_delay`, 0.6 s by default) can lose it, and what is lost is
/// harmless: the poll's row in the source's history, the source's fetch
/// state (its next poll is a full GET, whose
/// unchanged items write nothing), its next poll time and failure count
/// (it is polled, or retried, sooner), `last_seen` times, and the lease
/// given back (it runs out by itself). An item, a revision or an outbox row
/// is never in such a transaction, and a later synchronous commit flushes
/// the WAL before it, this one's too. Every poll on PostgreSQL is one such
/// commit or one with items, so a 304 cycle waits for no disk flush.
async fn commit_quietly(tx: &impl GenericClient, quiet: bool) -> Result<(), StoreError> {
    if quiet {
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .await?;
    }
    Ok(())
}
