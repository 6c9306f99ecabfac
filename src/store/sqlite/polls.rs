//! A finished poll, written whole: its items with their revisions and
//! outbox messages, its page yield, and the source's new state, in one
//! transaction. Nothing of a poll is stored unless all of it is.

use super::Sqlite;
use super::full_text::record_full_text;
use super::items::apply_in;
use super::sources::{mark_gone, record_failure, record_page_yield, record_success};
use crate::store::{PollOutcome, PollRecord, PollRecorded, PollResult, StoreError};
use rusqlite::TransactionBehavior;

impl Sqlite {
    /// The body of [`Store::record_poll`](crate::store::Store::record_poll).
    pub(super) fn write_poll(&self, record: &PollRecord) -> Result<PollRecorded, StoreError> {
        let id = record.source.id.as_str();
        let mut conn = self.writer();
        // IMMEDIATE, as in `apply_items`: the write lock from the start.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
                )?;
                if let Some(page_yield) = page_yield {
                    record_page_yield(&tx, id, &record.url, page_yield)?;
                }
                record_full_text(&tx, id, full_text, record.started)?;
                record_success(
                    &tx,
                    id,
                    &record.url,
                    state,
                    record.next_poll,
                    record.finished,
                )?;
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
                )?;
                if *gone {
                    mark_gone(&tx, id)?;
                }
                PollRecorded {
                    consecutive_failures: failures,
                    failing_since: Some(since),
                    ..PollRecorded::default()
                }
            }
        };
        super::history::record_outcome(&tx, id, record.finished, PollResult::of(&record.outcome))?;
        tx.commit()?;
        drop(conn);
        if recorded.applied.new + recorded.applied.updated > 0 {
            self.notify_changed();
        }
        Ok(recorded)
    }
}
