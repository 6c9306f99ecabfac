//! A finished poll, written whole, in one transaction: and only while the
//! lease it ran under is still held (checked first, with the source's row
//! locked until the commit), which the write then gives back.

use super::Postgres;
use super::items::apply_in;
use super::leases::{fence_source, release_source};
use super::sources::{mark_gone, record_failure, record_page_yield, record_success};
use crate::store::{PollOutcome, PollRecord, PollRecorded, StoreError};

impl Postgres {
    pub(super) async fn write_poll(&self, record: &PollRecord) -> Result<PollRecorded, StoreError> {
        let id = record.source.id.as_str();
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        if let Some(lease) = &record.lease {
            // Dropping `tx` on the error rolls back: a stale writer writes nothing.
            fence_source(&tx, id, lease).await?;
        }
        let recorded = match &record.outcome {
            PollOutcome::Success {
                state,
                items,
                page_yield,
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
                if let Some(page_yield) = page_yield {
                    record_page_yield(&tx, id, &record.url, page_yield).await?;
                }
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
