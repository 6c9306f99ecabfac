//! Removing confirmed rows from the outbox, and what the publisher does when
//! the store cannot.
//!
//! A row the broker acked leaves the outbox here. When the store cannot
//! write (a full disk, a read-only or broken file system), the removal fails;
//! sending on would only pile up more rows that cannot be removed, and ending
//! the session would send every one of them again from the lowest pending
//! seq. So the acked seqs are kept, the publisher stops taking new rows, keeps
//! its connection, and retries the removal with backoff until the store
//! writes again. Nothing is sent twice because of it, except what a restart
//! meanwhile must send again (at-least-once allows that; it is logged).
//!
//! [`Acked`] outlives a session: the supervisor hands it from one session to
//! the next, so a reconnection in the middle of a store outage does not send
//! the acked rows again either.

use super::PublisherStats;
use super::backoff::Backoff;
use crate::error::error_chain;
use crate::store::Store;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

/// Seqs the broker acked that the outbox still holds, and the episode of
/// failed removals, if one is on.
#[derive(Debug)]
pub(super) struct Acked {
    seqs: Vec<i64>,
    trouble: Option<Trouble>,
    backoff: Backoff,
}

/// An episode of failed removals.
#[derive(Debug)]
struct Trouble {
    since: Instant,
    /// When the next removal is tried.
    retry_at: Instant,
    attempts: u64,
}

impl Acked {
    /// Nothing acked yet; failed removals are retried at most `max_pause` apart.
    pub(super) fn new(max_pause: Duration) -> Acked {
        Acked {
            seqs: Vec::new(),
            trouble: None,
            backoff: Backoff::new(max_pause),
        }
    }

    /// Records that the broker acked row `seq`.
    pub(super) fn push(&mut self, seq: i64) {
        self.seqs.push(seq);
    }

    /// Whether removals fail, so no new row may be sent.
    pub(super) fn held(&self) -> bool {
        self.trouble.is_some()
    }

    /// When the next removal is due, while removals fail.
    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.trouble.as_ref().map(|t| t.retry_at)
    }

    /// Removes the acked rows from the outbox, unless a failed removal's
    /// pause is still running. Never fails: a failure holds publishing (see
    /// [`Acked::held`]) until a later call succeeds.
    pub(super) async fn remove(&mut self, store: &Store, stats: &PublisherStats) {
        if self
            .trouble
            .as_ref()
            .is_some_and(|t| Instant::now() < t.retry_at)
        {
            return;
        }
        self.remove_now(store, stats).await;
    }

    /// Removes the acked rows now, whatever the pause; at shutdown.
    pub(super) async fn remove_now(&mut self, store: &Store, stats: &PublisherStats) {
        // Trouble is only ever on with seqs to remove.
        if self.seqs.is_empty() {
            return;
        }
        let seqs = &self.seqs;
        let count = seqs.len();
        let result = store.outbox_confirmed(seqs).await;
        match result.map_err(|err| error_chain(&err)) {
            Ok(()) => {
                self.seqs.clear();
                if let Some(trouble) = self.trouble.take() {
                    self.backoff.reset();
                    stats.paused.store(false, Ordering::Relaxed);
                    info!(
                        removed = count,
                        attempts = trouble.attempts,
                        paused_for = ?trouble.since.elapsed(),
                        "the store writes again: confirmed messages removed from the outbox; publishing resumes"
                    );
                }
            }
            Err(reason) => {
                let pause = self.backoff.next_delay();
                let now = Instant::now();
                match &mut self.trouble {
                    Some(trouble) => {
                        trouble.retry_at = now + pause;
                        trouble.attempts += 1;
                        debug!(error = %reason, retry_in = ?pause, "removing confirmed messages from the outbox failed again");
                    }
                    None => {
                        // Once per episode: the retries are quiet until it ends.
                        error!(
                            error = %reason,
                            confirmed = count,
                            retry_in = ?pause,
                            "cannot remove confirmed messages from the outbox; publishing is paused, \
                             the connection kept, and the removal retried with backoff until the store writes again"
                        );
                        stats.paused.store(true, Ordering::Relaxed);
                        self.trouble = Some(Trouble {
                            since: now,
                            retry_at: now + pause,
                            attempts: 1,
                        });
                    }
                }
            }
        }
    }

    /// Logs what a stop leaves behind: acked rows still in the outbox are
    /// sent again at the next start.
    pub(super) fn report_left(&self) {
        if !self.seqs.is_empty() {
            warn!(
                confirmed = self.seqs.len(),
                "stopping with confirmed messages the store could not remove; they will be sent again at next start"
            );
        }
    }
}
