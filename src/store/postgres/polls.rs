//! A finished poll, written whole, in one transaction: and only while the
//! lease it ran under is still held (checked with the source's row locked
//! until the commit), which the write then gives back.
//!
//! The lease is checked after the items are written, not before: the row
//! lock is then held only for the transaction's short tail, so that the
//! source's lease renewals (and other replicas' claims) do not wait behind
//! the whole write. A stale writer's items roll back with the refusal.

use super::Postgres;
use super::full_text::record_full_text;
use super::items::apply_in;
use super::leases::{fence_source, release_source};
use super::sources::{mark_gone, record_failure, record_page_yield, record_success};
use crate::store::{PollOutcome, PollRecord, PollRecorded, PollResult, StoreError};

impl Postgres {
    pub(super) async fn write_poll(&self, record: &PollRecord) -> Result<PollRecorded, StoreError> {
        let id = record.source.id.as_str();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        // Dropping `tx` on the fence's error rolls back: a stale writer
        // writes nothing.
        let fence = async |tx: &deadpool_postgres::Transaction<'_>| match &record.lease {
            Some(lease) => fence_source(tx, id, lease).await,
            None => Ok(()),
        };
        // First, before the fence locks the source's row: the outcome's rows
        // are this source's own and lock nothing another writer waits on,
        // and a refused write rolls them back with the rest.
        super::history::record_outcome(&tx, id, record.finished, PollResult::of(&record.outcome))
            .await?;
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
                fence(&tx).await?;
                if let Some(page_yield) = page_yield {
                    record_page_yield(&tx, id, &record.url, page_yield).await?;
                }
                record_full_text(&tx, id, full_text, record.started).await?;
                record_success(
                    &tx,
                    id,
                    &record.url,
                    state,
                    record.next_poll,
                    record.finished,
                )
                .await?;
                PollRecorded {
                    applied,
                    ..PollRecorded::default()
                }
            }
            PollOutcome::Failure { reason, gone } => {
                fence(&tx).await?;
                let (failures, since) = record_failure(
                    &tx,
                    id,
                    &record.url,
                    reason,
                    record.next_poll,
                    record.finished,
                )
                .await?;
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
        if record.lease.is_some() {
            release_source(&tx, id).await?;
        }
        tx.commit().await?;
        if recorded.applied.new + recorded.applied.updated > 0 {
            self.notify_changed();
        }
        Ok(recorded)
    }
}
