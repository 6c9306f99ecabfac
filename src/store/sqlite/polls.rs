//! A finished poll, written whole: its items with their revisions and
//! outbox messages, its page yield, and the source's new state, in one
//! transaction. Nothing of a poll is stored unless all of it is.
//!
//! Polls that finish while the writer is busy are committed together
//! (group commit): each [`Store::record_poll`](crate::store::Store::record_poll)
//! queues its record, and one thread at a time, the poll writer, writes
//! every queued poll, up to [`POLLS_PER_COMMIT`], in one transaction, then
//! the next batch, until none is left, handing each poll its own outcome
//! after its commit. A poll that finds the poll writer at work leaves its
//! record to it and waits for its outcome without holding a thread; one
//! that finds none starts it ([`PollQueue::start_writing`]). No poll waits
//! for others to come: a batch is what queued up while the last commit ran,
//! so a quiet store commits each poll at once, and a busy one writes each
//! hot index page (and each full-text segment) once per batch instead of
//! once per poll.
//!
//! A batch is all or nothing, as a poll is: when any poll of it fails, the
//! whole transaction rolls back and each of its polls is written again in a
//! transaction of its own, so one poll's error is its own and never loses
//! or takes another poll's items.

use super::Sqlite;
use super::full_text::record_full_text;
use super::items::apply_in;
use super::search_index::index_pending;
use super::sources::{mark_gone, record_failure, record_page_yield, record_success};
use crate::dedup::Fingerprint;
use crate::item::ItemId;
use crate::store::items::content_hash;
use crate::store::{PollOutcome, PollRecord, PollRecorded, PollResult, StoreError};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use tokio::sync::oneshot;

/// The most polls one transaction writes: bounds how long one commit holds
/// the writer (and keeps the others' results and the feed waiting).
pub(super) const POLLS_PER_COMMIT: usize = 64;

/// The fingerprints (`src/dedup.rs`) of a poll's new and changed items,
/// made before the poll waits for the writer: an item's MinHash and keys
/// are a sizable part of its write, and there is one writer.
pub(super) type Fingerprints = HashMap<ItemId, Fingerprint>;

/// The polls waiting for the writer, in the order they finished.
#[derive(Default)]
pub(super) struct PollQueue {
    waiting: Mutex<VecDeque<Waiting>>,
    /// Whether a poll writer is at work ([`Sqlite::write_waiting_polls`]).
    writing: AtomicBool,
}

/// One poll waiting for the writer, and where its outcome goes.
pub(super) struct Waiting {
    record: PollRecord,
    fingerprints: Fingerprints,
    done: oneshot::Sender<Result<PollRecorded, StoreError>>,
}

impl PollQueue {
    /// Queues `record`; its outcome comes on the returned receiver once a
    /// [`Sqlite::write_waiting_polls`] has committed (or refused) it.
    pub(super) fn push(
        &self,
        record: PollRecord,
        fingerprints: Fingerprints,
    ) -> oneshot::Receiver<Result<PollRecorded, StoreError>> {
        let (done, outcome) = oneshot::channel();
        self.lock().push_back(Waiting {
            record,
            fingerprints,
            done,
        });
        outcome
    }

    /// Whether the caller is to start the poll writer: when none is at
    /// work, it is now the caller's to run.
    ///
    /// The writer stops only after giving up the flag and finding no poll
    /// left (see [`Sqlite::write_waiting_polls`]), so a poll queued by a
    /// caller that finds it taken is written by that writer, or by the next.
    pub(super) fn start_writing(&self) -> bool {
        !self.writing.swap(true, Ordering::SeqCst)
    }

    /// The poll writer found no poll left: gives up the flag, then looks
    /// once more. `true` when a poll queued meanwhile (whose caller found
    /// the flag taken) makes the caller the writer again.
    pub(super) fn stop_writing(&self) -> bool {
        self.writing.store(false, Ordering::SeqCst);
        !self.lock().is_empty() && self.start_writing()
    }

    /// The oldest waiting polls, at most [`POLLS_PER_COMMIT`].
    fn take(&self) -> Vec<Waiting> {
        let mut waiting = self.lock();
        let n = waiting.len().min(POLLS_PER_COMMIT);
        waiting.drain(..n).collect()
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Waiting>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sqlite {
    /// The fingerprints of the items of `record` that are not stored as they
    /// are (new, or changed since), when its source's items are
    /// fingerprinted; read on a reader connection, outside the writer. None
    /// when that read fails: the write then makes them itself.
    pub(super) fn fingerprints_of(&self, record: &PollRecord) -> Fingerprints {
        let PollOutcome::Success { items, .. } = &record.outcome else {
            return Fingerprints::new();
        };
        if !fingerprints_needed(record) {
            return Fingerprints::new();
        }
        let stored_hashes = || -> Result<Vec<Option<String>>, StoreError> {
            let conn = self.reader()?;
            let mut stmt = conn.prepare_cached("SELECT content_hash FROM items WHERE id = ?1")?;
            let mut hashes = Vec::with_capacity(items.len());
            for item in items {
                hashes.push(
                    stmt.query_row([item.id.as_str()], |row| row.get(0))
                        .optional()?,
                );
            }
            Ok(hashes)
        };
        let Ok(hashes) = stored_hashes() else {
            return Fingerprints::new();
        };
        items
            .iter()
            .zip(hashes)
            .filter(|(item, stored)| stored.as_deref() != Some(&*content_hash(item)))
            .map(|(item, _)| (item.id.clone(), Fingerprint::of(item)))
            .collect()
    }

    /// The poll writer, started by the caller that
    /// [`PollQueue::start_writing`] chose: takes the writer and writes the
    /// polls waiting for it, a batch a transaction, until none is left.
    ///
    /// It gives up the flag before its last look at the queue
    /// ([`PollQueue::stop_writing`]): a poll queued before that look is
    /// written here; one queued after it finds the flag free and starts a
    /// writer of its own. The last batch's outcomes go out only once this
    /// writer has let go of the store, so a caller that closes the store on
    /// its outcome (and opens the file again) finds it closed.
    pub(super) fn write_waiting_polls(self) {
        let last = self.write_until_none_waits();
        drop(self);
        send(last);
    }

    /// The loop of [`Sqlite::write_waiting_polls`]: every batch's outcomes
    /// sent but the last one's, which it returns.
    fn write_until_none_waits(&self) -> Written {
        let polls = &self.inner.polls;
        // A panic (a bug: the store's code does not panic on data) drops
        // its batch's senders, so their callers panic too, and leaves the
        // flag free for the next poll's writer.
        struct FreedOnPanic<'q>(&'q AtomicBool);
        impl Drop for FreedOnPanic<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.store(false, Ordering::SeqCst);
                }
            }
        }
        let _freed = FreedOnPanic(&polls.writing);
        loop {
            let written = self.write_batch();
            // Stops on a batch that leaves none waiting, not on the empty
            // take after it: that batch is the one handed back unsent.
            if (written.is_empty() || polls.lock().is_empty()) && !polls.stop_writing() {
                return written;
            }
            send(written);
        }
    }

    /// Takes the writer and writes the polls waiting for it, in one
    /// transaction: each one's outcome, to send; none when none was waiting.
    fn write_batch(&self) -> Written {
        let mut conn = self.writer();
        let batch = self.inner.polls.take();
        if batch.is_empty() {
            return Vec::new();
        }
        let (records, senders): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|w| ((w.record, w.fingerprints), w.done))
            .unzip();
        let outcomes = if records.len() == 1 {
            vec![self.noted_on(&mut conn, |conn| write_polls(conn, &records).map(single))]
        } else {
            match self.noted_on(&mut conn, |conn| write_polls(conn, &records)) {
                Ok(recorded) => recorded.into_iter().map(Ok).collect(),
                // One poll's failure (or the commit's) rolled all back:
                // each is written again on its own, for its own outcome.
                Err(_) => records
                    .iter()
                    .map(|record| {
                        self.noted_on(&mut conn, |conn| {
                            write_polls(conn, std::slice::from_ref(record)).map(single)
                        })
                    })
                    .collect(),
            }
        };
        drop(conn);
        let changed = outcomes
            .iter()
            .flatten()
            .any(|r| r.applied.new + r.applied.updated > 0);
        if changed {
            self.notify_changed();
        }
        senders.into_iter().zip(outcomes).collect()
    }
}

/// The outcomes of a batch of polls, each with where it goes.
type Written = Vec<(
    oneshot::Sender<Result<PollRecorded, StoreError>>,
    Result<PollRecorded, StoreError>,
)>;

/// Hands each poll of a batch its outcome.
fn send(written: Written) {
    for (done, outcome) in written {
        // A caller that stopped waiting (its poll was aborted) still had
        // its poll stored whole, or not at all.
        let _ = done.send(outcome);
    }
}

/// Whether `record` has items to fingerprint, which
/// [`Sqlite::fingerprints_of`] reads the store for: none for a 304, a
/// failure, an empty feed, or a source out of dedup.
pub(super) fn fingerprints_needed(record: &PollRecord) -> bool {
    matches!(&record.outcome, PollOutcome::Success { items, .. } if !items.is_empty())
        && record.dedup.fingerprint
}

fn single(mut recorded: Vec<PollRecorded>) -> PollRecorded {
    recorded.pop().unwrap_or_default()
}

/// Writes `records` in one transaction, in order, and commits: all of them,
/// or (on the first error) none.
fn write_polls(
    conn: &mut Connection,
    records: &[(PollRecord, Fingerprints)],
) -> Result<Vec<PollRecorded>, StoreError> {
    // IMMEDIATE, as in `apply_items`: the write lock from the start.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let recorded = records
        .iter()
        .map(|(record, fingerprints)| write_poll(&tx, record, fingerprints))
        .collect::<Result<Vec<_>, _>>()?;
    index_pending(&tx)?;
    tx.commit()?;
    Ok(recorded)
}

/// The body of [`Store::record_poll`](crate::store::Store::record_poll) for
/// one poll, inside the caller's transaction.
fn write_poll(
    tx: &Connection,
    record: &PollRecord,
    fingerprints: &Fingerprints,
) -> Result<PollRecorded, StoreError> {
    let id = record.source.id.as_str();
    let recorded = match &record.outcome {
        PollOutcome::Success {
            state,
            items,
            page_yield,
            full_text,
        } => {
            let applied = apply_in(
                tx,
                &record.source,
                items,
                record.started,
                &record.retention,
                &record.dedup,
                fingerprints,
            )?;
            if let Some(page_yield) = page_yield {
                record_page_yield(tx, id, &record.url, page_yield)?;
            }
            record_full_text(tx, id, full_text, record.started)?;
            record_success(
                tx,
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
                tx,
                id,
                &record.url,
                reason,
                record.next_poll,
                record.finished,
            )?;
            if *gone {
                mark_gone(tx, id)?;
            }
            PollRecorded {
                consecutive_failures: failures,
                failing_since: Some(since),
                ..PollRecorded::default()
            }
        }
    };
    super::history::record_outcome(tx, id, record.finished, PollResult::of(&record.outcome))?;
    Ok(recorded)
}
