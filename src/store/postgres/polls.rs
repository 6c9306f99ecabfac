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
//! (tokio-postgres pipelines the requests of futures polled at once), so a
//! 304 is three round trips: `BEGIN`, the tail, `COMMIT`. The items before
//! it take a few more, whatever their number (see `apply_in`). A poll that
//! stored no item and no outbox row (a 304, a feed with nothing new, a
//! failure) commits without waiting for its WAL flush, see
//! [`commit_quietly`].

use super::Postgres;
use super::full_text::record_full_text;
use super::items::apply_in;
use super::leases::fence_and_release_source;
use super::sources::{mark_gone, record_failure, record_page_yield, record_success};
use crate::store::{PollOutcome, PollRecord, PollRecorded, PollResult, StoreError};
use deadpool_postgres::GenericClient;

impl Postgres {
    pub(super) async fn write_poll(&self, record: &PollRecord) -> Result<PollRecorded, StoreError> {
        let id = record.source.id.as_str();
        let mut conn = self.conn().await?;
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
